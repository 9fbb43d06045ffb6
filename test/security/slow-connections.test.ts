import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type LiveSubscription, subscribe } from '../helpers/subscriptions.js';

// Raw TCP clients against a registry whose connection timeouts are set low: a client that sends
// its headers or its body too slowly, or keeps a connection idle, is disconnected; one address
// may hold only so many connections; subscriptions and long calls are not cut by any of it.
// Loopback addresses other than 127.0.0.1 stand in for other hosts (Linux routes all of 127/8).

const LOW_TIMEOUTS = {
  REGISTRY_HEADERS_TIMEOUT_MS: '500',
  REGISTRY_REQUEST_TIMEOUT_MS: '1000',
  REGISTRY_IDLE_TIMEOUT_MS: '500',
  REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
};

/** Far longer than any configured timeout above; a connection still open then was not cut. */
const WELL_AFTER_MS = 8000;

/** A raw connection and what it received; `closed` resolves when the server ends it. */
interface RawConnection {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

async function rawConnection(url: string, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const { port } = new URL(url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress });
  let data = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closedPromise.then(() => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed: closedPromise, isClosed: () => closed };
}

/** Whether the server closed the connection within `ms`. */
async function closedWithin(connection: RawConnection, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([connection.closed.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

/** Writes `text` one byte every `everyMs` until the connection closes or the text ends. */
function trickle(connection: RawConnection, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (connection.isClosed() || i >= text.length) return clearInterval(timer);
    connection.socket.write(text[i]!);
    i += 1;
  }, everyMs);
  void connection.closed.then(() => clearInterval(timer));
}

const open: RawConnection[] = [];
const track = (c: RawConnection) => (open.push(c), c);

/** Ends this side of every raw connection, so the registry's close does not wait for them. */
const destroyOpen = () => {
  for (const c of open.splice(0)) c.socket.destroy();
};

describe('connection timeouts', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ env: LOW_TIMEOUTS });
  });
  afterAll(async () => {
    destroyOpen();
    await registry?.close();
  });

  it('closes a slowloris connection that sends its headers a byte at a time once the header timeout passes', { timeout: 30_000 }, async () => {
    const c = track(await rawConnection(registry.url));
    c.socket.write('GET /healthz HTTP/1.1\r\n');
    trickle(c, `Host: 127.0.0.1\r\n${'X-Padding: slow\r\n'.repeat(200)}\r\n`, 50);
    expect(await closedWithin(c, WELL_AFTER_MS)).toBe(true);
    expect(c.received()).not.toContain('200 OK');
  });

  it('closes a connection that never sends anything', { timeout: 30_000 }, async () => {
    const c = track(await rawConnection(registry.url));
    expect(await closedWithin(c, WELL_AFTER_MS)).toBe(true);
  });

  it('closes a connection that sends its headers and then trickles the body, at the request timeout', { timeout: 30_000 }, async () => {
    const c = track(await rawConnection(registry.url));
    const body = JSON.stringify({ query: `{ __typename ${' '.repeat(2000)}}` });
    c.socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    trickle(c, body, 50);
    expect(await closedWithin(c, WELL_AFTER_MS)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes an idle keep-alive connection after the idle timeout, once its response was sent', { timeout: 30_000 }, async () => {
    const c = track(await rawConnection(registry.url));
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    expect(await closedWithin(c, WELL_AFTER_MS)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('keeps a subscription open well past every timeout, and delivers its events', { timeout: 60_000 }, async () => {
    await new ToolService(registry.db.fork()).importManual('idle', manual([manualTool({ name: 'toggle' })]), INLINE_MANUAL);
    const tool = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "idle.toggle") { id } }', undefined, { authorization: `Bearer ${registry.adminToken}` });
    const toolId = tool.data!.tool.id;
    const toggle = async (enabled: boolean) => {
      const res = await registry.graphql('mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { tool { id } } }', { input: { toolId, enabled } }, {
        authorization: `Bearer ${registry.adminToken}`,
      });
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    };
    const live: LiveSubscription<{ catalogChanged: { toolName: string; tool: { enabled: boolean } } }> = subscribe(registry.url, await registry.login({ roles: ['viewer'] }), 'CatalogChanged');
    try {
      // Live once it has seen a change published after it started.
      for (let seen = false; !seen; ) {
        await toggle(true);
        seen = await live.waitFor((d) => d.catalogChanged.toolName === 'idle.toggle', { timeoutMs: 500 }).then(() => true, () => live.done);
      }
      const from = live.received.length;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(live.done).toBe(false);
      await toggle(false);
      const change = await live.waitFor((d) => d.catalogChanged.toolName === 'idle.toggle' && !d.catalogChanged.tool.enabled, { from });
      expect(change.catalogChanged.tool.enabled).toBe(false);
    } finally {
      await live.close();
    }
  });

  it('answers a call that takes longer than every timeout, on a connection that stays quiet meanwhile', { timeout: 60_000 }, async () => {
    let peer: Server | undefined;
    try {
      peer = createServer((_req, res) => {
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}'), 2500);
      });
      await new Promise<void>((resolve) => peer!.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
      await new ToolService(registry.db.fork()).importManual(
        'quiet',
        manual([manualTool({ name: 'slow', inputs: { type: 'object' }, tool_call_template: { call_template_type: 'http', url: `${url}/slow`, http_method: 'POST' } })]),
        INLINE_MANUAL,
      );
      const agent = await registry.login({ roles: ['agent'] });
      const res = await registry.graphql<{ executeTool: { status: string; result: unknown } }>(
        'mutation { executeTool(input: { tool: "quiet.slow", arguments: {} }) { status result } }',
        undefined,
        { authorization: `Bearer ${agent}` },
      );
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      expect(res.data!.executeTool).toMatchObject({ status: 'SUCCEEDED', result: { slow: true } });
    } finally {
      await new Promise((resolve) => peer?.close(resolve));
    }
  });
});

describe('connections per address', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_MAX_CONNECTIONS_PER_ADDRESS: '5' } });
  });
  afterAll(async () => {
    destroyOpen();
    await registry?.close();
  });

  it('closes the 6th concurrent connection from one address, while another address still connects', { timeout: 30_000 }, async () => {
    const from = '127.0.0.7';
    const held = await Promise.all(Array.from({ length: 5 }, () => rawConnection(registry.url, from).then(track)));
    // Each of the five is served.
    for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await expect.poll(() => held.every((c) => c.received().startsWith('HTTP/1.1 200 ')), { timeout: 10_000 }).toBe(true);

    const sixth = track(await rawConnection(registry.url, from));
    sixth.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await closedWithin(sixth, WELL_AFTER_MS)).toBe(true);
    expect(sixth.received()).toBe('');

    const other = track(await rawConnection(registry.url, '127.0.0.8'));
    other.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await other.closed;
    expect(other.received()).toMatch(/^HTTP\/1\.1 200 /);

    // A freed slot can be taken again.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = track(await rawConnection(registry.url, from));
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await again.closed;
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
  });
});
