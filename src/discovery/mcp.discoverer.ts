import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode as McpErrorCode, McpError, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { assertEgressAllowed, boundedFetch, type EgressPolicy } from '../security/egress.js';
import { discoveryFailed, hostOf, isObject, requestHeaders, stringRecord } from './discovery.document.js';
import { allowedExecutable, processVariables, registryPath, scrubbedEnvironment, withWorkingDirectory } from './discovery.process.js';
import type { DiscoveryContext, DiscoveryOptions, Discoverer, ManualCallTemplate } from './discovery.types.js';

const UTCP_VERSION = '1.1.0';
/** Server names become the first part of tool names (`server_tool`). */
const SERVER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TOOL_NAME = 128;
/** `tools/list` pages read at most per server, against servers that never stop paginating. */
const MAX_PAGES = 100;
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const CLIENT_INFO = { name: 'tool-registry-discovery', version: '1.0.0' };

/** One entry of `config.mcpServers`, checked and resolved: how to reach that server. */
export type McpServerPlan =
  | { name: string; entry: Record<string, unknown>; kind: 'stdio'; executable: string; args: string[]; variables: Record<string, string> }
  | { name: string; entry: Record<string, unknown>; kind: 'http'; url: string; headers: Record<string, string> };

/** What {@link mcpEgressFetch} applies to one request of an MCP HTTP transport. */
export interface McpFetchLimits {
  egress: EgressPolicy;
  /** Largest response body accepted. */
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * `mcp`: as the reference, connects to every server of `config.mcpServers` with the MCP SDK client
 * (`command` + `args` + `env`: stdio; `url` (+ `headers`): streamable HTTP; or an explicit
 * `transport`), lists its tools (following `nextCursor`) and turns each into a UTCP tool named
 * `server_tool` (see {@link mcpToolName}; the registry adds the provider name) with the MCP tool's
 * description and input/output schemas. Each tool's call template is the manual's template narrowed to
 * that tool's server (the reference reuses the whole template), so it names its server and nothing
 * else. Stdio servers must be allow-listed and run with a scrubbed environment in a private working
 * directory (also their `HOME`; an entry's `cwd` is not used); HTTP servers are reached only through
 * the egress guard, each response capped at `maxBytes` (stdio: each message). Every server must answer: one failing fails the discovery.
 */
export const discoverMcp: Discoverer = async (template, context) => {
  const servers = isObject(template.config) ? template.config.mcpServers : undefined;
  if (!isObject(servers) || Object.keys(servers).length === 0) {
    throw discoveryFailed('invalid_template', 'The mcp call template needs at least one server in `config.mcpServers`');
  }
  const warnings: string[] = [];
  if (template.register_resources_as_tools === true) warnings.push('`register_resources_as_tools` is not supported: MCP resources were not listed');

  const plans: McpServerPlan[] = [];
  for (const [name, entry] of Object.entries(servers)) plans.push(await planMcpServer(name, entry, context.options, warnings));

  const tools: Record<string, unknown>[] = [];
  const names = new Map<string, string>();
  for (const server of plans) {
    const listed =
      server.kind === 'stdio'
        ? await withWorkingDirectory((cwd) => listTools(server, context, warnings, () => mcpStdioTransport(server, cwd, context.options.maxBytes)))
        : await listTools(server, context, warnings, (failures) => mcpHttpTransport(server, discoveryFetch(context, failures)));
    for (const tool of listed) {
      const name = mcpToolName(server.name, tool.name);
      const shown = `MCP tool ${JSON.stringify(tool.name.slice(0, 128))} of server "${server.name}"`;
      const taken = names.get(name);
      if (name.length > MAX_TOOL_NAME) {
        warnings.push(`${shown} skipped: its UTCP name would be longer than ${MAX_TOOL_NAME} characters`);
      } else if (taken !== undefined) {
        warnings.push(`${shown} skipped: its UTCP name "${name}" is already taken by ${taken}`);
      } else {
        if (name !== `${server.name}_${tool.name}`) warnings.push(`${shown} is listed as "${name}": UTCP tool names allow only letters, digits and \`_\``);
        names.set(name, shown);
        tools.push(utcpTool(tool, name, server, template));
      }
    }
  }
  return { manual: { utcp_version: UTCP_VERSION, manual_version: '1.0.0', tools }, warnings };
};

/**
 * Checks one `config.mcpServers` entry and resolves how to reach it: a stdio server's command must be
 * allow-listed (resolved to the path that will run) and its `env` free of loader variables; an HTTP
 * server's URL must pass the egress guard (checked here, before any server is started), its headers
 * merged with `options.headers`. Throws DISCOVERY_FAILED (`invalid_template`, `command_not_allowed`,
 * `not_found`) or EGRESS_DENIED; `warnings` gets what is ignored (`cwd`).
 */
export async function planMcpServer(name: string, entry: unknown, options: DiscoveryOptions, warnings: string[]): Promise<McpServerPlan> {
  if (!SERVER_NAME.test(name)) {
    throw discoveryFailed('invalid_template', `MCP server name ${JSON.stringify(name.slice(0, 64))} must be 1-64 letters, digits, \`_\` or \`-\``);
  }
  if (!isObject(entry)) throw discoveryFailed('invalid_template', `MCP server "${name}" must be an object`);
  const transport = typeof entry.transport === 'string' ? entry.transport : 'command' in entry ? 'stdio' : 'url' in entry ? 'http' : undefined;
  if (transport === 'stdio') {
    if (typeof entry.command !== 'string' || !entry.command) throw discoveryFailed('invalid_template', `MCP server "${name}" needs a \`command\``);
    const args = entry.args ?? [];
    if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) {
      throw discoveryFailed('invalid_template', `\`args\` of MCP server "${name}" must be a list of strings`);
    }
    const variables = processVariables(entry.env, `MCP server "${name}"`);
    const executable = await allowedExecutable(entry.command, options.cliAllow, registryPath());
    if (entry.cwd !== undefined) warnings.push(`\`cwd\` of MCP server "${name}" is not used: discovery runs it in a private working directory`);
    return { name, entry, kind: 'stdio', executable, args, variables };
  }
  if (transport === 'http' || transport === 'streamable-http' || transport === 'streamable_http') {
    if (typeof entry.url !== 'string' || !URL.parse(entry.url)) throw discoveryFailed('invalid_template', `MCP server "${name}" needs a valid \`url\``);
    // Refused here, before any other server is started.
    await assertEgressAllowed(entry.url, options.egress);
    const headers = requestHeaders(stringRecord(entry.headers, `A header of MCP server "${name}"`), options);
    return { name, entry, kind: 'http', url: entry.url, headers };
  }
  throw discoveryFailed(
    'invalid_template',
    `MCP server "${name}" has no supported transport: give \`command\` (stdio) or \`url\` (streamable HTTP)${transport ? `, not "${transport}"` : ''}`,
  );
}

/**
 * The stdio transport of a planned server: its resolved executable, with the scrubbed environment,
 * in `cwd` (also its `HOME`), stderr discarded (it may hold secrets), each message capped at
 * `maxBufferSize` bytes.
 */
export function mcpStdioTransport(server: Extract<McpServerPlan, { kind: 'stdio' }>, cwd: string, maxBufferSize: number): StdioClientTransport {
  return new StdioClientTransport({
    command: server.executable,
    args: server.args,
    env: scrubbedEnvironment(server.variables, cwd),
    cwd,
    stderr: 'ignore',
    maxBufferSize,
  });
}

/** The streamable HTTP transport of a planned server, fetching through `fetch` (see {@link mcpEgressFetch}); never reconnects a stream. */
export function mcpHttpTransport(server: Extract<McpServerPlan, { kind: 'http' }>, fetch: FetchLike): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: server.headers },
    fetch,
    // No notification stream is needed; never reconnect one.
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
  });
}

async function listTools(
  server: McpServerPlan,
  context: DiscoveryContext,
  warnings: string[],
  createTransport: (failures: unknown[]) => Transport,
): Promise<McpTool[]> {
  const failures: unknown[] = [];
  const transport = createTransport(failures);
  transport.onerror = (error) => failures.push(error);
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  client.onerror = () => {};
  const close = () => void client.close().catch(() => {});
  context.signal.addEventListener('abort', close, { once: true });
  try {
    await client.connect(transport, { signal: context.signal, timeout: context.remainingMs() });
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor }, { signal: context.signal, timeout: context.remainingMs() });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined && ++pages < MAX_PAGES);
    if (cursor !== undefined) warnings.push(`MCP server "${server.name}": only the first ${MAX_PAGES} pages of tools were listed`);
    return tools;
  } catch (error) {
    throw translate(error, failures, server, context.options.maxBytes);
  } finally {
    context.signal.removeEventListener('abort', close);
    await client.close().catch(() => {});
  }
}

/**
 * The UTCP name of an MCP tool: `server_tool` (the reference's `server.tool`, with `_` because the
 * registry's tool names are `[A-Za-z0-9_]+`), every other character replaced by `_`. An executor
 * recovers the MCP tool by listing the template's (single) server and matching this name.
 */
export function mcpToolName(server: string, tool: string): string {
  return `${server}_${tool}`.replace(/[^A-Za-z0-9_]/g, '_');
}

function utcpTool(tool: McpTool, name: string, server: McpServerPlan, template: ManualCallTemplate): Record<string, unknown> {
  const config = isObject(template.config) ? template.config : {};
  return {
    name,
    description: tool.description ?? tool.title ?? '',
    inputs: tool.inputSchema,
    ...(tool.outputSchema ? { outputs: tool.outputSchema } : {}),
    tags: [],
    tool_call_template: { ...template, config: { ...config, mcpServers: { [server.name]: server.entry } } },
  };
}

function discoveryFetch(context: DiscoveryContext, failures: unknown[]): FetchLike {
  const limits = { egress: context.options.egress, maxBytes: context.options.maxBytes, signal: context.signal };
  return mcpEgressFetch(
    () => ({ ...limits, timeoutMs: context.remainingMs() }),
    (error) => failures.push(error),
  );
}

/**
 * fetch for the SDK's HTTP transport through the egress guard (boundedFetch), with the limits
 * `limits()` gives at the time of each request; reports the registry errors it throws to `onFailure`
 * before rethrowing them (the SDK may only pass them to `onerror`).
 */
export function mcpEgressFetch(limits: () => McpFetchLimits, onFailure: (error: RegistryError) => void): FetchLike {
  return async (url, init) => {
    const { egress, maxBytes, timeoutMs, signal: limitSignal } = limits();
    const signal = init?.signal && limitSignal ? AbortSignal.any([init.signal, limitSignal]) : (init?.signal ?? limitSignal);
    try {
      const response = await boundedFetch(url.toString(), {
        ...init,
        ...(signal ? { signal } : {}),
        timeoutMs,
        maxBytes,
        policy: egress,
      });
      const body = NULL_BODY_STATUSES.has(response.status) ? null : new Uint8Array(response.body);
      return new Response(body, { status: response.status, headers: response.headers });
    } catch (error) {
      if (error instanceof RegistryError) onFailure(error);
      throw error;
    }
  };
}

function translate(error: unknown, failures: unknown[], server: McpServerPlan, maxBytes: number): RegistryError {
  const where = server.kind === 'http' ? `MCP server "${server.name}" at "${hostOf(server.url)}"` : `MCP server "${server.name}"`;
  const host = server.kind === 'http' ? hostOf(server.url) : undefined;
  const recorded = [error, ...failures].find((candidate): candidate is RegistryError => candidate instanceof RegistryError);
  if (recorded) return recorded;
  if (failures.some((failure) => failure instanceof Error && /ReadBuffer exceeded maximum size/.test(failure.message))) {
    return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `${where} sent a message larger than ${maxBytes} bytes`, { maxBytes });
  }
  if (error instanceof McpError) {
    if (error.code === McpErrorCode.RequestTimeout) return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `${where} did not answer in time`, { host });
    if (error.code === McpErrorCode.ConnectionClosed) {
      return server.kind === 'stdio'
        ? discoveryFailed('process_failed', `${where} closed its connection during discovery (did the process exit?)`, { server: server.name })
        : discoveryFailed('protocol_error', `${where} closed the connection during discovery`, { server: server.name, host });
    }
    return discoveryFailed('protocol_error', `${where} answered with an error: ${safeText(error.message)}`, { server: server.name });
  }
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code >= 300) {
    return discoveryFailed('http_status', `${where} answered HTTP ${error.code}`, { status: error.code, host, server: server.name });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (server.kind === 'stdio' && code === 'ENOENT') return discoveryFailed('not_found', `${where} could not be started (command not found)`, { server: server.name });
  if (server.kind === 'stdio' && typeof code === 'string') {
    return discoveryFailed('process_failed', `${where} could not be started (${code})`, { server: server.name });
  }
  const message = error instanceof Error ? safeText(error.message) : 'unknown error';
  return discoveryFailed('protocol_error', `${where} could not be discovered: ${message}`, { server: server.name });
}

/** A provider-supplied error text, shortened and with any URL (which may carry credentials) removed. */
export function safeText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>').replace(/\s+/g, ' ').slice(0, 200);
}
