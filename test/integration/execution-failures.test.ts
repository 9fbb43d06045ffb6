import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tool, ToolService, ToolStatus } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool, echoCliTool } from '../helpers/factories.js';
import {
  garbageServer,
  gate,
  refusingUrl,
  type ScriptedPeer,
  scriptedPeer,
  sendJson,
  sleep,
  streamBytes,
} from '../helpers/peers/execution-peer.js';
import { PEER_SCRIPTS } from '../helpers/peers/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const NODE = process.execPath;
const CLI_TOOL = path.join(PEER_SCRIPTS, 'cli-tool.ts');
const MAX_BYTES = 4 * 1024 * 1024;
const HUNDRED_MB = 100 * 1024 * 1024;

const EXECUTION_FIELDS = `id toolName status arguments result error { code message details } outputValid startedAt finishedAt durationMs decision`;
const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { ${EXECUTION_FIELDS} } }`;

interface Execution {
  id: string;
  toolName: string;
  status: string;
  arguments: Record<string, unknown>;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
  outputValid: boolean | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  decision: { allowed: boolean; policy: { name: string } | null } | null;
}

let registry: TestRegistry;
let peer: ScriptedPeer;
let garbage: Awaited<ReturnType<typeof garbageServer>>;
let scratch: string;
let agent: string;
let agentId: string;

const huge = { sent: 0, headStreamed: false, gate: gate() };
const slowSubscriberGate = gate();

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function execute(tool: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}, token = agent): Promise<Execution> {
  const res = await registry.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: args, ...extra } }, bearer(token));
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

async function executionCount(): Promise<number> {
  const res = await registry.graphql<{ executions: { totalCount: number } }>('{ executions { totalCount } }', {}, bearer(agent));
  return res.data!.executions.totalCount;
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'execution-failures-'));
  peer = await scriptedPeer({
    '/weather': (_req, res) => sendJson(res, 200, { temp: 21 }),
    '/mismatch': (_req, res) => sendJson(res, 200, { temp: 'warm', unit: 'vibes' }),
    '/slow': async (_req, res) => {
      await sleep(5_000);
      if (!res.destroyed) sendJson(res, 200, { late: true });
    },
    '/huge': async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await streamBytes(res, 1024 * 1024, huge, false);
      huge.headStreamed = true;
      await huge.gate.opened;
      await streamBytes(res, HUNDRED_MB, huge);
    },
    '/binary': (_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x7b, 0x22, 0xc3])),
    '/lone-surrogate': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"text": "\\ud800 alone", "n": 1}'),
    '/json-garbage': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"tools": [ unclosed'),
    '/not-events': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>nope</html>'),
    '/gated': async (_req, res) => {
      await slowSubscriberGate.opened;
      sendJson(res, 200, { ok: true });
    },
  });
  garbage = await garbageServer(Buffer.from('\x00\x01SMTP ready\r\n\xff\xfe garbage that is not HTTP\r\n\r\n', 'latin1'));
  const down = await refusingUrl();

  registry = await startRegistry({
    env: {
      REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
      REGISTRY_CLI_ALLOW: `echo,${NODE}`,
      REGISTRY_EXECUTION_MAX_BYTES: String(MAX_BYTES),
      REGISTRY_BODY_LIMIT_BYTES: String(16 * 1024 * 1024),
      REGISTRY_SHUTDOWN_GRACE_MS: '500',
    },
  });

  const http = (route: string, extra: Record<string, unknown> = {}) => ({ call_template_type: 'http', url: `${peer.url}${route}`, http_method: 'GET', ...extra });
  const weatherInputs = {
    type: 'object',
    additionalProperties: false,
    required: ['city', 'days'],
    properties: {
      city: { type: 'string', minLength: 2 },
      days: { type: 'integer', minimum: 1, maximum: 14 },
      units: { enum: ['metric', 'imperial'] },
      tags: { type: 'array', items: { type: 'string' } },
      where: { type: 'object', properties: { lat: { type: 'number' } } },
    },
  };
  const temperature = { type: 'object', required: ['temp'], properties: { temp: { type: 'number' } } };
  await new ToolService(registry.db.fork()).importManual(
    'fail',
    manual([
      manualTool({ name: 'weather', inputs: weatherInputs, outputs: temperature, tool_call_template: http('/weather') }),
      manualTool({ name: 'mismatch', inputs: { type: 'object' }, outputs: temperature, tool_call_template: http('/mismatch') }),
      manualTool({ name: 'toggled', inputs: { type: 'object' }, outputs: temperature, tool_call_template: http('/weather') }),
      manualTool({ name: 'forbidden', inputs: { type: 'object' }, outputs: temperature, tool_call_template: http('/weather') }),
      manualTool({ name: 'quarantined', inputs: { type: 'object' }, outputs: temperature, tool_call_template: http('/weather') }),
      manualTool({ name: 'down', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${down}/x`, http_method: 'GET' } }),
      manualTool({ name: 'slow', inputs: { type: 'object' }, outputs: {}, tool_call_template: http('/slow') }),
      manualTool({ name: 'huge', inputs: { type: 'object' }, outputs: {}, tool_call_template: http('/huge') }),
      manualTool({ name: 'binary', inputs: { type: 'object' }, outputs: { type: 'object' }, tool_call_template: http('/binary') }),
      manualTool({ name: 'lone_surrogate', inputs: { type: 'object' }, outputs: { type: 'object' }, tool_call_template: http('/lone-surrogate') }),
      manualTool({ name: 'not_http', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${garbage.url}/x`, http_method: 'GET' } }),
      manualTool({
        name: 'json_garbage',
        inputs: { type: 'object' },
        outputs: {},
        tool_call_template: { call_template_type: 'streamable_http', url: `${peer.url}/json-garbage`, http_method: 'GET' },
      }),
      manualTool({ name: 'not_events', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'sse', url: `${peer.url}/not-events` } }),
      manualTool({ name: 'ok', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '{"ok": true}' } }),
      manualTool({
        name: 'gated',
        inputs: { type: 'object', properties: { blob: { type: 'string' } } },
        outputs: {},
        tool_call_template: http('/gated', { http_method: 'POST', body_field: 'blob', content_type: 'text/plain' }),
      }),
    ]),
    INLINE_MANUAL,
  );

  agent = await registry.login({ roles: ['agent'] });
  agentId = (await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', {}, bearer(agent))).data!.me.principal.id;
});

afterAll(async () => {
  huge.gate.open();
  slowSubscriberGate.open();
  await registry?.close();
  await peer?.close();
  await garbage?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('calls that cannot run become executions, not crashes', () => {
  it('refuses invalid arguments with every problem and its JSON path, without calling the tool', async () => {
    const execution = await execute('fail.weather', { city: 'X', units: 'kelvin', tags: ['a', 3], where: { lat: 'north' }, extra: true });
    expect(execution.status).toBe('FAILED');
    expect(execution.error!.code).toBe('INVALID_ARGUMENTS');
    const errors = execution.error!.details!.errors as Array<{ path: string; message: string }>;
    expect(errors).toHaveLength(6);
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: '$.days', message: "must have required property 'days'" },
        { path: '$.extra', message: 'must NOT have additional properties' },
        { path: '$.city', message: 'must NOT have fewer than 2 characters' },
        { path: '$.units', message: 'must be equal to one of the allowed values' },
        { path: '$.tags[1]', message: 'must be string' },
        { path: '$.where.lat', message: 'must be number' },
      ]),
    );
    expect(execution.startedAt).toBeNull();
    expect(execution.finishedAt).not.toBeNull();
    expect(execution.arguments).toEqual({ city: 'X', units: 'kelvin', tags: ['a', 3], where: { lat: 'north' }, extra: true });
    expect(peer.hits('/weather')).toBe(0);

    // The same tool with valid arguments runs: the refusal was about the arguments.
    const valid = await execute('fail.weather', { city: 'Oslo', days: 3 });
    expect(valid).toMatchObject({ status: 'SUCCEEDED', result: { temp: 21 }, outputValid: true });
    expect(peer.hits('/weather')).toBe(1);
  });

  it('answers an unknown tool with NOT_FOUND and a caller without tools:execute with FORBIDDEN, storing no execution', async () => {
    const before = await executionCount();
    const unknown = await registry.graphql(EXECUTE, { input: { tool: 'fail.no_such_tool', arguments: {} } }, bearer(agent));
    expect(unknown.data).toBeNull();
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const viewer = await registry.graphql(EXECUTE, { input: { tool: 'fail.weather', arguments: { city: 'Oslo', days: 1 } } });
    expect(viewer.data).toBeNull();
    expect(viewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await executionCount()).toBe(before);
    expect(peer.hits('/weather')).toBe(1);

    const audit = await registry.graphql<{ auditLog: { edges: { node: { outcome: string; actorId: string; details: Record<string, unknown> } }[] } }>(
      '{ auditLog(first: 50, filter: { action: "tool.execute", outcome: DENIED }) { edges { node { outcome actorId details } } } }',
      {},
      bearer(registry.adminToken),
    );
    expect(audit.data!.auditLog.edges.map((e) => e.node)).toContainEqual({ outcome: 'DENIED', actorId: agentId, details: { tool: 'fail.no_such_tool', code: 'NOT_FOUND' } });
  });

  it('refuses a disabled tool and a quarantined one with TOOL_UNAVAILABLE, without calling them', async () => {
    const hits = peer.hits('/weather');
    const tool = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "fail.toggled") { id } }');
    const toggle = (enabled: boolean) =>
      registry.graphql<{ setToolEnabled: { tool: { enabled: boolean }; userErrors: unknown[] } }>(
        'mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { tool { enabled } userErrors { message } } }',
        { input: { toolId: tool.data!.tool.id, enabled } },
        bearer(registry.adminToken),
      );
    expect((await toggle(false)).data!.setToolEnabled).toEqual({ tool: { enabled: false }, userErrors: [] });
    const disabled = await execute('fail.toggled', {});
    expect(disabled).toMatchObject({ status: 'FAILED', error: { code: 'TOOL_UNAVAILABLE' }, result: null });
    expect(disabled.error!.message).toMatch(/disabled/);

    await registry.db.fork().nativeUpdate(Tool, { name: 'fail.quarantined' }, { status: ToolStatus.QUARANTINED });
    const quarantined = await execute('fail.quarantined', {});
    expect(quarantined).toMatchObject({ status: 'FAILED', error: { code: 'TOOL_UNAVAILABLE' } });
    expect(quarantined.error!.message).toMatch(/quarantined/);
    expect(peer.hits('/weather')).toBe(hits);

    await toggle(true);
    expect(await execute('fail.toggled', {})).toMatchObject({ status: 'SUCCEEDED', result: { temp: 21 } });
    expect(peer.hits('/weather')).toBe(hits + 1);
  });

  it('records a call a policy denies as DENIED with the deciding policy, without calling the tool', async () => {
    const hits = peer.hits('/weather');
    const policyAdmin = await registry.login({ roles: ['policy_admin'] });
    const created = await registry.graphql<{ createPolicy: { policy: { id: string } | null; userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }',
      { input: { name: 'deny-forbidden-tool', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['fail.forbidden'] }, subjects: { roles: ['agent'] } } },
      bearer(policyAdmin),
    );
    expect(created.data!.createPolicy.userErrors).toEqual([]);
    const denied = await execute('fail.forbidden', {});
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' }, result: null, startedAt: null });
    expect(denied.error!.message).toContain('deny-forbidden-tool');
    expect(denied.decision).toMatchObject({ allowed: false, policy: { name: 'deny-forbidden-tool' } });
    expect(peer.hits('/weather')).toBe(hits);
    // Other tools are still allowed to the same agent.
    expect(await execute('fail.toggled', {})).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('records a provider that refuses connections as UPSTREAM_UNAVAILABLE', async () => {
    const execution = await execute('fail.down', {});
    expect(execution).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNAVAILABLE' }, result: null });
    expect(execution.error!.message).toContain('127.0.0.1');
    expect(execution.startedAt).not.toBeNull();
  });

  it('records a provider slower than timeoutMs as TIMED_OUT and drops its request', async () => {
    const began = Date.now();
    const execution = await execute('fail.slow', {}, { timeoutMs: 300 });
    expect(Date.now() - began).toBeLessThan(3_000);
    expect(execution).toMatchObject({ status: 'TIMED_OUT', error: { code: 'UPSTREAM_TIMEOUT' }, result: null });
    expect(execution.durationMs).toBeGreaterThanOrEqual(250);
    expect(execution.durationMs).toBeLessThan(3_000);
    const request = peer.requests.find((r) => r.route === '/slow')!;
    await expect.poll(() => request.aborted, { timeout: 2_000 }).toBe(true);
  });

  it('records garbage from a provider as a failure of the call', async () => {
    const notHttp = await execute('fail.not_http', {});
    expect(notHttp).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(garbage.connections()).toBeGreaterThan(0);

    const badJson = await execute('fail.json_garbage', {});
    expect(badJson).toMatchObject({ status: 'FAILED', error: { code: 'EXECUTION_FAILED', details: { reason: 'invalid_json' } } });
    expect(badJson.error!.message).not.toContain('unclosed');

    const notEvents = await execute('fail.not_events', {});
    expect(notEvents).toMatchObject({ status: 'FAILED', error: { code: 'EXECUTION_FAILED', details: { reason: 'protocol_error' } } });

    // Bytes that are not JSON are the tool's answer as text (a NUL included, which jsonb cannot hold),
    // which its object output schema rejects.
    const binary = await execute('fail.binary', {});
    expect(binary).toMatchObject({ status: 'SUCCEEDED', outputValid: false });
    expect(binary.result).toBe('\uFFFD\uFFFD\uFFFD\uFFFD{"\uFFFD');

    // JSON whose string holds a lone surrogate (valid JSON, not storable as jsonb).
    const lone = await execute('fail.lone_surrogate', {});
    expect(lone).toMatchObject({ status: 'SUCCEEDED', outputValid: true, result: { text: '\uFFFD alone', n: 1 } });
  });

  it('stops reading a 100 MB answer at the size cap (UPSTREAM_TOO_LARGE) and keeps answering other requests meanwhile', async () => {
    let settled = false;
    const call = execute('fail.huge', {}, { timeoutMs: 60_000 }).finally(() => (settled = true));
    await expect.poll(() => huge.headStreamed, { timeout: 5_000 }).toBe(true);

    // The big answer is in flight: other callers are still served, promptly.
    for (let i = 0; i < 5; i++) {
      const began = Date.now();
      const ok = await execute('fail.ok', {});
      const read = await registry.graphql<{ tool: { name: string } }>('{ tool(name: "fail.huge") { name } }');
      expect(ok).toMatchObject({ status: 'SUCCEEDED', result: { ok: true } });
      expect(read.data!.tool.name).toBe('fail.huge');
      expect(Date.now() - began).toBeLessThan(2_000);
    }
    expect(settled).toBe(false);

    huge.gate.open();
    const execution = await call;
    expect(execution).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_TOO_LARGE', details: { maxBytes: MAX_BYTES } }, result: null });
    const request = peer.requests.find((r) => r.route === '/huge')!;
    await expect.poll(() => request.aborted, { timeout: 5_000 }).toBe(true);
    expect(huge.sent).toBeGreaterThan(MAX_BYTES);
    expect(huge.sent).toBeLessThan(HUNDRED_MB / 2);
  });

  it('stores arguments holding characters jsonb refuses (NUL, a lone surrogate) as an execution, and refuses a tool name holding one as NOT_FOUND', async () => {
    const stored = await registry.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool: 'fail.ok', arguments: { note: 'a\u0000b', 'k\u0000': '\ud800' } } }, bearer(agent));
    expect(stored.errors, JSON.stringify(stored.errors)).toBeUndefined();
    expect(stored.data!.executeTool).toMatchObject({ status: 'SUCCEEDED', result: { ok: true }, arguments: { note: 'a\uFFFDb', 'k\uFFFD': '\uFFFD' } });
    const named = await registry.graphql(EXECUTE, { input: { tool: 'fail.ok\u0000', arguments: {} } }, bearer(agent));
    expect(named.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('stores a result that does not match the output schema, flagged outputValid: false', async () => {
    const execution = await execute('fail.mismatch', {});
    expect(execution).toMatchObject({ status: 'SUCCEEDED', result: { temp: 'warm', unit: 'vibes' }, outputValid: false, error: null });
  });
});

describe('a subscriber that reads slowly', () => {
  it('still gets the final state of a call that ended while its first update was being sent', async () => {
    // A large first update cannot be written to a client that stopped reading, so the call ends
    // while the registry is still sending it.
    const blob = 'x'.repeat(10 * 1024 * 1024);
    const started = await registry.graphql<{ executeTool: { id: string; status: string } }>(
      'mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status } }',
      { input: { tool: 'fail.gated', arguments: { blob }, mode: 'ASYNC' } },
      bearer(agent),
    );
    expect(started.errors).toBeUndefined();
    const { id } = started.data!.executeTool;

    const socket = new WebSocket(`${registry.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    const messages: Array<{ type: string; payload?: { data?: { executionUpdated: { execution: { status: string } } } } }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as (typeof messages)[number]));
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${agent}` } }));
      await expect.poll(() => messages.map((m) => m.type), { timeout: 5_000 }).toContain('connection_ack');

      (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      socket.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: { query: 'subscription($id: ID!) { executionUpdated(id: $id) { execution { status arguments } } }', variables: { id } },
        }),
      );
      await sleep(500);
      slowSubscriberGate.open();
      await expect
        .poll(async () => (await registry.graphql<{ execution: { status: string } }>('query($id: ID!) { execution(id: $id) { status } }', { id }, bearer(agent))).data!.execution.status, {
          timeout: 10_000,
        })
        .toBe('SUCCEEDED');
      (socket as unknown as { _socket: { resume(): void } })._socket.resume();

      await expect.poll(() => messages.at(-1)?.type, { timeout: 10_000 }).toBe('complete');
      const statuses = messages.filter((m) => m.type === 'next').map((m) => m.payload!.data!.executionUpdated.execution.status);
      expect(statuses.at(-1)).toBe('SUCCEEDED');
      expect(['QUEUED', 'RUNNING']).toContain(statuses[0]);
    } finally {
      socket.terminate();
    }
  });
});

describe('CLI arguments', () => {
  let marks: { argv: string; guarded: string };
  const victim = () => path.join(scratch, 'victim');

  beforeAll(async () => {
    marks = { argv: path.join(scratch, 'argv-ran'), guarded: path.join(scratch, 'guarded-ran') };
    await mkdir(victim());
    await new ToolService(registry.db.fork()).importManual(
      'cli',
      manual([
        manualTool({
          name: 'argv',
          inputs: { type: 'object', properties: { msg: { type: 'string' } }, required: ['msg'] },
          outputs: {},
          tool_call_template: { call_template_type: 'cli', commands: [{ command: `"${NODE}" "${CLI_TOOL}" echo UTCP_ARG_msg_UTCP_END` }], env_vars: { MARK_FILE: marks.argv } },
        }),
        echoCliTool(),
        manualTool({
          name: 'guarded',
          inputs: { type: 'object', properties: { name: { type: 'string', pattern: '^[^-]' } }, required: ['name'] },
          outputs: {},
          tool_call_template: {
            call_template_type: 'cli',
            commands: [{ command: `"${NODE}" "${CLI_TOOL}" echo --name UTCP_ARG_name_UTCP_END` }],
            env_vars: { MARK_FILE: marks.guarded },
          },
        }),
      ]),
      INLINE_MANUAL,
    );
  });

  const injections = (): Array<[string, string, string | null]> => [
    ['a command list', `; rm -rf ${victim()}`, null],
    ['command substitution', `$(touch ${path.join(scratch, 'pwned-substitution')})`, path.join(scratch, 'pwned-substitution')],
    ['backticks', `\`touch ${path.join(scratch, 'pwned-backticks')}\``, path.join(scratch, 'pwned-backticks')],
    ['a newline', `harmless\ntouch ${path.join(scratch, 'pwned-newline')}`, path.join(scratch, 'pwned-newline')],
  ];

  it('passes each injection attempt to the program as one inert argv element, with no side effect', async () => {
    for (const [what, value, pwned] of injections()) {
      const execution = await execute('cli.argv', { msg: value });
      expect(execution.status, what).toBe('SUCCEEDED');
      expect((execution.result as { argv: string[] }).argv, what).toEqual([value]);

      const echoed = await execute('cli.echo', { msg: value });
      expect(echoed.status, what).toBe('SUCCEEDED');
      expect(echoed.result, what).toBe(value);
      if (pwned) expect(existsSync(pwned), `${what} created ${pwned}`).toBe(false);
    }
    expect(existsSync(marks.argv)).toBe(true);
    expect(existsSync(victim())).toBe(true);
  });

  it('lets an input pattern refuse an option-looking argument as INVALID_ARGUMENTS before anything runs', async () => {
    const refused = await execute('cli.guarded', { name: '--output=/etc/passwd' });
    expect(refused).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_ARGUMENTS', details: { errors: [{ path: '$.name', message: 'must match pattern "^[^-]"' }] } } });
    expect(existsSync(marks.guarded)).toBe(false);

    const allowed = await execute('cli.guarded', { name: 'report.txt' });
    expect(allowed.status).toBe('SUCCEEDED');
    expect((allowed.result as { argv: string[] }).argv).toEqual(['--name', 'report.txt']);
    expect(existsSync(marks.guarded)).toBe(true);
  });
});
