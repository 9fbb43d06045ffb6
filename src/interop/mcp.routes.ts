import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode as McpErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool as McpTool,
} from '@modelcontextprotocol/sdk/types.js';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type RegistryContext } from '../context.types.js';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { executionCallerOf, ExecutionStatus } from '../modules/execution/index.js';
import { type Tool } from '../modules/tool/index.js';
import { type InteropDependencies, requireExecutor } from './bearer.js';
import { executableTools } from './executable-tools.js';

/** Tools per `tools/list` page. */
const PAGE_SIZE = 100;
const SERVER_INFO = { name: 'tool-registry', version: '1.0.0' };

/** The MCP description of a registry tool: its name, description and input schema. */
function mcpTool(tool: Tool): McpTool {
  const inputs = tool.inputs && typeof tool.inputs === 'object' ? tool.inputs : {};
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: { type: 'object', ...inputs } as McpTool['inputSchema'],
    ...(tool.outputs && (tool.outputs as { type?: unknown }).type === 'object' ? { outputSchema: tool.outputs as McpTool['outputSchema'] } : {}),
  };
}

/** The MCP answer to an execution: its result as text (and structured content), or a tool error. */
function callResult(status: ExecutionStatus, result: unknown, error: { code: string; message: string } | null | undefined): CallToolResult {
  if (status !== ExecutionStatus.SUCCEEDED) {
    return { isError: true, content: [{ type: 'text', text: `${error?.code ?? status}: ${error?.message ?? status}` }] };
  }
  const text = typeof result === 'string' ? result : JSON.stringify(result ?? null);
  const structured = result !== null && typeof result === 'object' && !Array.isArray(result) ? { structuredContent: result as Record<string, unknown> } : {};
  return { content: [{ type: 'text', text }], ...structured };
}

/** A database outage as a JSON-RPC error coded UNAVAILABLE (with `retryAfterSeconds`); anything else as it is. */
function retryable(error: unknown): unknown {
  if (error instanceof RegistryError || !isDatabaseUnavailable(error)) return error;
  return new McpError(McpErrorCode.InternalError, DATABASE_UNAVAILABLE_MESSAGE, { code: ErrorCode.UNAVAILABLE, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS });
}

/** An MCP server for one request and caller: it lists and calls exactly the tools the caller may execute. */
function serverFor(ctx: RegistryContext): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const page = await executableTools(ctx, PAGE_SIZE, request.params?.cursor ?? null).catch((error: unknown) => {
      if (error instanceof RegistryError && error.code === ErrorCode.INVALID_CURSOR) throw new McpError(McpErrorCode.InvalidParams, 'Invalid cursor');
      throw retryable(error);
    });
    return {
      tools: page.edges.map((edge) => mcpTool(edge.node)),
      ...(page.pageInfo.hasNextPage && page.pageInfo.endCursor ? { nextCursor: page.pageInfo.endCursor } : {}),
    };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    try {
      const execution = await ctx.runtime.execute(executionCallerOf(ctx), { tool: request.params.name, arguments: request.params.arguments ?? {} });
      return callResult(execution.status, execution.result, execution.error);
    } catch (error) {
      if (error instanceof RegistryError && (error.code === ErrorCode.NOT_FOUND || error.code === ErrorCode.BAD_USER_INPUT)) {
        throw new McpError(McpErrorCode.InvalidParams, error.code === ErrorCode.NOT_FOUND ? `Unknown tool: ${request.params.name}` : error.message);
      }
      throw retryable(error);
    }
  });
  return server;
}

/**
 * `/mcp`: the registry as an MCP server over streamable HTTP (stateless: a server per request, so
 * any replica answers any request). The bearer token authenticates every request; without one, or
 * without `tools:execute`, the answer is 401/403 with a `WWW-Authenticate` header pointing at the
 * protected-resource metadata (`/.well-known/oauth-protected-resource`, RFC 9728), which names the
 * registry as the authorization server. A token whose `aud` does not include `/mcp` is refused (401).
 */
export async function mcpRoutes(app: FastifyInstance, deps: InteropDependencies): Promise<void> {
  const metadataPath = '/.well-known/oauth-protected-resource';
  const challenge = (request: FastifyRequest, extra = '') =>
    `Bearer resource_metadata="${deps.origin(request)}${metadataPath}/mcp"${extra}`;

  // The protected-resource and authorization-server metadata are served by src/security/authorize.routes.ts.

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const checked = await requireExecutor(request, deps.authenticate);
    if (!('viewer' in checked)) {
      return reply
        .status(checked.status)
        .header('www-authenticate', challenge(request, checked.challenge.map((c) => `, ${c}`).join('')))
        .send({ jsonrpc: '2.0', id: null, error: { code: -32001, message: checked.message, data: { code: checked.code } } });
    }
    const { viewer } = checked;
    if (request.method !== 'POST') {
      // Stateless: no standalone notification stream and no session to end.
      return reply.status(405).header('allow', 'POST').send({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method not allowed' } });
    }
    const server = serverFor(deps.context(request, viewer));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, request.body);
  };
  app.route({ url: '/mcp', method: ['GET', 'POST', 'DELETE'], handler: handle });
}
