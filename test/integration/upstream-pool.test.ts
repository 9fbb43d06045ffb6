import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { status result error { code message } } }`;

interface Execution {
  status: string;
  result: unknown;
  error: { code: string; message: string } | null;
}

let registry: TestRegistry;
let server: Server;
let origin = '';
let agent = '';
/** TCP connections the upstream accepted, and the requests it answered, per route. */
const upstream = { connections: 0, requests: [] as string[] };

beforeAll(async () => {
  server = createServer((req, res) => {
    upstream.requests.push(req.url ?? '');
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {"tick": 1}\n\ndata: {"tick": 2}\n\n');
      return;
    }
    if (req.url?.startsWith('/host')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ host: req.headers.host, forwarded: req.headers['x-forwarded-host'] ?? null }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url }));
  });
  server.on('connection', () => upstream.connections++);
  // A WebSocket peer on the same server answers each message with the Host its handshake carried.
  new WebSocketServer({ server }).on('connection', (socket, req) => {
    socket.on('message', () => socket.send(JSON.stringify({ host: req.headers.host })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  await new ToolService(registry.db.fork()).importManual(
    'pool',
    manual([
      manualTool({
        name: 'item',
        inputs: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        outputs: {},
        tool_call_template: { call_template_type: 'http', url: `${origin}/items/{id}`, http_method: 'GET' },
      }),
      manualTool({ name: 'feed', inputs: { type: 'object' }, outputs: { type: 'array' }, tool_call_template: { call_template_type: 'sse', url: `${origin}/events` } }),
      manualTool({
        name: 'vhost',
        inputs: { type: 'object', properties: { Host: { type: 'string' } } },
        outputs: {},
        tool_call_template: { call_template_type: 'http', url: `${origin}/host`, http_method: 'GET', headers: { Host: 'admin.internal', 'X-Forwarded-Host': 'kept.example' }, header_fields: ['Host'] },
      }),
      manualTool({
        name: 'wshost',
        inputs: { type: 'object', properties: { Host: { type: 'string' } } },
        outputs: {},
        tool_call_template: { call_template_type: 'websocket', url: `${origin.replace('http:', 'ws:')}/ws`, headers: { Host: 'admin.internal' }, header_fields: ['Host'] },
      }),
    ]),
    INLINE_MANUAL,
  );
  agent = await registry.login({ roles: ['agent'] });
});

afterAll(async () => {
  await registry?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function execute(tool: string, args: Record<string, unknown>): Promise<Execution> {
  const res = await registry.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: args } }, { authorization: `Bearer ${agent}` });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

describe('upstream connections are kept alive between tool calls', () => {
  it('runs two HTTP tool calls and an SSE tool call over one upstream TCP connection', async () => {
    const first = await execute('pool.item', { id: 'a' });
    const second = await execute('pool.item', { id: 'b' });
    expect([first.status, second.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect([first.result, second.result]).toEqual([{ path: '/items/a' }, { path: '/items/b' }]);
    expect(upstream.connections).toBe(1);

    // A stream read to its end hands its connection back too.
    const feed = await execute('pool.feed', {});
    expect(feed.status).toBe('SUCCEEDED');
    expect(feed.result).toEqual([{ tick: 1 }, { tick: 2 }]);
    const third = await execute('pool.item', { id: 'c' });
    expect(third.result).toEqual({ path: '/items/c' });
    expect(upstream.requests).toEqual(['/items/a', '/items/b', '/events', '/items/c']);
    expect(upstream.connections).toBe(1);
  });
});

describe('the upstream is addressed by its URL only', () => {
  it("sends the URL's host whatever Host header a tool's template or a caller's argument names (no virtual host behind an allowed address)", async () => {
    const fromTemplate = await execute('pool.vhost', {});
    expect(fromTemplate.status).toBe('SUCCEEDED');
    expect(fromTemplate.result).toEqual({ host: new URL(origin).host, forwarded: 'kept.example' });
    const fromArgument = await execute('pool.vhost', { Host: 'metadata.internal' });
    expect(fromArgument.result).toEqual({ host: new URL(origin).host, forwarded: 'kept.example' });
    // The same on a WebSocket handshake.
    for (const args of [{}, { Host: 'metadata.internal' }]) {
      const ws = await execute('pool.wshost', args);
      expect([ws.status, ws.error]).toEqual(['SUCCEEDED', null]);
      expect(ws.result).toEqual({ host: new URL(origin).host });
    }
  });
});
