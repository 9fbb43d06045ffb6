import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy in front of PostgreSQL that counts the statements clients send: simple
 * queries ('Q') and extended-protocol queries (one 'S' Sync each, as node-postgres sends them).
 * For profiling only: it adds a hop to every database round trip.
 */
export class StatementCounter {
  statements = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: { host: string; port: number };

  private constructor(server: Server, upstream: { host: string; port: number }) {
    this.server = server;
    this.upstream = upstream;
  }

  /** Listens on a free loopback port; returns the counter and `databaseUrl` rewritten to go through it. */
  static async start(databaseUrl: string): Promise<{ counter: StatementCounter; url: string }> {
    const target = new URL(databaseUrl);
    const server = createServer();
    const counter = new StatementCounter(server, { host: target.hostname, port: Number(target.port || 5432) });
    server.on('connection', (client) => counter.relay(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxied = new URL(databaseUrl);
    proxied.hostname = '127.0.0.1';
    proxied.port = String((server.address() as AddressInfo).port);
    return { counter, url: proxied.href };
  }

  private relay(client: Socket): void {
    const server = connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client).add(server);
    server.pipe(client);
    let pending: Buffer = Buffer.alloc(0);
    let startup = true;
    client.on('data', (chunk: Buffer) => {
      server.write(chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        // The startup message (and an SSL or GSS request) has no type byte.
        const header = startup ? 4 : 5;
        if (pending.length < header) break;
        const length = startup ? pending.readInt32BE(0) : pending.readInt32BE(1) + 1;
        if (pending.length < length) break;
        if (startup) {
          const code = pending.readInt32BE(4);
          if (code !== 80877103 && code !== 80877104) startup = false;
        } else {
          const type = String.fromCharCode(pending[0]!);
          if (type === 'Q' || type === 'S') this.statements += 1;
        }
        pending = pending.subarray(length);
      }
    });
    const close = () => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('close', close).on('error', close);
    server.on('close', close).on('error', close);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}
