import { createServer, type Server } from 'node:http';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type EventBus } from '../common/event-bus.js';
import { type Database } from '../db/database.js';
import { ErrorCode } from '../errors.js';
import { CHAIN_SPAN } from '../modules/audit/audit.chains.js';
import { type Viewer } from '../modules/principal/index.js';
import { AuthenticationError } from '../security/authenticate.js';
import { Scope } from '../security/scopes.js';
import { metrics, type ScrapeSources } from './metrics.js';

/** What a scrape answers: Prometheus's text format. */
export type MetricsReader = () => Promise<{ contentType: string; body: string }>;

/** The gauges' sources in a serving process: its event bus, its database pool, the audit log. */
export function scrapeSources(db: Database, events: EventBus): ScrapeSources {
  return {
    eventBusConnected: () => events.deliveryEpoch() !== null,
    pool: () => db.poolStats(),
    async audit() {
      // Chain c holds c·2^40+1 … its head: its length is head − c·2^40, whatever the number of chains.
      const [row] = await db.fork().execute<{ entries: string | null; newest: string | Date | null }[]>(
        `select (select sum(seq - id::bigint * ${CHAIN_SPAN})::text from audit_chain) as entries, (select max(at) from audit_checkpoint) as newest`,
      );
      return { entries: Number(row?.entries ?? 0), newestCheckpoint: row?.newest ? new Date(row.newest) : null };
    },
  };
}

function refusal(code: ErrorCode, message: string) {
  return { errors: [{ message, extensions: { code } }] };
}

/**
 * `GET /metrics` on the main port: only to a bearer token with `metrics:read` (or admin). No or a
 * bad token is 401 (a bad one audited, as everywhere), a token without the scope 403.
 */
export function metricsRoute(app: FastifyInstance, authenticate: (request: FastifyRequest) => Promise<Viewer | null>, read: MetricsReader = () => metrics.text()): void {
  app.get('/metrics', async (request, reply) => {
    let viewer: Viewer | null;
    try {
      viewer = await authenticate(request);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      return reply.status(401).header('www-authenticate', 'Bearer').send(refusal(ErrorCode.UNAUTHENTICATED, error.message));
    }
    if (!viewer) return reply.status(401).header('www-authenticate', 'Bearer').send(refusal(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token'));
    if (!viewer.isAdmin && !viewer.scopes.has(Scope.METRICS_READ)) {
      return reply.status(403).send(refusal(ErrorCode.FORBIDDEN, 'Reading metrics requires the metrics:read scope'));
    }
    const { contentType, body } = await read();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}

/**
 * The metrics listener of `REGISTRY_METRICS_PORT`: answers `GET /metrics` without authentication
 * (bind it where only the scraper reaches, 127.0.0.1 by default) and nothing else. Resolves with
 * the server and the address it listens on.
 */
export async function listenForMetrics(host: string, port: number, read: MetricsReader): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: scrape GET /metrics\n');
      return;
    }
    read().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : body),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = address && typeof address === 'object' ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { server, url: `http://${shownHost}:${actualPort}/metrics` };
}
