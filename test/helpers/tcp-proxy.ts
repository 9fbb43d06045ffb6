import { EventEmitter, once } from 'node:events';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';

/** A TCP proxy on 127.0.0.1 in front of a real server, for tests of what a client does when its connection misbehaves. */
export interface TcpProxy {
  /** `target`'s URL with the proxy's host and port in place of the server's. */
  url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /**
   * Holds what the server sends on connections accepted from now on, until `release`; the
   * client's bytes still reach the server.
   */
  holdReplies(): void;
  /** Sends every held reply and stops holding. */
  release(): void;
  /** Resolves once the `n`-th connection (counting from 1) has sent its first bytes. */
  clientSpoke(n: number): Promise<void>;
  /**
   * Loses the next reply of the server that contains `marker` (on any connection): instead of
   * forwarding it, closes that connection, as a network fault right after the server answered would.
   * For PostgreSQL, `'INSERT 0 1'` is the reply to an autocommit insert of one row, sent once it committed.
   * Resolves once a reply was lost.
   */
  loseReplyContaining(marker: string): Promise<void>;
  /** Closes every open connection, as a network fault or a restarted server would. */
  cut(): void;
  /** Closes every open connection and refuses new ones (closes them at once) until `up`. */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const spoke: boolean[] = [];
  const events = new EventEmitter();
  let holding = false;
  const held: (() => void)[] = [];
  let accepted = 0;
  let losing: { marker: Buffer; lost: () => void } | null = null;
  /** Whether `chunk` is the reply to lose (then the connection is closed). */
  const lose = (chunk: Buffer, client: Socket, server: Socket): boolean => {
    if (!losing || !chunk.includes(losing.marker)) return false;
    const { lost } = losing;
    losing = null;
    client.destroy();
    server.destroy();
    lost();
    return true;
  };

  let refusing = false;
  const proxy = createServer((client) => {
    const n = ++accepted;
    if (refusing) {
      client.destroy();
      return;
    }
    const server = createConnection({ host: upstream.hostname, port: Number(upstream.port) });
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
    }
    client.on('data', (chunk) => {
      if (!spoke[n]) {
        spoke[n] = true;
        events.emit('spoke', n);
      }
      server.write(chunk);
    });
    if (holding) {
      const chunks: Buffer[] = [];
      server.on('data', (chunk: Buffer) => {
        if (lose(chunk, client, server)) return;
        if (holding) chunks.push(chunk);
        else client.write(chunk);
      });
      held.push(() => {
        for (const chunk of chunks.splice(0)) client.write(chunk);
      });
    } else {
      server.on('data', (chunk: Buffer) => {
        if (!lose(chunk, client, server)) client.write(chunk);
      });
    }
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as AddressInfo).port);

  return {
    url: url.toString(),
    get accepted() {
      return accepted;
    },
    holdReplies() {
      holding = true;
    },
    release() {
      holding = false;
      for (const flush of held.splice(0)) flush();
    },
    async clientSpoke(n) {
      while (!spoke[n]) await once(events, 'spoke');
    },
    loseReplyContaining(marker) {
      return new Promise<void>((lost) => (losing = { marker: Buffer.from(marker), lost }));
    },
    cut,
    down() {
      refusing = true;
      cut();
    },
    up() {
      refusing = false;
    },
    async close() {
      cut();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
