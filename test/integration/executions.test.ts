import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMcpSessions } from '../../src/executors/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { type Gate, gate, type ScriptedPeer, scriptedPeer, sendJson, sleep } from '../helpers/peers/execution-peer.js';
import { PEER_SCRIPTS, type ProtocolPeers, startPeers } from '../helpers/peers/index.js';
import { type GraphQLResponse, startRegistry, type TestRegistry } from '../helpers/registry.js';

const NODE = process.execPath;
const CLI_TOOL = path.join(PEER_SCRIPTS, 'cli-tool.ts');
const STDIO_SERVER = path.join(PEER_SCRIPTS, 'mcp-stdio-server.ts');
const API_KEY = 'sk-exec-redaction-7f3c9a1e5b2d4c6f';
const PASSWORD = 'hunter2-but-much-longer-9d8c7b';

const EXECUTION_FIELDS = `id toolName status mode arguments result error { code message details } outputValid createdAt startedAt finishedAt durationMs idempotencyKey attempts decision`;
const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { ${EXECUTION_FIELDS} } }`;
const GET = `query($id: ID!) { execution(id: $id) { ${EXECUTION_FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelExecution(id: $id) { ${EXECUTION_FIELDS} } }`;

interface Execution {
  id: string;
  toolName: string;
  status: string;
  mode: string;
  arguments: Record<string, unknown>;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
  outputValid: boolean | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  idempotencyKey: string | null;
  attempts: number;
  decision: { allowed: boolean; reason: string; policy: { name: string } | null } | null;
}

let registry: TestRegistry;
let peers: ProtocolPeers;
let peer: ScriptedPeer;
let fileRoot: string;
let agent: string;
let agentId: string;
let otherAgent: string;
let auditor: string;
let logged = '';
/** Every body the registry answered with (GraphQL over HTTP and WebSocket), checked for secrets at the end. */
const responses: string[] = [];

/** Gates the streaming routes wait on before sending their events (when set). */
let streamGate: Gate | undefined;
/** Whether the counted route answered every call it got. */
const counted = { calls: 0 };

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function gql<T>(query: string, variables: Record<string, unknown>, token: string): Promise<GraphQLResponse<T>> {
  const res = await registry.graphql<T>(query, variables, bearer(token));
  responses.push(JSON.stringify({ data: res.data, errors: res.errors }));
  return res;
}

/** Calls a tool and returns the execution; fails the test on a GraphQL error. */
async function execute(token: string, tool: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Execution> {
  const res = await gql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: args, ...extra } }, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

async function load(token: string, id: string): Promise<Execution | null> {
  const res = await gql<{ execution: Execution | null }>(GET, { id }, token);
  expect(res.errors).toBeUndefined();
  return res.data!.execution;
}

/** Checks the bookkeeping of a call that ran: timings in order and the duration they span. */
function expectTimings(execution: Execution): void {
  expect(execution.startedAt).not.toBeNull();
  expect(execution.finishedAt).not.toBeNull();
  const created = Date.parse(execution.createdAt);
  const started = Date.parse(execution.startedAt!);
  const finished = Date.parse(execution.finishedAt!);
  expect(started).toBeGreaterThanOrEqual(created);
  expect(finished).toBeGreaterThanOrEqual(started);
  expect(execution.durationMs).toBeTypeOf('number');
  expect(Math.abs(execution.durationMs! - (finished - started))).toBeLessThanOrEqual(1);
}

/** Follows `executionUpdated(id)` over graphql-ws until the server completes it; `onFirst` runs on the first message. */
async function follow(token: string, id: string, onFirst?: () => void): Promise<Array<{ execution: Execution; chunk: unknown }>> {
  const client = createClient({
    url: `${registry.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const seen: Array<{ execution: Execution; chunk: unknown }> = [];
  const iterate = (async () => {
    for await (const message of client.iterate<{ executionUpdated: { execution: Execution; chunk: unknown } }>({
      query: `subscription($id: ID!) { executionUpdated(id: $id) { chunk execution { ${EXECUTION_FIELDS} } } }`,
      variables: { id },
    })) {
      responses.push(JSON.stringify(message));
      expect(message.errors, JSON.stringify(message.errors)).toBeUndefined();
      seen.push(message.data!.executionUpdated);
      if (seen.length === 1) onFirst?.();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`subscription did not complete; saw ${JSON.stringify(seen.map((s) => [s.execution.status, s.chunk]))}`)), 10_000);
  });
  try {
    await Promise.race([iterate, timeout]);
  } finally {
    clearTimeout(timer);
    await client.dispose();
  }
  return seen;
}

const until = async (condition: () => boolean, what: string, timeoutMs = 5_000) => {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
};

const SSE_EVENTS = [{ tick: 1 }, { tick: 2, side: 'buy' }, 'done'];
const NDJSON_LINES = [{ line: 1 }, { line: 2 }, { line: 3, last: true }];

beforeAll(async () => {
  peers = await startPeers();
  peer = await scriptedPeer(
    {
      '/items': (req, res, request) => {
        const url = new URL(req.url!, 'http://peer');
        const body = request.body ? (JSON.parse(request.body) as unknown) : null;
        sendJson(res, 200, {
          method: req.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          trace: req.headers['x-trace'] ?? null,
          contentType: req.headers['content-type'] ?? null,
          body,
        });
      },
      '/sse': async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        await streamGate?.opened;
        res.write(': hello\n\ndata: {"tick": 1}\n\n');
        await sleep(15);
        res.write('event: message\ndata: {"tick": 2,\ndata: "side": "buy"}\n\n');
        await sleep(15);
        res.end('data: done\n\n');
      },
      '/ndjson': async (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.flushHeaders();
        await streamGate?.opened;
        for (const line of NDJSON_LINES) {
          res.write(`${JSON.stringify(line)}\n`);
          await sleep(15);
        }
        res.end();
      },
      '/counted': async (_req, res) => {
        counted.calls++;
        await sleep(300);
        sendJson(res, 200, { call: counted.calls });
      },
      '/hang': () => {
        // Never answers: the call ends only by timeout or cancellation.
      },
      '/keyed/manual.json': (_req, res) => sendJson(res, 200, keyedManual()),
      '/keyed/echo': (req, res) => {
        const key = req.headers['x-api-key'];
        const url = new URL(req.url!, 'http://peer');
        sendJson(res, 200, { key, forwarded: req.headers['x-forwarded-key'] ?? null, query: Object.fromEntries(url.searchParams), note: `your key is ${String(key)}` });
      },
      '/keyed/login': (_req, res, request) => sendJson(res, 200, { echoed: JSON.parse(request.body) as unknown }),
      '/keyed/fail': (req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`refused key ${String(req.headers['x-api-key'])}`),
    },
    (message) => {
      const parsed = JSON.parse(message) as { op: string; name: string; count: number };
      return JSON.stringify({ reply: `hello ${parsed.name}`, received: parsed });
    },
  );

  fileRoot = await mkdtemp(path.join(tmpdir(), 'executions-files-'));
  await writeFile(path.join(fileRoot, 'notes.json'), '{"notes": ["first", "second"], "count": 2}');

  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  registry = await startRegistry({
    logStream,
    env: {
      LOG_LEVEL: 'trace',
      REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
      REGISTRY_CLI_ALLOW: NODE,
      REGISTRY_FILE_ROOT: fileRoot,
      REGISTRY_SHUTDOWN_GRACE_MS: '500',
    },
  });

  const item = { type: 'object', properties: { name: { type: 'string' }, qty: { type: 'integer' } }, required: ['name'] };
  await new ToolService(registry.db.fork()).importManual(
    'exec',
    manual([
      manualTool({
        name: 'get_item',
        inputs: { type: 'object', properties: { id: { type: 'string' }, verbose: { type: 'boolean' } }, required: ['id'] },
        outputs: { type: 'object', properties: { method: { const: 'GET' }, path: { type: 'string' } }, required: ['method', 'path'] },
        tool_call_template: { call_template_type: 'http', url: `${peer.url}/items/{id}`, http_method: 'GET' },
      }),
      manualTool({
        name: 'put_item',
        inputs: { type: 'object', properties: { id: { type: 'string' }, item, 'X-Trace': { type: 'string' } }, required: ['id', 'item'] },
        outputs: { type: 'object', required: ['body'] },
        tool_call_template: { call_template_type: 'http', url: `${peer.url}/items/{id}`, http_method: 'PUT', body_field: 'item', header_fields: ['X-Trace'] },
      }),
      manualTool({ name: 'feed', inputs: { type: 'object' }, outputs: { type: 'array' }, tool_call_template: { call_template_type: 'sse', url: `${peer.url}/sse` } }),
      manualTool({
        name: 'logs',
        inputs: { type: 'object' },
        outputs: { type: 'array' },
        tool_call_template: { call_template_type: 'streamable_http', url: `${peer.url}/ndjson`, http_method: 'GET' },
      }),
      manualTool({
        name: 'greet',
        inputs: { type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } }, required: ['name', 'count'] },
        outputs: { type: 'object', required: ['reply'] },
        tool_call_template: {
          call_template_type: 'websocket',
          url: `${peer.wsUrl}/chat`,
          message: { op: 'greet', name: 'UTCP_ARG_name_UTCP_END', count: 'UTCP_ARG_count_UTCP_END' },
          response_format: 'json',
        },
      }),
      manualTool({
        name: 'book',
        inputs: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        outputs: { type: 'object', required: ['title'] },
        tool_call_template: { call_template_type: 'graphql', url: peers.graphqlPeer.url, operation_type: 'query' },
      }),
      manualTool({
        name: 'web_search',
        inputs: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
        outputs: {},
        tool_call_template: { call_template_type: 'mcp', config: { mcpServers: { web: { url: `${peers.mcpHttp.url}/exec` } } } },
      }),
      manualTool({
        name: 'calc_add',
        inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
        outputs: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
        tool_call_template: { call_template_type: 'mcp', config: { mcpServers: { calc: { command: NODE, args: [STDIO_SERVER, '--executor-tools'] } } } },
      }),
      manualTool({
        name: 'shout',
        inputs: { type: 'object', properties: { words: { type: 'string' } }, required: ['words'] },
        outputs: { type: 'string' },
        tool_call_template: { call_template_type: 'cli', commands: [{ command: `"${NODE}" "${CLI_TOOL}" text UTCP_ARG_words_UTCP_END loudly` }] },
      }),
      manualTool({ name: 'motd', inputs: { type: 'object' }, outputs: { type: 'object' }, tool_call_template: { call_template_type: 'text', content: '{"motd": "be kind", "since": 2024}' } }),
      manualTool({ name: 'notes', inputs: { type: 'object' }, outputs: { type: 'object' }, tool_call_template: { call_template_type: 'file', file_path: 'notes.json' } }),
      manualTool({ name: 'counted', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${peer.url}/counted`, http_method: 'GET' } }),
      manualTool({ name: 'hang', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${peer.url}/hang`, http_method: 'GET' } }),
    ]),
    INLINE_MANUAL,
  );

  agent = await registry.login({ roles: ['agent'] });
  otherAgent = await registry.login({ roles: ['agent'] });
  auditor = await registry.login({ roles: ['policy_admin'] });
  const me = await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', {}, bearer(agent));
  agentId = me.data!.me.principal.id;
});

afterAll(async () => {
  await registry?.close();
  await closeMcpSessions();
  await peer?.close();
  await peers?.close();
  if (fileRoot) await rm(fileRoot, { recursive: true, force: true });
});

describe('executing a tool of every executor type', () => {
  const ran: Execution[] = [];

  const cases: Array<[type: string, tool: string, args: Record<string, unknown>, expected: unknown, outputValid: boolean | null]> = [
    [
      'http with a path parameter and a query parameter',
      'exec.get_item',
      { id: 'a b/c', verbose: true },
      { method: 'GET', path: '/items/a%20b%2Fc', query: { verbose: 'true' }, trace: null, contentType: null, body: null },
      true,
    ],
    [
      'http with a body_field and a header field',
      'exec.put_item',
      { id: '42', item: { name: 'lamp', qty: 2 }, 'X-Trace': 'trace-1' },
      { method: 'PUT', path: '/items/42', query: {}, trace: 'trace-1', contentType: 'application/json', body: { name: 'lamp', qty: 2 } },
      true,
    ],
    ['sse', 'exec.feed', {}, SSE_EVENTS, true],
    ['streamable_http', 'exec.logs', {}, NDJSON_LINES, true],
    ['websocket', 'exec.greet', { name: 'Ada', count: 3 }, { reply: 'hello Ada', received: { op: 'greet', name: 'Ada', count: 3 } }, true],
    ['graphql', 'exec.book', { id: '1' }, { id: '1', title: 'Dune', year: 1965, author: { name: 'Frank Herbert' } }, true],
    ['mcp over streamable HTTP', 'exec.web_search', { query: 'registry tests' }, 'registry tests', null],
    ['mcp over stdio', 'exec.calc_add', { a: 2, b: 40 }, { sum: 42 }, true],
    ['cli', 'exec.shout', { words: 'hello  there; world' }, 'hello  there; world loudly', true],
    ['text', 'exec.motd', {}, { motd: 'be kind', since: 2024 }, true],
    ['file', 'exec.notes', {}, { notes: ['first', 'second'], count: 2 }, true],
  ];

  for (const [type, tool, args, expected, outputValid] of cases) {
    it(`runs a ${type} tool for an agent and records the finished execution`, async () => {
      const execution = await execute(agent, tool, args);
      expect(execution.error).toBeNull();
      expect(execution).toMatchObject({ toolName: tool, status: 'SUCCEEDED', mode: 'SYNC', arguments: args, attempts: 1, outputValid });
      expect(execution.result).toEqual(expected);
      expect(execution.decision).toMatchObject({ allowed: true });
      expectTimings(execution);
      ran.push(execution);
    });
  }

  it('sends exactly the request the template describes to the http peer', () => {
    const put = peer.requests.find((r) => r.method === 'PUT');
    expect(put).toMatchObject({ url: '/items/42', body: '{"name":"lamp","qty":2}' });
    expect(put!.headers['x-trace']).toBe('trace-1');
    expect(peer.wsMessages).toContain(JSON.stringify({ op: 'greet', name: 'Ada', count: 3 }));
  });

  it('lists the caller’s executions newest first, filtered by tool and status', async () => {
    expect(ran).toHaveLength(cases.length);
    const res = await gql<{ executions: { totalCount: number; edges: { node: { id: string; status: string } }[] } }>(
      '{ executions(first: 50) { totalCount edges { node { id status } } } }',
      {},
      agent,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.executions.edges.map((e) => e.node.id)).toEqual(ran.map((e) => e.id).reverse());
    expect(res.data!.executions.totalCount).toBe(cases.length);

    const filtered = await gql<{ executions: { edges: { node: { id: string } }[] } }>(
      'query($f: ExecutionFilter) { executions(first: 50, filter: $f) { edges { node { id } } } }',
      { f: { tool: 'exec.calc_add', status: ['SUCCEEDED'] } },
      agent,
    );
    expect(filtered.data!.executions.edges.map((e) => e.node.id)).toEqual([ran.find((e) => e.toolName === 'exec.calc_add')!.id]);
    const none = await gql<{ executions: { totalCount: number } }>(
      'query($f: ExecutionFilter) { executions(filter: $f) { totalCount } }',
      { f: { tool: 'exec.calc_add', status: ['FAILED'] } },
      agent,
    );
    expect(none.data!.executions.totalCount).toBe(0);
  });

  it('hides an execution from another principal, and shows every principal’s to audit:read', async () => {
    const mine = ran[0]!;
    expect(await load(agent, mine.id)).toMatchObject({ id: mine.id, status: 'SUCCEEDED' });
    expect(await load(otherAgent, mine.id)).toBeNull();
    const others = await gql<{ executions: { totalCount: number } }>('{ executions { totalCount } }', {}, otherAgent);
    expect(others.data!.executions.totalCount).toBe(0);

    expect(await load(auditor, mine.id)).toMatchObject({ id: mine.id, result: mine.result });
    const all = await gql<{ executions: { totalCount: number; edges: { node: { id: string } }[] } }>(
      'query($f: ExecutionFilter) { executions(first: 50, filter: $f) { totalCount edges { node { id } } } }',
      { f: { principal: agentId } },
      auditor,
    );
    expect(all.data!.executions.totalCount).toBe(cases.length);
    expect(new Set(all.data!.executions.edges.map((e) => e.node.id))).toEqual(new Set(ran.map((e) => e.id)));
  });
});

describe('following an ASYNC call through executionUpdated', () => {
  for (const [tool, expected] of [
    ['exec.feed', SSE_EVENTS],
    ['exec.logs', NDJSON_LINES],
  ] as const) {
    it(`streams the chunks of ${tool} as they arrive, then the final SUCCEEDED state`, async () => {
      streamGate = gate();
      try {
        const started = await execute(agent, tool, {}, { mode: 'ASYNC' });
        expect(started.mode).toBe('ASYNC');
        expect(['QUEUED', 'RUNNING']).toContain(started.status);
        expect(started.result).toBeNull();
        // The peer holds its events until the subscriber has the current state. (An id is a UUID,
        // whatever its case.)
        const id = tool === 'exec.logs' ? started.id.toUpperCase() : started.id;
        const seen = await follow(agent, id, () => streamGate!.open());

        expect(['QUEUED', 'RUNNING']).toContain(seen[0]!.execution.status);
        expect(seen[0]!.chunk).toBeNull();
        const chunks = seen.filter((s) => s.chunk !== null);
        expect(chunks.map((s) => s.chunk)).toEqual(expected);
        for (const update of chunks) expect(update.execution.status).toBe('RUNNING');
        const last = seen.at(-1)!;
        expect(last.chunk).toBeNull();
        expect(last.execution).toMatchObject({ id: started.id, status: 'SUCCEEDED', result: expected });
        expectTimings(last.execution);
        expect(seen.filter((s) => s.execution.status === 'SUCCEEDED')).toHaveLength(1);
      } finally {
        streamGate = undefined;
      }
    });
  }

  it('refuses to follow another principal’s execution', async () => {
    const mine = await execute(agent, 'exec.motd', {});
    const client = createClient({ url: `${registry.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: bearer(otherAgent), retryAttempts: 0 });
    try {
      const messages: unknown[] = [];
      const error = await (async () => {
        try {
          for await (const message of client.iterate({ query: 'subscription($id: ID!) { executionUpdated(id: $id) { execution { id } } }', variables: { id: mine.id } })) {
            messages.push(message);
          }
          return undefined;
        } catch (thrown) {
          return thrown;
        }
      })();
      responses.push(JSON.stringify(messages));
      expect(JSON.stringify(error ?? messages)).toContain('NOT_FOUND');
      expect(JSON.stringify(messages)).not.toContain('be kind');
    } finally {
      await client.dispose();
    }
  });
});

describe('idempotency keys', () => {
  it('runs 50 concurrent calls with one key from one principal once, and answers all with that execution', async () => {
    const before = counted.calls;
    const input = { tool: 'exec.counted', arguments: {}, idempotencyKey: 'order-7f3c-retry' };
    const answers = await Promise.all(Array.from({ length: 50 }, () => gql<{ executeTool: Execution }>(EXECUTE, { input }, agent)));
    for (const answer of answers) expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    const executions = answers.map((a) => a.data!.executeTool);
    expect(new Set(executions.map((e) => e.id)).size).toBe(1);
    expect(counted.calls - before).toBe(1);
    expect(peer.hits('/counted')).toBe(1);
    for (const execution of executions) {
      expect(execution).toMatchObject({ status: 'SUCCEEDED', idempotencyKey: 'order-7f3c-retry', result: { call: before + 1 } });
    }

    // A later retry gets the stored execution too, without another call.
    const retry = await execute(agent, 'exec.counted', {}, { idempotencyKey: 'order-7f3c-retry' });
    expect(retry.id).toBe(executions[0]!.id);
    expect(peer.hits('/counted')).toBe(1);

    // The key is the principal's own: another principal's call with it runs.
    const other = await execute(otherAgent, 'exec.counted', {}, { idempotencyKey: 'order-7f3c-retry' });
    expect(other.id).not.toBe(executions[0]!.id);
    expect(other).toMatchObject({ status: 'SUCCEEDED', result: { call: before + 2 } });
    expect(peer.hits('/counted')).toBe(2);

    // Reusing the key for another tool is a mistake, not a retry.
    const misuse = await gql<{ executeTool: Execution }>(EXECUTE, { input: { tool: 'exec.motd', arguments: {}, idempotencyKey: 'order-7f3c-retry' } }, agent);
    expect(misuse.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });
});

describe('ASYNC calls and cancellation', () => {
  it('answers an ASYNC call to a hanging peer at once, cancels it, aborts the peer’s request and audits it', async () => {
    const began = Date.now();
    const started = await execute(agent, 'exec.hang', {}, { mode: 'ASYNC', timeoutMs: 20_000 });
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(['QUEUED', 'RUNNING']).toContain(started.status);
    expect(started.finishedAt).toBeNull();
    await until(() => peer.hits('/hang') === 1, 'the peer to get the call');
    expect((await load(agent, started.id))!.status).toBe('RUNNING');

    // Nobody else may cancel it, and it does not tell them it exists.
    const refused = await gql<{ cancelExecution: Execution }>(CANCEL, { id: started.id }, otherAgent);
    expect(refused.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await load(agent, started.id))!.status).toBe('RUNNING');

    const cancelled = await gql<{ cancelExecution: Execution }>(CANCEL, { id: started.id }, agent);
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data!.cancelExecution).toMatchObject({ id: started.id, status: 'CANCELLED', error: { code: 'CANCELLED' } });
    expect(cancelled.data!.cancelExecution.finishedAt).not.toBeNull();

    const request = peer.requests.find((r) => r.route === '/hang')!;
    await until(() => request.aborted, 'the peer’s request to be aborted');
    // The aborted call does not overwrite the cancellation when it unwinds.
    await sleep(200);
    expect(await load(agent, started.id)).toMatchObject({ status: 'CANCELLED', error: { code: 'CANCELLED' }, result: null });

    // Cancelling an ended call changes nothing.
    const again = await gql<{ cancelExecution: Execution }>(CANCEL, { id: started.id }, agent);
    expect(again.data!.cancelExecution.status).toBe('CANCELLED');
    const done = await execute(agent, 'exec.motd', {});
    const late = await gql<{ cancelExecution: Execution }>(CANCEL, { id: done.id }, agent);
    expect(late.data!.cancelExecution).toMatchObject({ status: 'SUCCEEDED', result: { motd: 'be kind', since: 2024 } });

    const audit = await gql<{ auditLog: { edges: { node: { action: string; outcome: string; actorId: string; details: Record<string, unknown> } }[] } }>(
      'query($f: AuditLogFilter) { auditLog(first: 100, filter: $f) { edges { node { action outcome actorId details } } } }',
      { f: { action: 'tool.execute' } },
      registry.adminToken,
    );
    expect(audit.errors).toBeUndefined();
    const entries = audit.data!.auditLog.edges.map((e) => e.node).filter((n) => n.details.executionId === started.id);
    expect(entries).toEqual([
      { action: 'tool.execute', outcome: 'FAILURE', actorId: agentId, details: expect.objectContaining({ tool: 'exec.hang', status: 'cancelled', code: 'CANCELLED' }) },
    ]);
  });
});

function keyedManual() {
  const echo = { call_template_type: 'http', url: `${peer.url}/keyed/echo`, http_method: 'GET' };
  return manual([
    manualTool({ name: 'echo_key', inputs: { type: 'object', properties: { q: { type: 'string' } } }, outputs: {}, tool_call_template: echo }),
    manualTool({
      name: 'forward_key',
      inputs: { type: 'object' },
      outputs: {},
      tool_call_template: { ...echo, headers: { 'X-Forwarded-Key': '${auth_api_key}' } },
    }),
    manualTool({
      name: 'login',
      inputs: {
        type: 'object',
        properties: { body: { type: 'object', properties: { user: { type: 'string' }, password: { type: 'string', format: 'password' } }, required: ['user', 'password'] } },
        required: ['body'],
      },
      outputs: {},
      tool_call_template: { call_template_type: 'http', url: `${peer.url}/keyed/login`, http_method: 'POST' },
    }),
    manualTool({ name: 'fail_key', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${peer.url}/keyed/fail`, http_method: 'GET' } }),
  ]);
}

describe('secrets in executions', () => {
  let publisher: string;

  beforeAll(async () => {
    publisher = await registry.login({ roles: ['publisher'] });
    const res = await gql<{ registerProvider: { provider: { id: string } | null; created: string[]; userErrors: unknown[] } }>(
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } created userErrors { field message code } } }`,
      {
        input: {
          name: 'keyed',
          callTemplate: { call_template_type: 'http', url: `${peer.url}/keyed/manual.json`, http_method: 'GET' },
          credential: { authType: 'api_key', apiKey: API_KEY, varName: 'X-Api-Key', location: 'header' },
        },
      },
      publisher,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.created.sort()).toEqual(['keyed.echo_key', 'keyed.fail_key', 'keyed.forward_key', 'keyed.login']);
  });

  it('authenticates with the provider’s credential but shows [REDACTED] where the peer echoes the key', async () => {
    const execution = await execute(agent, 'keyed.echo_key', { q: '${auth_api_key}' });
    expect(execution.status).toBe('SUCCEEDED');
    // The peer got the real key; an argument naming the variable stays a literal string.
    const received = peer.requests.filter((r) => r.route === '/keyed/echo').at(-1)!;
    expect(received.headers['x-api-key']).toBe(API_KEY);
    expect(received.url).toBe(`/keyed/echo?q=${encodeURIComponent('${auth_api_key}')}`);
    expect(execution.result).toEqual({ key: '[REDACTED]', forwarded: null, query: { q: '${auth_api_key}' }, note: 'your key is [REDACTED]' });
    expect((await load(agent, execution.id))!.result).toEqual(execution.result);
  });

  it('substitutes ${auth_api_key} in a tool’s template, and redacts it in the result as well', async () => {
    const execution = await execute(agent, 'keyed.forward_key', {});
    expect(peer.requests.filter((r) => r.route === '/keyed/echo').at(-1)!.headers['x-forwarded-key']).toBe(API_KEY);
    expect(execution.result).toEqual({ key: '[REDACTED]', forwarded: '[REDACTED]', query: {}, note: 'your key is [REDACTED]' });
  });

  it('keeps the key out of the error of a call the peer refuses while echoing it', async () => {
    const execution = await execute(agent, 'keyed.fail_key', {});
    expect(execution.status).toBe('FAILED');
    expect(execution.error!.code).toBe('EXECUTION_FAILED');
    expect(execution.error!.message).toContain('HTTP 500');
    expect(execution.error!.message).toContain('refused key');
    expect(JSON.stringify(execution.error)).not.toContain(API_KEY);
  });

  it('stores a format: password argument redacted, and scrubs it from the result the peer echoes', async () => {
    const execution = await execute(agent, 'keyed.login', { body: { user: 'alice', password: PASSWORD } });
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(peer.requests.filter((r) => r.route === '/keyed/login').at(-1)!.body)).toEqual({ user: 'alice', password: PASSWORD });
    expect(execution.arguments).toEqual({ body: { user: 'alice', password: '[REDACTED]' } });
    expect(execution.result).toEqual({ echoed: { user: 'alice', password: '[REDACTED]' } });
    expect(await load(auditor, execution.id)).toMatchObject({ arguments: execution.arguments, result: execution.result });
  });

  it('leaves the key and the password in no response body, log line, stored execution or audit entry', async () => {
    const em = registry.db.fork();
    const dump = JSON.stringify([await em.execute('select arguments, result, error from execution'), await em.execute('select details from audit_entry')]);
    expect(responses.join('\n')).toContain('[REDACTED]');
    expect(logged.length).toBeGreaterThan(1000);
    for (const secret of [API_KEY, PASSWORD]) {
      const leaks = { responses: responses.filter((r) => r.includes(secret)), log: logged.split('\n').filter((line) => line.includes(secret)), database: dump.includes(secret) };
      expect(leaks, `where ${secret.slice(0, 8)}… leaked`).toEqual({ responses: [], log: [], database: false });
    }
  });
});
