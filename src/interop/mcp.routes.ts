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
import { callerOf, PolicyService } from '../modules/policy/index.js';
import { type CatalogChange, type Tool } from '../modules/tool/index.js';
import { Scope } from '../security/scopes.js';
import { type InteropDependencies, requireExecutor } from './bearer.js';
import { executableTools } from './executable-tools.js';

/** Tools per `tools/list` page. */
const PAGE_SIZE = 100;
const SERVER_INFO = { name: 'tool-registry', version: '1.0.0' };
/** `listChanged`: a client's GET stream hears `notifications/tools/list_changed` (see {@link listChangedStream}). */
const CAPABILITIES = { capabilities: { tools: { listChanged: true } } };

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

/** The `_meta` key of a tool error's stable code (`INVALID_ARGUMENTS`, `OUTPUT_SCHEMA_MISMATCH`, ...). */
export const MCP_ERROR_CODE_META = 'tool-registry/code';
/** The code of a result that does not match the tool's output schema. */
export const OUTPUT_SCHEMA_MISMATCH = 'OUTPUT_SCHEMA_MISMATCH';

/** A tool error: `CODE: message` as text, the code also in `_meta`, plus any further content. */
function toolError(code: string, message: string, ...more: CallToolResult['content']): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }, ...more], _meta: { [MCP_ERROR_CODE_META]: code } };
}

/**
 * The MCP answer to an execution: its result as text (and structured content), or a tool error. A
 * result the registry found not to match the tool's output schema (`outputValid: false`) is a tool
 * error coded OUTPUT_SCHEMA_MISMATCH with the result as text only: as `structuredContent` it would make
 * the client's own output-schema check throw instead of showing the result.
 */
function callResult(status: ExecutionStatus, result: unknown, error: { code: string; message: string } | null | undefined, outputValid?: boolean | null): CallToolResult {
  if (status !== ExecutionStatus.SUCCEEDED) return toolError(error?.code ?? status, error?.message ?? status);
  const text = typeof result === 'string' ? result : JSON.stringify(result ?? null);
  if (outputValid === false) {
    return toolError(OUTPUT_SCHEMA_MISMATCH, "the tool's result does not match its output schema; the result follows as text", { type: 'text', text });
  }
  const structured = result !== null && typeof result === 'object' && !Array.isArray(result) ? { structuredContent: result as Record<string, unknown> } : {};
  return { content: [{ type: 'text', text }], ...structured };
}

/**
 * The standalone SSE stream of a GET to `/mcp`: `notifications/tools/list_changed` whenever a catalog
 * change committed on any replica (the event bus's catalog topic) names a tool the caller may read,
 * and whenever a policy change (the policy topic) changed the rules that decide which tools the
 * caller may read and execute (read anew from the database, not from the process's cache, which
 * may not have heard the change yet). Stateless like the rest of `/mcp`: the stream is a server of
 * its own with no session, and a client re-lists with POSTs to any replica. Each event
 * re-authenticates the request first: once its token expired or was revoked, the stream ends.
 * Without the event bus the answer is 405, which MCP clients take as "no stream". Throws what the
 * first authentication throws unexpectedly.
 */
async function listChangedStream(request: FastifyRequest, reply: FastifyReply, deps: InteropDependencies, ctx: RegistryContext): Promise<void> {
  const stop = new AbortController();
  let batches: AsyncIterable<CatalogChange[]>;
  let policyChanges: AsyncIterable<unknown>;
  let rules: string;
  try {
    [batches, policyChanges] = await Promise.all([ctx.catalogEvents.listen(stop.signal), ctx.catalogEvents.listenForPolicies(stop.signal)]);
  } catch {
    stop.abort();
    return methodNotAllowed(reply, 'Notifications are unavailable: the event bus cannot be reached');
  }
  try {
    rules = await rulesOf(ctx);
  } catch (error) {
    stop.abort();
    throw error;
  }
  const server = new Server(SERVER_INFO, CAPABILITIES);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  const end = () => {
    stop.abort();
    void transport.close();
    void server.close();
  };
  reply.hijack();
  reply.raw.on('close', end);
  await server.connect(transport);
  /** Whether the request still authenticates; ends the stream when not. */
  const stillValid = async () => {
    const still = await requireExecutor(request, deps.authenticate).catch(() => null);
    if (still && 'viewer' in still) return true;
    end();
    return false;
  };
  const follow = (work: () => Promise<void>) =>
    work().catch((error: unknown) => {
      request.log.warn({ err: { message: (error as Error).message } }, 'MCP list_changed stream ended');
      end();
    });
  void follow(async () => {
    for await (const batch of batches) {
      if (!(await stillValid())) return;
      ctx.refresh();
      const readable = await ctx.tools.findReadableByNames(batch.map((change) => change.tool));
      if (readable.length > 0) await server.sendToolListChanged();
    }
  });
  void follow(async () => {
    for await (const _change of policyChanges) {
      if (!(await stillValid())) return;
      const now = await rulesOf(ctx);
      if (now === rules) continue;
      rules = now;
      await server.sendToolListChanged();
    }
  });
  await transport.handleRequest(request.raw, reply.raw);
}

/** The rules that decide which tools the caller may read and execute, as text to compare; read from the database. */
async function rulesOf(ctx: RegistryContext): Promise<string> {
  const policies = new PolicyService(ctx.em.fork());
  const caller = callerOf(ctx.viewer!, ctx.sourceIp);
  return JSON.stringify([await policies.rulesFor(caller, 'read'), await policies.rulesFor(caller, 'execute')]);
}

function methodNotAllowed(reply: FastifyReply, message: string): FastifyReply {
  return reply.status(405).header('allow', 'GET, POST').send({ jsonrpc: '2.0', id: null, error: { code: -32000, message } });
}

/** A database outage as a JSON-RPC error coded UNAVAILABLE (with `retryAfterSeconds`); anything else as it is. */
function retryable(error: unknown): unknown {
  if (error instanceof RegistryError || !isDatabaseUnavailable(error)) return error;
  return new McpError(McpErrorCode.InternalError, DATABASE_UNAVAILABLE_MESSAGE, { code: ErrorCode.UNAVAILABLE, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS });
}

/** An MCP server for one request and caller: it lists and calls exactly the tools the caller may execute. */
function serverFor(ctx: RegistryContext): Server {
  const server = new Server(SERVER_INFO, CAPABILITIES);
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
      return callResult(execution.status, execution.result, execution.error, execution.outputValid);
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
    if (request.method === 'GET') return listChangedStream(request, reply, deps, deps.context(request, viewer));
    // Stateless: no session to end.
    if (request.method !== 'POST') return methodNotAllowed(reply, 'Method not allowed');
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
