import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode as McpErrorCode, McpError, type Tool as McpTool, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { hostOf, isObject } from '../discovery/discovery.document.js';
import { withWorkingDirectory } from '../discovery/discovery.process.js';
import {
  mcpEgressFetch,
  type McpFetchLimits,
  mcpHttpTransport,
  type McpServerPlan,
  mcpStdioTransport,
  mcpToolName,
  planMcpServer,
  safeText,
} from '../discovery/mcp.discoverer.js';
import { ErrorCode, RegistryError } from '../errors.js';
import type { EgressPolicy } from '../security/egress.js';
import { tlsPinsOf } from '../security/tls-pins.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import { jsonOrText, redact } from './http.request.js';

const CLIENT_INFO = { name: 'tool-registry', version: '1.0.0' };
/** Connected sessions kept at most; past this the least recently used idle one is closed. */
const MAX_SESSIONS = 32;
/** A session unused for this long is closed. */
const IDLE_MS = 5 * 60_000;
/** Room for the JSON-RPC envelope (and SSE framing) around a result of `maxBytes`, on the wire. */
const WIRE_OVERHEAD = 64 * 1024;
/** Least time given to one HTTP exchange, so a cancellation notice still goes out at the deadline. */
const MIN_FETCH_MS = 1_000;
/** Time given to the session-ending DELETE of an HTTP session. */
const CLOSE_MS = 2_000;
/** `tools/list` pages read at most, against servers that never stop paginating. */
const MAX_PAGES = 100;
/** Transport errors remembered per session (to explain a failed call). */
const MAX_FAILURES = 20;

/** One connected MCP client, shared by every call with the same server configuration. */
interface Session {
  key: string;
  plan: McpServerPlan;
  client: Client;
  connected: Promise<void>;
  closed: boolean;
  /** Whether the pool holds it; an unpooled session (pool full of busy ones) is closed after its call. */
  pooled: boolean;
  busy: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** The server's tools, listed once (again after `notifications/tools/list_changed`). */
  tools: Promise<McpTool[]> | undefined;
  failures: Array<{ seq: number; error: unknown }>;
  /** Limits of HTTP exchanges outside any call (the DELETE when closing). */
  egress: EgressPolicy;
  close(): Promise<void>;
}

/** What the HTTP exchanges of the call running in this async context may use; read by the session's fetch. */
interface CallScope {
  limits(): McpFetchLimits;
  failures: RegistryError[];
}

const pool = new Map<string, Session>();
/** Every open session, pooled or not, for {@link closeMcpSessions}. */
const live = new Set<Session>();
const callScope = new AsyncLocalStorage<CallScope>();
let failureSeq = 0;

/**
 * `mcp`: calls `tools/call` on the tool's MCP server with the SDK `Client`, as python-utcp's
 * McpCommunicationProtocol.call_tool does, and returns the result: `structuredContent` when the
 * server sent it, else a single text part (parsed as JSON when it is JSON), else the content array.
 *
 * The server is the template's only `config.mcpServers` entry (discovery narrows each tool's template
 * to its server; with several, the one whose name prefixes the tool's). The MCP tool is the one
 * {@link mcpToolName} names as the registry tool's own name (the part after `provider.`), found in the
 * server's `tools/list` (listed once per session) so sanitised names (`get-time` → `calc_get_time`)
 * resolve exactly; a hand-written tool name without the `server_` prefix is matched as is.
 *
 * Sessions are reused: a bounded pool (least recently used idle session closed past
 * {@link MAX_SESSIONS}) of connected clients keyed by a hash of the server configuration (stdio:
 * executable, args, env and message cap; HTTP: URL and headers), each closed after {@link IDLE_MS}
 * unused (unref'd timers) or by {@link closeMcpSessions}; a session whose process exited is replaced
 * by the next call, and a call an HTTP server refuses with 404 (session expired) is retried once on a
 * new session. Every call still passes the checks: stdio servers run only allow-listed executables
 * with the scrubbed environment in a private working directory (as discovery, whose planning this
 * reuses); HTTP servers are reached only through the egress guard with this call's policy, each
 * exchange capped at `maxBytes` plus room for the envelope, and no standalone notification stream.
 *
 * Differences from the reference: tool names are `server_tool` (registry names allow no `.`);
 * `isError: true` is a failure (EXECUTION_FAILED with the text, redacted and truncated), not a
 * result; structured content is returned as sent (no unwrapping of FastMCP's `{"result": …}`), text
 * is parsed only when the whole text is JSON (no number guessing), and several content parts are
 * returned unchanged; `resource_` tools, the template's `auth` (credentials reach servers as
 * substituted `headers`/`env`) and the `sse` transport are not supported; the pool is bounded and
 * idle sessions close.
 *
 * Throws EGRESS_DENIED (URL refused, or command not allow-listed: `command_not_allowed`),
 * UPSTREAM_TIMEOUT (the whole call, connection included, exceeded `timeoutMs`), UPSTREAM_TOO_LARGE
 * (the result, serialized, exceeds `maxBytes`), UPSTREAM_UNAVAILABLE (cannot start or reach the
 * server, connection closed, HTTP status from the transport, cancelled: `cancelled: true`), or
 * EXECUTION_FAILED (`tool_error`, `unknown_tool`, `protocol_error`, `invalid_template`). Messages
 * never hold header or env values, URLs' paths or queries, or stderr.
 */
export const executeMcp: Executor = async (request) => {
  const deadline = Date.now() + request.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  if (request.signal?.aborted) throw cancelled(request);
  const plan = await within(planServer(request), request, deadline, 'The MCP server');
  const where = serverLabel(plan);
  const ownName = request.toolName.slice(request.toolName.indexOf('.') + 1);
  const secrets = secretValues(plan);
  const scope: CallScope = {
    limits: () => ({ egress: request.egress, maxBytes: wireCap(request.maxBytes), timeoutMs: Math.max(remaining(), MIN_FETCH_MS) }),
    failures: [],
  };

  for (let attempt = 0; ; attempt++) {
    const { session, reused } = acquire(plan, request, scope, remaining);
    const since = failureSeq;
    try {
      await within(session.connected, request, deadline, where);
      const name = await callScope.run(scope, () => resolveToolName(session, ownName, request, deadline, where));
      const result = (await callScope.run(scope, () =>
        session.client.callTool({ name, arguments: request.arguments }, undefined, {
          timeout: remaining(),
          maxTotalTimeout: remaining(),
          ...(request.signal ? { signal: request.signal } : {}),
        }),
      )) as Record<string, unknown>;
      return outcome(result, request, plan, secrets);
    } catch (error) {
      if (attempt === 0 && reused && isStaleSession(error)) {
        void session.close();
        continue;
      }
      throw translate(error, { session, since, scope, request, where, secrets });
    } finally {
      release(session);
    }
  }
};

/** Closes every MCP session (ends stdio server processes, ends HTTP sessions); for shutdown. */
export async function closeMcpSessions(): Promise<void> {
  const sessions = [...live];
  pool.clear();
  await Promise.all(sessions.map((session) => session.close()));
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/** The template's server, planned as discovery plans it, with discovery's refusals recoded. */
async function planServer(request: ExecutionRequest): Promise<McpServerPlan> {
  const config = request.callTemplate.config;
  const servers = isObject(config) && isObject(config.mcpServers) ? Object.entries(config.mcpServers) : [];
  if (servers.length === 0) throw invalidTemplate(request, 'it needs a server in `config.mcpServers`');
  let chosen = servers[0]!;
  if (servers.length > 1) {
    const ownName = request.toolName.slice(request.toolName.indexOf('.') + 1);
    const matching = servers.filter(([name]) => ownName.startsWith(mcpToolName(name, '')));
    if (matching.length === 0) throw invalidTemplate(request, 'it names several servers in `config.mcpServers` and none whose name prefixes the tool name');
    chosen = matching.reduce((best, candidate) => (candidate[0].length > best[0].length ? candidate : best));
  }
  const [name, entry] = chosen;
  try {
    return await planMcpServer(name, entry, { egress: request.egress, cliAllow: [...request.cliAllow], timeoutMs: request.timeoutMs, maxBytes: request.maxBytes }, []);
  } catch (error) {
    if (!(error instanceof RegistryError)) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `MCP server "${name}" could not be prepared`, { server: name });
    if (error.code !== ErrorCode.DISCOVERY_FAILED) throw error;
    const reason = error.extensions.reason;
    const command = error.extensions.command;
    if (reason === 'command_not_allowed') {
      throw new RegistryError(
        ErrorCode.EGRESS_DENIED,
        `The command "${String(command)}" of MCP server "${name}" is not allow-listed; an operator must add it (by name or absolute path) to the CLI allow-list`,
        { reason, command, server: name },
      );
    }
    if (reason === 'not_found') {
      throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The command "${String(command)}" of MCP server "${name}" was not found or is not executable`, {
        reason,
        command,
        server: name,
      });
    }
    throw new RegistryError(ErrorCode.EXECUTION_FAILED, error.message, { reason: 'invalid_template', server: name });
  }
}

/**
 * The MCP tool the registry tool `ownName` stands for: the first listed tool that {@link mcpToolName}
 * names `ownName` (as discovery named it), else one whose own name is `ownName` as is, or sanitised.
 * A stale list is refreshed once before the tool is declared unknown; a server that cannot list its
 * tools is called with `ownName` minus the `server_` prefix.
 */
async function resolveToolName(session: Session, ownName: string, request: ExecutionRequest, deadline: number, where: string): Promise<string> {
  const server = session.plan.name;
  const prefix = mcpToolName(server, '');
  const find = (tools: McpTool[]) =>
    tools.find((tool) => mcpToolName(server, tool.name) === ownName) ??
    tools.find((tool) => tool.name === ownName) ??
    tools.find((tool) => sanitise(tool.name) === ownName);
  for (let fresh = false; ; fresh = true) {
    const cached = session.tools !== undefined;
    // Shared by concurrent calls, so it runs without this call's cancellation signal; each waits with its own.
    session.tools ??= listTools(session.client, Math.max(1, deadline - Date.now()));
    const listing = session.tools;
    let tools: McpTool[];
    try {
      tools = await within(listing, request, deadline, where);
    } catch (error) {
      if (session.tools === listing) session.tools = undefined;
      if (error instanceof McpError && error.code === McpErrorCode.MethodNotFound) return ownName.startsWith(prefix) ? ownName.slice(prefix.length) : ownName;
      throw error;
    }
    const tool = find(tools);
    if (tool) return tool.name;
    if (fresh || !cached) {
      throw new RegistryError(ErrorCode.EXECUTION_FAILED, `${where} offers no tool named "${ownName}" (tool "${request.toolName}")`, {
        reason: 'unknown_tool',
        server,
      });
    }
    if (session.tools === listing) session.tools = undefined;
  }
}

async function listTools(client: Client, timeoutMs: number): Promise<McpTool[]> {
  const deadline = Date.now() + timeoutMs;
  const tools: McpTool[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: Math.max(1, deadline - Date.now()) });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined && ++pages < MAX_PAGES);
  return tools;
}

function sanitise(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/** The pooled session for this server (moved to most recently used), or a new one; marked busy. */
function acquire(plan: McpServerPlan, request: ExecutionRequest, scope: CallScope, remaining: () => number): { session: Session; reused: boolean } {
  const key = sessionKey(plan, request.maxBytes, tlsPinsOf(request.egress) ?? []);
  let session = pool.get(key);
  const reused = session !== undefined;
  if (session) {
    pool.delete(key);
    pool.set(key, session);
  } else {
    session = openSession(key, plan, request, scope, remaining());
    if (pool.size >= MAX_SESSIONS) evictIdle();
    session.pooled = pool.size < MAX_SESSIONS;
    if (session.pooled) pool.set(key, session);
  }
  session.busy++;
  clearTimeout(session.idleTimer);
  session.idleTimer = undefined;
  return { session, reused };
}

function release(session: Session): void {
  session.busy--;
  if (session.busy > 0 || session.closed) return;
  if (!session.pooled) {
    void session.close();
    return;
  }
  session.idleTimer = setTimeout(() => void session.close(), IDLE_MS);
  session.idleTimer.unref();
}

/** Closes the least recently used session that no call is using, if any. */
function evictIdle(): void {
  for (const session of pool.values()) {
    if (session.busy === 0) {
      void session.close();
      return;
    }
  }
}

/**
 * Connects a new session (in the background; calls wait on `connected`). The initialization's HTTP
 * exchanges run with the opening call's egress policy and time, but not its cancellation signal:
 * other calls may be waiting for the same session.
 */
function openSession(key: string, plan: McpServerPlan, request: ExecutionRequest, opener: CallScope, timeoutMs: number): Session {
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  let releaseDirectory: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  const session: Session = {
    key,
    plan,
    client,
    connected: Promise.resolve(),
    closed: false,
    pooled: true,
    busy: 0,
    idleTimer: undefined,
    tools: undefined,
    failures: [],
    egress: request.egress,
    close: () => {
      closing ??= (async () => {
        session.closed = true;
        clearTimeout(session.idleTimer);
        if (pool.get(key) === session) pool.delete(key);
        live.delete(session);
        const transport = client.transport;
        if (transport && 'terminateSession' in transport && typeof transport.terminateSession === 'function') {
          const limits = { egress: session.egress, maxBytes: WIRE_OVERHEAD, timeoutMs: CLOSE_MS };
          await callScope.run({ limits: () => limits, failures: [] }, () => (transport.terminateSession as () => Promise<void>)()).catch(() => {});
        }
        await client.close().catch(() => {});
        releaseDirectory?.();
      })();
      return closing;
    },
  };
  live.add(session);
  client.onerror = (error) => {
    session.failures.push({ seq: ++failureSeq, error });
    if (session.failures.length > MAX_FAILURES) session.failures.shift();
  };
  client.onclose = () => void session.close();
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    session.tools = undefined;
  });

  const connect = (transport: Transport) => callScope.run(opener, () => client.connect(transport, { timeout: timeoutMs }));
  session.connected = (async () => {
    if (plan.kind === 'stdio') {
      const cwd = await privateDirectory((release) => (releaseDirectory = release));
      if (session.closed) {
        releaseDirectory?.();
        throw new McpError(McpErrorCode.ConnectionClosed, 'Connection closed');
      }
      await connect(mcpStdioTransport(plan, cwd, wireCap(request.maxBytes)));
    } else {
      await connect(mcpHttpTransport(plan, sessionFetch(session)));
    }
  })();
  session.connected.catch(() => void session.close());
  return session;
}

/**
 * A fresh private working directory (also the server's `HOME`) that lives until `onRelease`'s
 * callback is called, made and removed by discovery's {@link withWorkingDirectory}.
 */
function privateDirectory(onRelease: (release: () => void) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    withWorkingDirectory(
      (dir) =>
        new Promise<void>((done) => {
          onRelease(done);
          resolve(dir);
        }),
    ).catch(reject);
  });
}

/**
 * The session's fetch: through the egress guard with the limits of the call running in this async
 * context. GET (the standalone notification stream) is answered 405 locally: nothing here listens
 * for server-initiated messages, and boundedFetch reads whole bodies, which such a stream never ends.
 */
function sessionFetch(session: Session): FetchLike {
  const fallback = (): McpFetchLimits => ({ egress: session.egress, maxBytes: WIRE_OVERHEAD, timeoutMs: CLOSE_MS });
  const fetch = mcpEgressFetch(
    () => callScope.getStore()?.limits() ?? fallback(),
    (error) => {
      const scope = callScope.getStore();
      if (scope) scope.failures.push(error);
      else session.client.onerror?.(error);
    },
  );
  return (url, init) => ((init?.method ?? 'GET').toUpperCase() === 'GET' ? Promise.resolve(new Response(null, { status: 405 })) : fetch(url, init));
}

/** Sessions are shared between calls whose server configuration is the same, secrets included (hashed). */
function sessionKey(plan: McpServerPlan, maxBytes: number, tlsPins: readonly string[]): string {
  const identity =
    plan.kind === 'stdio'
      ? ['stdio', plan.executable, plan.args, sortedEntries(plan.variables), wireCap(maxBytes)]
      : ['http', plan.url, tlsPins, sortedEntries(Object.fromEntries(Object.entries(plan.headers).map(([name, value]) => [name.toLowerCase(), value])))];
  return createHash('sha256').update(JSON.stringify(identity)).digest('base64url');
}

function sortedEntries(record: Record<string, string>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Largest message accepted on the wire for a result of at most `maxBytes`. */
function wireCap(maxBytes: number): number {
  return maxBytes + WIRE_OVERHEAD;
}

/**
 * Whether a call failed because its reused session had died before the request reached the server,
 * so a new session may safely send it again: an HTTP 404 (the server ended the session) or a
 * transport that is no longer connected.
 */
function isStaleSession(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) return error.code === 404;
  return error instanceof Error && !(error instanceof McpError) && !(error instanceof RegistryError) && error.message === 'Not connected';
}

// ---------------------------------------------------------------------------------------------
// Results and errors
// ---------------------------------------------------------------------------------------------

function outcome(result: Record<string, unknown>, request: ExecutionRequest, plan: McpServerPlan, secrets: string[]): ExecutionOutcome {
  const where = serverLabel(plan);
  if (result.isError === true) {
    const text = Array.isArray(result.content)
      ? result.content
          .filter((part): part is { type: 'text'; text: string } => isObject(part) && part.type === 'text' && typeof part.text === 'string')
          .map((part) => part.text)
          .join(' ')
      : '';
    const excerpt = safeText(redact(text, secrets)).trim();
    throw new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" failed: ${where} answered with an error${excerpt ? `: ${excerpt}` : ''}`, {
      reason: 'tool_error',
      server: plan.name,
    });
  }
  const bytes = Buffer.byteLength(JSON.stringify(result), 'utf8');
  if (bytes > request.maxBytes) {
    throw new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `${where} answered "${request.toolName}" with ${bytes} bytes, more than ${request.maxBytes}`, {
      maxBytes: request.maxBytes,
      server: plan.name,
    });
  }
  return { result: resultValue(result), bytes };
}

/** structuredContent when present; else a single text part (JSON-parsed when it is JSON); else the content. */
function resultValue(result: Record<string, unknown>): unknown {
  if (result.structuredContent !== undefined) return result.structuredContent;
  const { content } = result;
  if (Array.isArray(content)) {
    const [only] = content;
    if (content.length === 1 && isObject(only) && only.type === 'text' && typeof only.text === 'string') return jsonOrText(only.text);
    return content;
  }
  // Servers of protocol version 2024-10-07 answer with `toolResult`.
  if ('toolResult' in result) return result.toolResult;
  return content ?? null;
}

interface FailureContext {
  session: Session;
  since: number;
  scope: CallScope;
  request: ExecutionRequest;
  where: string;
  secrets: string[];
}

/** The coded error a failed call ends with; texts from the server are redacted and shortened. */
function translate(error: unknown, context: FailureContext): RegistryError {
  const { session, since, scope, request, where, secrets } = context;
  const server = session.plan.name;
  const host = session.plan.kind === 'http' ? hostOf(session.plan.url) : undefined;
  if (error instanceof RegistryError) return error;
  if (request.signal?.aborted) return cancelled(request);
  const recorded = session.failures.filter((failure) => failure.seq > since).map((failure) => failure.error);
  const registryFailure = [...scope.failures, ...recorded].find((failure): failure is RegistryError => failure instanceof RegistryError);
  if (registryFailure) return registryFailure;
  if (recorded.some((failure) => failure instanceof Error && /ReadBuffer exceeded maximum size/.test(failure.message))) {
    return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `${where} sent a message larger than ${wireCap(request.maxBytes)} bytes`, {
      maxBytes: request.maxBytes,
      server,
    });
  }
  if (error instanceof McpError) {
    if (error.code === McpErrorCode.RequestTimeout) {
      return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `${where} did not answer "${request.toolName}" within ${request.timeoutMs} ms`, {
        timeoutMs: request.timeoutMs,
        server,
      });
    }
    if (error.code === McpErrorCode.ConnectionClosed) {
      const what = session.plan.kind === 'stdio' ? 'closed its connection (did the process exit?)' : 'closed the connection';
      return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `${where} ${what}`, { server, ...(host ? { host } : {}) });
    }
    return new RegistryError(ErrorCode.EXECUTION_FAILED, `${where} answered "${request.toolName}" with an error: ${safeText(redact(error.message, secrets))}`, {
      reason: 'protocol_error',
      server,
    });
  }
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code >= 300) {
    return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `${where} answered HTTP ${error.code}`, { reason: 'http_status', status: error.code, server, host });
  }
  if (error instanceof Error && error.name === 'ZodError') {
    return new RegistryError(ErrorCode.EXECUTION_FAILED, `${where} answered "${request.toolName}" with a malformed result`, { reason: 'protocol_error', server });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (session.plan.kind === 'stdio' && typeof code === 'string') {
    return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `${where} could not be started (${code})`, { server });
  }
  // Anything else (a transport's own error): its text is not trusted to be free of secrets.
  return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `${where} could not be reached`, { server, ...(host ? { host } : {}) });
}

/** Waits for `promise` until the call's deadline or cancellation. */
function within<T>(promise: Promise<T>, request: ExecutionRequest, deadline: number, where: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `${where} did not answer within ${request.timeoutMs} ms`, { timeoutMs: request.timeoutMs })),
      Math.max(1, deadline - Date.now()),
    );
    const onAbort = () => reject(cancelled(request));
    request.signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
    });
  });
}

/** `MCP server "name"`, with the host for HTTP servers (never the path or query). */
function serverLabel(plan: McpServerPlan): string {
  return plan.kind === 'http' ? `MCP server "${plan.name}" at "${hostOf(plan.url) ?? 'upstream'}"` : `MCP server "${plan.name}"`;
}

/**
 * Values a leaky server might echo into an error text: env values, header values and their words
 * (the token of `Bearer <token>`), and the URL's credentials and query values.
 */
function secretValues(plan: McpServerPlan): string[] {
  const values = plan.kind === 'stdio' ? Object.values(plan.variables) : Object.values(plan.headers);
  const secrets = [...values, ...values.flatMap((value) => value.split(/\s+/).filter((word) => word.length >= 8))];
  if (plan.kind === 'http') {
    const url = URL.parse(plan.url);
    if (url) secrets.push(decodeURIComponent(url.username), decodeURIComponent(url.password), ...url.searchParams.values());
  }
  return secrets.filter((secret) => secret !== '');
}

function cancelled(request: ExecutionRequest): RegistryError {
  return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" was cancelled`, { cancelled: true });
}

function invalidTemplate(request: ExecutionRequest, what: string): RegistryError {
  return new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" has an invalid mcp call template: ${what}`, { reason: 'invalid_template' });
}
