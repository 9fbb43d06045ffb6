import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../src/modules/audit/index.js';
import { EXECUTE, type ExecutionView, type Watch, watchedRegistry } from './helpers/watch.js';

// Providers that misbehave in every way a network peer can: refusing, resetting, hanging before or
// after the headers, trickling bytes, closing mid-body or mid-stream, redirecting in circles or
// into private address space, sending oversized headers or a decompression bomb. Each call ends as
// a stored execution with a coded error and its audit entry, within its deadline, and the registry
// keeps serving. The provider authenticates with a canary credential that must leak nowhere.

const MAX_BYTES = 1024 * 1024;
let watch: Watch;
let agent: string;
let peer: Server;
let peerOrigin: string;
let silent: TcpServer;
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();

/** Writes `piece` every `everyMs` until the client goes away. */
function trickle(res: ServerResponse, piece: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    res.write(piece);
  }, everyMs);
  timers.add(timer);
  res.on('close', () => clearInterval(timer));
}

const BOMB = gzipSync(Buffer.alloc(64 * 1024 * 1024, '0'));

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/trickle': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"a":"');
    trickle(res, 'x', 100);
  },
  '/headers-then-hang': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
  },
  '/cut': (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write(`{"secret":"${req.headers['x-api-key']}","rest":"`.padEnd(100, 'x'), () => req.socket.destroy());
  },
  '/cut-chunked': (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"partial": [1, 2, 3', () => setTimeout(() => req.socket.destroy(), 20));
  },
  '/reset': (req) => req.socket.resetAndDestroy(),
  '/empty': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(),
  '/redirect-loop': (req, res) => res.writeHead(302, { location: req.url ?? '/redirect-loop' }).end(),
  '/redirect-private': (_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
  '/huge-header': (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'x-filler': 'y'.repeat(200 * 1024) }).end('{}'),
  '/gzip-bomb': (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(BOMB),
  '/manual-unstorable': (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ utcp_version: '1.1.0', manual_version: '1', tools: [{ name: 'nul', description: 'a\u0000b \ud800', inputs: { type: 'object' }, tool_call_template: { call_template_type: 'text', content: 'x' } }] }),
    ),
  '/echo-error': (req, res) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream said no to key ${req.headers['x-api-key']}`),
  '/sse-cut': (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"n": 1}\n\n');
    res.write('data: {"n": ', () => setTimeout(() => req.socket.destroy(), 20));
  },
  '/sse-trickle': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    trickle(res, 'data: {"tick": true}\n\n', 100);
  },
  '/stream-cut': (req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write('{"n": 1}\n{"n": ', () => setTimeout(() => req.socket.destroy(), 20));
  },
  '/stream-trickle': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    trickle(res, '{"tick": true}\n', 100);
  },
};

interface Fault {
  tool: string;
  template: (http: string, ws: string, tcp: string) => Record<string, unknown>;
  /** Acceptable outcomes: status and error code. */
  outcomes: { status: string; code?: string }[];
  timeoutMs?: number;
}

const httpTool = (route: string) => (http: string) => ({ call_template_type: 'http', url: `${http}${route}`, http_method: 'GET' });
const failed = (...codes: string[]) => codes.map((code) => ({ status: 'FAILED', code }));
const TIMED_OUT = { status: 'TIMED_OUT', code: 'UPSTREAM_TIMEOUT' };

const faults: Fault[] = [
  { tool: 'refused', template: () => ({ call_template_type: 'http', url: 'http://127.0.0.1:9/x', http_method: 'GET' }), outcomes: failed('UPSTREAM_UNAVAILABLE') },
  { tool: 'reset', template: httpTool('/reset'), outcomes: failed('UPSTREAM_UNAVAILABLE') },
  { tool: 'silent_tcp', template: (_h, _w, tcp) => ({ call_template_type: 'http', url: `${tcp}/x`, http_method: 'GET' }), outcomes: [TIMED_OUT], timeoutMs: 1000 },
  { tool: 'headers_then_hang', template: httpTool('/headers-then-hang'), outcomes: [TIMED_OUT], timeoutMs: 1000 },
  { tool: 'trickle', template: httpTool('/trickle'), outcomes: [TIMED_OUT], timeoutMs: 1000 },
  { tool: 'cut', template: httpTool('/cut'), outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED') },
  { tool: 'cut_chunked', template: httpTool('/cut-chunked'), outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED') },
  { tool: 'empty', template: httpTool('/empty'), outcomes: [{ status: 'SUCCEEDED' }] },
  { tool: 'redirect_loop', template: httpTool('/redirect-loop'), outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED', 'EGRESS_DENIED') },
  { tool: 'redirect_private', template: httpTool('/redirect-private'), outcomes: failed('EGRESS_DENIED') },
  { tool: 'huge_header', template: httpTool('/huge-header'), outcomes: failed('UPSTREAM_UNAVAILABLE', 'UPSTREAM_TOO_LARGE') },
  { tool: 'gzip_bomb', template: httpTool('/gzip-bomb'), outcomes: failed('UPSTREAM_TOO_LARGE') },
  { tool: 'echo_error', template: httpTool('/echo-error'), outcomes: failed('EXECUTION_FAILED') },
  { tool: 'sse_cut', template: (http) => ({ call_template_type: 'sse', url: `${http}/sse-cut` }), outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED') },
  { tool: 'sse_trickle', template: (http) => ({ call_template_type: 'sse', url: `${http}/sse-trickle` }), outcomes: [TIMED_OUT], timeoutMs: 1000 },
  {
    tool: 'stream_cut',
    template: (http) => ({ call_template_type: 'streamable_http', url: `${http}/stream-cut`, http_method: 'GET', content_type: 'application/x-ndjson' }),
    outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED'),
  },
  {
    tool: 'stream_trickle',
    template: (http) => ({ call_template_type: 'streamable_http', url: `${http}/stream-trickle`, http_method: 'GET', content_type: 'application/x-ndjson' }),
    outcomes: [TIMED_OUT],
    timeoutMs: 1000,
  },
  { tool: 'ws_close', template: (_h, ws) => ({ call_template_type: 'websocket', url: `${ws}/close`, message: 'hello' }), outcomes: failed('UPSTREAM_UNAVAILABLE', 'EXECUTION_FAILED') },
  { tool: 'ws_silent', template: (_h, ws) => ({ call_template_type: 'websocket', url: `${ws}/silent`, message: 'hello' }), outcomes: [TIMED_OUT], timeoutMs: 1000 },
  { tool: 'ws_refused', template: () => ({ call_template_type: 'websocket', url: 'ws://127.0.0.1:9/x', message: 'hello' }), outcomes: failed('UPSTREAM_UNAVAILABLE') },
];

beforeAll(async () => {
  silent = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const tcp = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;

  let http = '';
  peer = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/manual') {
      const ws = http.replace(/^http/, 'ws');
      const tools = faults.map((f) => ({ name: f.tool, description: `fault: ${f.tool}`, inputs: { type: 'object' }, outputs: {}, tool_call_template: f.template(http, ws, tcp) }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ utcp_version: '1.1.0', manual_version: '1.0.0', tools }));
    }
    const route = routes[path];
    if (!route) return void res.writeHead(404).end();
    route(req, res);
  });
  peer.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ server: peer });
  wss.on('connection', (socket, req) => {
    socket.on('message', () => {
      if (req.url === '/close') socket.terminate();
      // `/silent` never answers.
    });
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  http = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  peerOrigin = http;

  watch = await watchedRegistry({ env: { REGISTRY_EXECUTION_MAX_BYTES: String(MAX_BYTES) } });
  const publisher = await watch.registry.login({ roles: ['publisher'] });
  const registered = await watch.gql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
    'mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { created userErrors { field message code } } }',
    {
      input: {
        name: 'faulty',
        callTemplate: { call_template_type: 'http', url: `${http}/manual`, http_method: 'GET' },
        credential: { authType: 'api_key', apiKey: watch.canary('faulty-key'), varName: 'X-Api-Key', location: 'header' },
      },
    },
    publisher,
  );
  expect(registered.data!.registerProvider.userErrors).toEqual([]);
  expect(registered.data!.registerProvider.created).toHaveLength(faults.length);
  agent = await watch.registry.login({ roles: ['agent'] });
  await watch.exercise(agent);
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const socket of sockets) socket.destroy();
  await watch?.close();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
});

describe(`providers that misbehave (${faults.length} faults)`, () => {
  it.each(faults)('$tool: a stored execution with a coded outcome and its audit entry, within the deadline', async ({ tool, outcomes, timeoutMs }) => {
    const began = Date.now();
    const res = await watch.gql<{ executeTool: ExecutionView }>(EXECUTE, { input: { tool: `faulty.${tool}`, arguments: {}, timeoutMs: timeoutMs ?? 5_000 } }, agent);
    expect(res.status).toBe(200);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    const execution = res.data!.executeTool;
    const outcome = { status: execution.status, ...(execution.error ? { code: execution.error.code } : {}) };
    expect(outcomes, JSON.stringify(execution).slice(0, 500)).toContainEqual(outcome);
    // Deadlines hold: the call never outlives its timeout by much, whatever the peer does.
    expect(Date.now() - began).toBeLessThan((timeoutMs ?? 5_000) + 4_000);
    const audit = await watch.registry.db.fork().execute<{ outcome: string }[]>(
      `select outcome from audit_entry where action = 'tool.execute' and details->>'executionId' = ?`,
      [execution.id],
    );
    expect(audit).toHaveLength(1);
    // The registry keeps answering.
    expect((await watch.gql('{ me { scopes } }', {}, agent)).data).toMatchObject({ me: { scopes: expect.any(Array) } });
  });

  it('refuses a manual holding text PostgreSQL cannot store as INVALID_MANUAL, storing nothing', async () => {
    const publisher = await watch.registry.login({ roles: ['publisher'] });
    const res = await watch.gql<{ registerProvider: { provider: unknown; userErrors: { code: string; message: string }[] } }>(
      'mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { code message } } }',
      { input: { name: 'unstorable', callTemplate: { call_template_type: 'http', url: `${peerOrigin}/manual-unstorable`, http_method: 'GET' } } },
      publisher,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerProvider.provider).toBeNull();
    expect(res.data!.registerProvider.userErrors).toEqual([{ code: 'INVALID_MANUAL', message: expect.stringContaining('$.tools[0].description') }]);
  });

  it('leaves a verifiable audit chain, no call unfinished, and no canary anywhere', async () => {
    const em = watch.registry.db.fork();
    const open = await em.execute<{ n: string }[]>(`select count(*) as n from execution where status in ('queued', 'running')`);
    expect(Number(open[0]!.n)).toBe(0);
    expect(await new AuditService(watch.registry.db.fork()).verify()).toMatchObject({ valid: true });
    await watch.expectNoLeaks();
  });
});
