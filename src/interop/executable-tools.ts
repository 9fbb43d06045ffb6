import { type Page } from '../common/pagination.js';
import { type RegistryContext } from '../context.types.js';
import { callerOf } from '../modules/policy/index.js';
import { readFilterOf, type Tool } from '../modules/tool/index.js';

/**
 * A page of the tools the caller may read and execute (their `execute` rules as SQL, on top of the
 * read filter), for the UTCP and MCP endpoints. Throws INVALID_CURSOR / PAGE_SIZE_EXCEEDED.
 */
export async function executableTools(ctx: RegistryContext, first: number, after: string | null): Promise<Page<Tool>> {
  const rules = await ctx.policies.rulesFor(callerOf(ctx.viewer!, ctx.sourceIp), 'execute');
  return ctx.tools.list({ first, after, where: readFilterOf(rules) });
}
