import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import type { ExecutionOutcome, ExecutionRequest } from '../../src/executors/executor.types.js';
import { closeMcpSessions, executeMcp } from '../../src/executors/mcp.executor.js';
import type { EgressPolicy } from '../../src/security/egress.js';
import { rejectionOf } from '../helpers/errors.js';
import { SECRET_ENV, type WhoAmI } from '../helpers/peers/mcp-executor-tools.js';
import { type ProtocolPeers, startPeers } from '../helpers/peers/index.js';
import { isRunning } from '../helpers/process.js';

const NODE = process.execPath;
const STDIO_SERVER = fileURLToPath(new URL('../helpers/peers/mcp-stdio-server.ts', import.meta.url));
const LOOPBACK: EgressPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };
const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };

const ENV_SECRET = 'stdio-secret-value-0123456789';
const HEADER_SECRET = 'http-secret-token-abcdef9876';

type Template = ExecutionRequest['callTemplate'];

/** The stdio peer (with the executor tools) as server `calc`. */
function stdio(env?: Record<string, string>, server = 'calc'): Template {
  const entry = { command: NODE, args: [STDIO_SERVER, '--executor-tools'], ...(env ? { env } : {}) };
  return { call_template_type: 'mcp', config: { mcpServers: { [server]: entry } } };
}

/** An HTTP MCP server as server `web`: by default the peer's stateful endpoint. */
function http(url = `${peers.mcpHttp.url}/exec`, headers?: Record<string, string>): Template {
  return { call_template_type: 'mcp', config: { mcpServers: { web: { url, ...(headers ? { headers } : {}) } } } };
}

/** Every error message seen, checked for secrets after each test. */
const messages: string[] = [];

function call(template: Template, tool: string, args: Record<string, unknown> = {}, overrides: Partial<ExecutionRequest> = {}): Promise<ExecutionOutcome> {
  return executeMcp({
    toolName: `tools.${tool}`,
    callTemplate: template,
    arguments: args,
    timeoutMs: 10_000,
    maxBytes: 100_000,
    egress: LOOPBACK,
    cliAllow: [NODE],
    ...overrides,
  });
}

async function refusal(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await rejectionOf(promise);
  messages.push(error.message, JSON.stringify(error.extensions));
  return error;
}

async function whoami(template: Template, tool: string): Promise<WhoAmI> {
  return (await call(template, tool)).result as WhoAmI;
}

let peers: ProtocolPeers;

beforeAll(async () => {
  peers = await startPeers();
});

afterAll(async () => {
  await closeMcpSessions();
  await peers?.close();
});

afterEach(() => {
  for (const message of messages.splice(0)) {
    expect(message).not.toContain(ENV_SECRET);
    expect(message).not.toContain(HEADER_SECRET);
  }
});

describe('calling a tool of a stdio MCP server', () => {
  it('returns the structured content when the server sends it', async () => {
    const outcome = await call(stdio(), 'calc_add', { a: 2, b: 3 });
    expect(outcome.result).toEqual({ sum: 5 });
    expect(outcome.bytes).toBeGreaterThan(0);
  });

  it('returns a single text part as the text, parsed when it is JSON', async () => {
    expect((await call(stdio(), 'calc_echo', { message: 'hello there' })).result).toBe('hello there');
    expect((await call(stdio(), 'calc_echo', { message: '[1, {"two": 2}]' })).result).toEqual([1, { two: 2 }]);
    expect((await call(stdio(), 'calc_whoami')).result).toMatchObject({ pid: expect.any(Number) });
  });

  it('returns several content parts as the content array, unchanged', async () => {
    expect((await call(stdio(), 'calc_parts')).result).toEqual([
      { type: 'text', text: 'first' },
      { type: 'text', text: '{"second":2}' },
    ]);
  });

  it('finds the MCP tool behind a sanitised name, and a tool named without the server prefix', async () => {
    expect((await call(stdio(), 'calc_get_time')).result).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((await call(stdio(), 'echo', { message: 'unprefixed' })).result).toBe('unprefixed');
  });

  it('calls the server whose name prefixes the tool when the template names several', async () => {
    const template: Template = {
      call_template_type: 'mcp',
      config: { mcpServers: { ...(stdio().config as { mcpServers: object }).mcpServers, web: { url: `${peers.mcpHttp.url}/exec` } } },
    };
    expect((await call(template, 'web_search', { query: 'via web' })).result).toBe('via web');
    expect((await call(template, 'calc_add', { a: 1, b: 1 })).result).toEqual({ sum: 2 });
  });

  it('runs the server with a scrubbed environment plus its env, in a private working directory', async () => {
    process.env.REGISTRY_TEST_LEAK = 'must-not-reach-the-server';
    try {
      const seen = await whoami(stdio({ GREETING: 'hi' }), 'calc_whoami');
      expect(seen.env.GREETING).toBe('hi');
      expect(seen.env.REGISTRY_TEST_LEAK).toBeUndefined();
      expect(Object.keys(seen.env).sort()).toEqual(expect.arrayContaining(['GREETING', 'HOME', 'PATH']));
      expect(seen.home).toBe(seen.cwd);
      expect(seen.cwd.startsWith(tmpdir())).toBe(true);
      expect(path.basename(seen.cwd)).toMatch(/^registry-discovery-/);
    } finally {
      delete process.env.REGISTRY_TEST_LEAK;
    }
  });

  it('reuses one session, so one server process, for consecutive calls with the same configuration', async () => {
    const first = await whoami(stdio({ ROUND: 'reuse' }), 'calc_whoami');
    const second = await whoami(stdio({ ROUND: 'reuse' }), 'calc_whoami');
    expect(second.pid).toBe(first.pid);
    const other = await whoami(stdio({ ROUND: 'other' }), 'calc_whoami');
    expect(other.pid).not.toBe(first.pid);
  });

  it('starts a new session when the server process has died', async () => {
    const template = stdio({ ROUND: 'dies' });
    const first = await whoami(template, 'calc_whoami');
    process.kill(first.pid, 'SIGKILL');
    await expect.poll(() => isRunning(first.pid), { timeout: 5_000, interval: 50 }).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await whoami(template, 'calc_whoami');
    expect(second.pid).not.toBe(first.pid);
    expect((await whoami(template, 'calc_whoami')).pid).toBe(second.pid);
  });

  it('refuses an executable that is not allow-listed, even when a session for it is open', async () => {
    await call(stdio(), 'calc_echo', { message: 'open a session' });
    const error = await refusal(call(stdio(), 'calc_echo', { message: 'x' }, { cliAllow: [] }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EGRESS_DENIED, reason: 'command_not_allowed', server: 'calc' });
    const other = await refusal(call(stdio(), 'calc_echo', { message: 'x' }, { cliAllow: ['/usr/bin/env'] }));
    expect(other.extensions.code).toBe(ErrorCode.EGRESS_DENIED);
  });

  it('reports a tool error as EXECUTION_FAILED with its text, without the env values it echoed', async () => {
    const error = await refusal(call(stdio({ [SECRET_ENV]: ENV_SECRET }), 'calc_fail', { why: 'disk full' }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'tool_error', server: 'calc' });
    expect(error.message).toContain('it broke (disk full)');
    expect(error.message).toContain('[redacted]');
  });

  it('reports a tool the server does not offer', async () => {
    const error = await refusal(call(stdio(), 'calc_nope'));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'unknown_tool' });
    expect(error.message).toContain('calc_nope');
  });

  it('gives up on a slow tool at the deadline, and the session stays usable', async () => {
    const template = stdio({ ROUND: 'slow' });
    const { pid } = await whoami(template, 'calc_whoami');
    const started = Date.now();
    const error = await refusal(call(template, 'calc_slow', { ms: 5_000 }, { timeoutMs: 700 }));
    expect(error.extensions.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect((await whoami(template, 'calc_whoami')).pid).toBe(pid);
  });

  it('counts the connection against the deadline', async () => {
    const error = await refusal(call(stdio({ ROUND: 'cold start' }), 'calc_whoami', {}, { timeoutMs: 5 }));
    expect(error.extensions.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
  });

  it('stops waiting when the call is cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 300);
    const error = await refusal(call(stdio(), 'calc_slow', { ms: 5_000 }, { signal: controller.signal }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, cancelled: true });
  });

  it('refuses a result larger than maxBytes, and a message far larger', async () => {
    const tooLarge = await refusal(call(stdio(), 'calc_big', { size: 5_000 }, { maxBytes: 2_000 }));
    expect(tooLarge.extensions.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect((await call(stdio(), 'calc_big', { size: 1_000 }, { maxBytes: 2_000 })).result).toBe('x'.repeat(1_000));

    const flood = await refusal(call(stdio(), 'calc_big', { size: 300_000 }, { maxBytes: 2_000 }));
    expect(flood.extensions.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    // The flood ended that session; the next call gets a new one.
    await expect.poll(async () => (await call(stdio(), 'calc_big', { size: 10 }, { maxBytes: 2_000 })).result, { timeout: 5_000 }).toBe('x'.repeat(10));
  });
});

describe('calling a tool of a streamable HTTP MCP server', () => {
  it('calls a tool of a stateless server, sending the template headers', async () => {
    const outcome = await call(http(`${peers.mcpHttp.url}/mcp`, { 'x-client': 'registry' }), 'web_search', { query: 'utcp' });
    expect(outcome.result).toBe('utcp');
    expect(peers.mcpHttp.requests.at(-1)!.headers['x-client']).toBe('registry');
  });

  it('reuses one MCP session for consecutive calls', async () => {
    const template = http(undefined, { 'x-round': 'reuse' });
    const initialized = peers.mcpSessions.initialized;
    const first = await whoami(template, 'web_whoami');
    const requests = peers.mcpHttp.requests.length;
    const second = await whoami(template, 'web_whoami');
    expect(first.session).toEqual(expect.any(String));
    expect(second.session).toBe(first.session);
    expect(peers.mcpSessions.initialized).toBe(initialized + 1);
    // The second call is one POST: no new initialization, no tools/list.
    expect(peers.mcpHttp.requests.length).toBe(requests + 1);
  });

  it('opens a new session when the server has ended the old one', async () => {
    const template = http(undefined, { 'x-round': 'expired' });
    const first = await whoami(template, 'web_whoami');
    await peers.mcpSessions.drop();
    const initialized = peers.mcpSessions.initialized;
    const second = await whoami(template, 'web_whoami');
    expect(second.session).toEqual(expect.any(String));
    expect(second.session).not.toBe(first.session);
    expect(peers.mcpSessions.initialized).toBe(initialized + 1);
  });

  it('reports a tool error without the header values the server echoed', async () => {
    const error = await refusal(call(http(undefined, { authorization: `Bearer ${HEADER_SECRET}` }), 'web_fail', { why: 'quota' }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'tool_error', server: 'web' });
    expect(error.message).toContain('it broke (quota)');
    expect(error.message).toContain('[redacted]');
  });

  it('reports a tool the server does not offer', async () => {
    const error = await refusal(call(http(), 'web_nope'));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'unknown_tool' });
  });

  it('refuses a server the egress policy does not allow, even when a session for it is open', async () => {
    const template = http(undefined, { authorization: `Bearer ${HEADER_SECRET}` });
    await call(template, 'web_search', { query: 'open a session' });
    const requests = peers.mcpHttp.requests.length;
    const error = await refusal(call(template, 'web_search', { query: 'x' }, { egress: NONE }));
    expect(error.extensions.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(peers.mcpHttp.requests.length).toBe(requests);
  });

  it('gives up on a slow tool at the deadline', async () => {
    const started = Date.now();
    const error = await refusal(call(http(), 'web_slow', { ms: 5_000 }, { timeoutMs: 700 }));
    expect(error.extensions.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('refuses a result larger than maxBytes, and a response far larger', async () => {
    const tooLarge = await refusal(call(http(), 'web_big', { size: 5_000 }, { maxBytes: 2_000 }));
    expect(tooLarge.extensions.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    const flood = await refusal(call(http(), 'web_big', { size: 300_000 }, { maxBytes: 2_000 }));
    expect(flood.extensions.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect((await call(http(), 'web_big', { size: 10 }, { maxBytes: 2_000 })).result).toBe('x'.repeat(10));
  });

  it('reports a server that is not there as unavailable', async () => {
    const closed = await refusal(call(http('http://127.0.0.1:9/mcp'), 'web_search', { query: 'x' }));
    expect(closed.extensions.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    const notMcp = await refusal(call(http(`${peers.http.url}/not-mcp`), 'web_search', { query: 'x' }));
    expect(notMcp.extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, reason: 'http_status', status: 404 });
  });
});

describe('closing the sessions', () => {
  it('ends the stdio server processes and the HTTP sessions', async () => {
    const { pid } = await whoami(stdio({ ROUND: 'shutdown' }), 'calc_whoami');
    await whoami(http(undefined, { 'x-round': 'shutdown' }), 'web_whoami');
    expect(peers.mcpSessions.open).toBeGreaterThan(0);
    await closeMcpSessions();
    await expect.poll(() => isRunning(pid), { timeout: 8_000, interval: 100 }).toBe(false);
    expect(peers.mcpSessions.open).toBe(0);
  });
});
