/**
 * A scriptable HTTP + WebSocket peer for execution tests: each test file gives it routes (by path
 * prefix) and the peer records every request, counts hits per route, and notes which requests the
 * client abandoned before the answer was complete (a cancelled or timed-out call).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { listen } from './index.js';

/** One request as the peer saw it. */
export interface PeerRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** The route (path prefix) that answered it. */
  route: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client went away before the answer ended. */
  aborted: boolean;
  /** The answer ended normally. */
  finished: boolean;
}

export type Route = (req: IncomingMessage, res: ServerResponse, request: PeerRequest) => unknown;

/** Answers one WebSocket text message; undefined sends nothing. */
export type WebSocketHandler = (message: string, request: IncomingMessage) => string | undefined;

export interface ScriptedPeer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>` (the same server) */
  wsUrl: string;
  requests: PeerRequest[];
  /** Requests answered by `route` so far. */
  hits(route: string): number;
  /** Text messages the WebSocket side received. */
  wsMessages: string[];
  close(): Promise<void>;
}

/** A promise to open later: peers wait on it so a test decides when an answer continues. */
export interface Gate {
  opened: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts the peer. A request goes to the route with the longest matching path prefix; none: 404.
 * WebSocket upgrades on any path go to `onMessage`.
 */
export async function scriptedPeer(routes: Record<string, Route>, onMessage?: WebSocketHandler): Promise<ScriptedPeer> {
  const requests: PeerRequest[] = [];
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = prefixes.find((prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    const entry: PeerRequest = { method: req.method ?? '', url: req.url ?? '', route: route ?? '', headers: req.headers, body: '', aborted: false, finished: false };
    res.on('finish', () => (entry.finished = true));
    res.on('close', () => {
      if (!entry.finished) entry.aborted = true;
    });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      entry.body = body;
      requests.push(entry);
      if (!route) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      void Promise.resolve(routes[route]!(req, res, entry)).catch(() => res.destroy());
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });
  const wsMessages: string[] = [];
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => {
        const text = data.toString();
        wsMessages.push(text);
        const reply = onMessage?.(text, req);
        if (reply !== undefined) ws.send(reply);
      });
    });
  });
  const url = await listen(server);
  return {
    url,
    wsUrl: url.replace(/^http:/, 'ws:'),
    requests,
    hits: (route) => requests.filter((r) => r.route === route).length,
    wsMessages,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes the JSON answer of a route. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

/**
 * Streams `x` in 64 KiB pieces, honouring back-pressure, until `progress.sent` (what was written so
 * far, in all) reaches `total` or the client goes away; then ends the answer unless `end` is false.
 * Resolves when it stopped.
 */
export async function streamBytes(res: ServerResponse, total: number, progress: { sent: number }, end = true): Promise<void> {
  const piece = Buffer.alloc(64 * 1024, 'x');
  const gone = once(res, 'close').then(() => 'closed' as const);
  while (progress.sent < total && !res.destroyed) {
    const size = Math.min(piece.length, total - progress.sent);
    progress.sent += size;
    if (!res.write(size === piece.length ? piece : piece.subarray(0, size))) {
      if ((await Promise.race([once(res, 'drain').then(() => 'drained' as const), gone])) === 'closed') return;
    }
  }
  if (end && !res.destroyed) res.end();
}

/** A TCP server that answers every connection with `garbage` (not HTTP) and closes it. */
export async function garbageServer(garbage: Buffer | string): Promise<{ url: string; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.end(garbage);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback URL where nothing listens (a port that was just released). */
export async function refusingUrl(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
