import { type Server, type ServerOptions } from 'node:http';
import { type Socket } from 'node:net';
import { type ConnectionsConfig } from '../config.js';
import { type Cidr, parseAddress, parseCidr } from '../common/ip.js';

/**
 * The Fastify server options that bound slow and idle clients:
 * - `connectionTimeout` (socket inactivity) closes a connection silent for the header timeout
 *   before its first request; {@link limitConnections} lifts it once a request arrives, so a quiet
 *   response in progress (a SYNC tool call, an SSE stream) is never cut by it;
 * - `http.headersTimeout` closes one whose headers are still incomplete after that long, however
 *   steadily it trickles them (slowloris);
 * - `requestTimeout` answers 408 to one that has not sent its whole body in time (only the
 *   request's receipt is timed, never the response);
 * - `keepAliveTimeout` closes a keep-alive connection left idle between requests.
 * Upgraded connections (WebSocket subscriptions) leave the HTTP parser, so none of these apply.
 */
export function connectionTimeouts(config: ConnectionsConfig): {
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http: ServerOptions;
} {
  return {
    connectionTimeout: config.headersTimeoutMs,
    keepAliveTimeout: config.idleTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      // Node checks the header and request deadlines on this interval (30 s unless told).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    },
  };
}

/**
 * Caps the open connections of each client address at `maxPerAddress` (0: no cap); a connection
 * over the cap is destroyed before anything is read from it. Connections from trusted proxies are
 * not capped (they carry many clients; the proxy caps its own), which also means that behind a
 * proxy this cap protects only against clients that bypass it. Also lifts the pre-request
 * inactivity timeout of {@link connectionTimeouts} once a request's headers are in.
 */
export function limitConnections(server: Server, config: ConnectionsConfig, trustedProxies: readonly string[]): void {
  server.prependListener('request', (request: { socket: Socket }) => {
    request.socket.setTimeout(0);
  });
  if (config.maxPerAddress <= 0) return;
  const trusted = trustedProxies.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== null);
  const isTrusted = (address: string) => {
    const parsed = parseAddress(address);
    return parsed !== null && trusted.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits));
  };
  const open = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (!address || isTrusted(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= config.maxPerAddress) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
