import { type RegistryContext } from '../context.types.js';
import { type Tool } from '../modules/tool/index.js';
import { executableTools } from './executable-tools.js';

/** Most tools one manual lists (pages of 100). */
const MAX_MANUAL_TOOLS = 10_000;

/** A UTCP 1.1 manual as the registry serves it. */
export interface RegistryManual {
  utcp_version: '1.1.0';
  manual_version: string;
  tools: Record<string, unknown>[];
}

/**
 * A UTCP 1.1 manual of exactly the tools the caller may execute (at most 10,000), each called
 * through `POST {origin}/tools/{name}/call` with the caller's bearer token as `${REGISTRY_TOKEN}`,
 * a variable the UTCP client resolves in the manual's namespace. Served by `GET /utcp` and the
 * `utcpManual` query.
 */
export async function registryManual(ctx: RegistryContext): Promise<RegistryManual> {
  const tools: Tool[] = [];
  let after: string | null = null;
  do {
    const page = await executableTools(ctx, 100, after);
    tools.push(...page.edges.map((e) => e.node));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after && tools.length < MAX_MANUAL_TOOLS);
  return {
    utcp_version: '1.1.0',
    manual_version: '1.0.0',
    tools: tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      tags: tool.tags,
      inputs: tool.inputs ?? {},
      outputs: tool.outputs ?? {},
      ...(tool.averageResponseSize ? { average_response_size: tool.averageResponseSize } : {}),
      tool_call_template: {
        name: 'registry',
        call_template_type: 'http',
        http_method: 'POST',
        url: `${ctx.origin}/tools/${encodeURIComponent(tool.name)}/call`,
        content_type: 'application/json',
        auth: { auth_type: 'api_key', api_key: 'Bearer ${REGISTRY_TOKEN}', var_name: 'Authorization', location: 'header' },
      },
    })),
  };
}
