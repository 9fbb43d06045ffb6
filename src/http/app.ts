import { randomUUID } from 'node:crypto';
import { HeaderMap } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { type EntityManager } from '@mikro-orm/postgresql';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type Config } from '../config.js';
import { createApollo, databaseOutageAnswers } from './apollo.js';
import { CatalogCache, type FastPathCaller } from './catalog-cache.js';
import { catalogVisibility, createContext } from '../context.js';
import { nestsDeeperThan } from '../common/json-values.js';
import { isGraphQLRequestBody } from '../common/graphql-request.js';
import { type Database } from '../db/database.js';
import { DATABASE_UNAVAILABLE_MESSAGE, DatabaseOutage } from '../db/unavailable.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { type Logger } from '../logger.js';
import { type RegistrySchema } from '../schema.js';
import { type Security } from '../security/index.js';
import { LimitGate } from '../security/limit-gate.js';
import { budgetHeaders } from '../security/budgets.js';
import { AuthenticationError, type ExpectedResource } from '../security/authenticate.js';
import { audienceOf, RESOURCE_METADATA_PATH, resourceOfRoute, type ResourcePath } from '../security/resources.js';
import { listenOrigin } from '../security/access-tokens.js';
import { type OAuthDependencies, oauthRoutes } from '../security/oauth.routes.js';
import { consoleSessionRoutes } from '../security/console-session.routes.js';
import { REQUEST_SIGNING_JWKS_PATH } from '../security/request-signing.js';
import { connectionTimeouts, limitConnections } from '../security/connection-limits.js';
import { closeMcpSessions, EXECUTORS } from '../executors/index.js';
import { AlertWebhook, SecurityMonitor } from '../modules/alert/index.js';
import { AuditCheckpointer, AuditCheckpointSigner } from '../modules/audit/index.js';
import { ExecutionEvents, ExecutionRuntime } from '../modules/execution/index.js';
import { clientAddress, PolicyService } from '../modules/policy/index.js';
import { CatalogEvents } from '../modules/tool/index.js';
import { type RegistrationDependencies } from '../modules/provider/index.js';
import { attachSubscriptions } from './subscriptions.js';
import { HSTS, httpsServerOptions } from './tls.js';
import { mcpRoutes } from '../interop/mcp.routes.js';
import { utcpRoutes } from '../interop/utcp.routes.js';
import { consoleRoutes } from './console.routes.js';
import { auditExportRoutes } from './audit-export.routes.js';
import { type Viewer } from '../modules/principal/index.js';
import { graphqlMetrics, requestOperationName } from '../observability/graphql-metrics.js';
import { metrics } from '../observability/metrics.js';
import { metricsRoute, scrapeSources } from '../observability/metrics.routes.js';
import { context, propagation, type Span, SpanKind, startTracing, trace, tracer } from '../observability/tracing.js';

/** What the app is built from; it opens nothing itself. */
export interface AppDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  schema: RegistrySchema;
  security: Security;
  /** The security monitor's clock (ms since the epoch); tests move it to drive rule windows and hours. */
  alertClock?: () => number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/** Deepest nesting of objects and arrays a JSON request body may have. */
export const MAX_JSON_DEPTH = 64;

/** A request the JSON body parser refuses: invalid UTF-8, or nested too deep to handle safely. */
class UnreadableBody extends Error {
  readonly statusCode = 400;
}

function httpError(statusCode: number, code: ErrorCode, message: string) {
  return { statusCode, body: { errors: [{ message, extensions: { code } }] } };
}

/** Maps Fastify's own request errors (body, content type) to coded GraphQL-shaped errors. */
function requestError(error: FastifyError): ReturnType<typeof httpError> {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return httpError(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is larger than the registry accepts');
  }
  if (error instanceof UnreadableBody) return httpError(400, ErrorCode.BAD_REQUEST, error.message);
  if (error.statusCode === 415) {
    return httpError(415, ErrorCode.BAD_REQUEST, 'Send requests as application/json');
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return httpError(error.statusCode, ErrorCode.BAD_REQUEST, 'The request could not be read: the body must be valid JSON');
  }
  return httpError(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
}

/**
 * The answer to a request that failed because the database is unavailable: 503, `Retry-After`, code
 * UNAVAILABLE, in the shape of the route's protocol (UTCP's `{ error }`, MCP's JSON-RPC error,
 * else GraphQL's `{ errors }`).
 */
function unavailableAnswer(route: string | undefined, retryAfterSeconds: number): { statusCode: number; body: unknown } {
  const error = { code: ErrorCode.UNAVAILABLE, message: DATABASE_UNAVAILABLE_MESSAGE };
  if (route === '/utcp' || route === '/tools/:name/call') return { statusCode: 503, body: { error: { ...error, details: { retryAfterSeconds } } } };
  if (route === '/mcp') {
    return { statusCode: 503, body: { jsonrpc: '2.0', id: null, error: { code: -32000, message: error.message, data: { code: error.code, retryAfterSeconds } } } };
  }
  return { statusCode: 503, body: { errors: [{ message: error.message, extensions: { code: error.code, retryAfterSeconds } }] } };
}

/** What provider registration and refresh work with: the vault, the discovery rules, catalog events. */
export function registrationDependencies(security: Security): RegistrationDependencies {
  return { vault: security.vault, discovery: security.discovery, catalogEvents: new CatalogEvents(security.events) };
}

/** Signs and verifies checkpoints of the audit chain with the registry's signing keys, and logs each new one. */
export function auditCheckpointSigner(config: Config, security: Security, logger: Logger): AuditCheckpointSigner {
  return new AuditCheckpointSigner(security.keys, () => security.tokens.issuer, logger);
}

/** The process's anomaly detection: counts in `security.alertCounters`, alerts to the database, the bus and (when configured) the webhook. */
export function createSecurityMonitor(config: Config, db: Database, security: Security, logger: Logger, options: { clock?: () => number; webhook?: AlertWebhook } = {}): SecurityMonitor {
  return new SecurityMonitor({
    db,
    counters: security.alertCounters,
    bus: security.events,
    logger,
    deliver: Boolean(config.alerts.webhookUrl),
    onRaised: () => options.webhook?.poke(),
    clock: options.clock,
  });
}

/** The process's execution runtime: every registered executor, the configured limits and egress rules. */
export function createExecutionRuntime(config: Config, db: Database, security: Security, logger: Logger, monitor?: SecurityMonitor): ExecutionRuntime {
  return new ExecutionRuntime({
    onCall: monitor ? (call) => monitor.observe(call) : undefined,
    db,
    vault: security.vault,
    logger,
    limiter: security.executionLimiter,
    events: new ExecutionEvents(security.events),
    executors: EXECUTORS,
    egress: security.discovery.egress,
    requestSigner: security.requestSigner,
    cliAllow: security.discovery.cliAllow,
    fileRoot: security.discovery.fileRoot,
    ...config.execution,
  });
}

/**
 * Builds the HTTP server: `/graphql` (Apollo), `/healthz` (process alive), `/readyz` (database
 * answers); HTTPS (with HSTS on every response) when `config.tls` is set, its files read here
 * (throws TlsFilesError when they cannot be used). Never listens itself; `close()` drains in-flight
 * requests and stops Apollo.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, db, logger, schema, security } = deps;
  const timeouts = connectionTimeouts(config.connections);
  // Serving TLS: an https server (Node's http options, the timeouts, go with the TLS ones).
  const https = config.tls ? { ...timeouts.http, ...(await httpsServerOptions(config.tls)) } : null;
  const scheme = https ? 'https' : 'http';
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    ...timeouts,
    https,
    // Refused with a coded 503 by the onRequest hook below instead of Fastify's uncoded one.
    return503OnClosing: false,
  }) as unknown as FastifyInstance;

  limitConnections(app.server, config.connections, config.trustedProxies);

  // Requests failing because the database is away are answered 503 + Retry-After; the outage is
  // logged once when it starts and once when a probe finds the database back.
  const outage = new DatabaseOutage(() => db.ping(1000), logger);
  app.addHook('onClose', async () => {
    outage.stop();
  });

  // Once shutdown begins, responses to requests still in flight close their connection, so
  // keep-alive sockets do not hold the process open until the grace period runs out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Browsers that reached the registry over TLS keep to https for this host from then on.
    if (https) reply.header('strict-transport-security', HSTS);
    if (closing) {
      const { statusCode, body } = httpError(503, ErrorCode.UPSTREAM_UNAVAILABLE, 'The registry is shutting down; try again on another instance');
      return reply.status(statusCode).send(body);
    }
    // A query string whose percent-encoding is not UTF-8 is refused, not decoded with U+FFFD.
    const query = request.url.indexOf('?');
    if (query !== -1) {
      try {
        decodeURIComponent(request.url.slice(query + 1));
      } catch {
        const { statusCode, body } = httpError(400, ErrorCode.BAD_REQUEST, 'The query string is not valid UTF-8 percent-encoding');
        return reply.status(statusCode).send(body);
      }
    }
  });
  app.addHook('onSend', async (request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // With tracing on, a server span per request, child of the caller's `traceparent` when sent; it is
  // the active span from the handler on (after the body is read). Named by the route pattern only:
  // the URL may carry a query string with secrets.
  const tracing = startTracing(config.tracing);
  if (tracing) {
    await tracing;
    const spans = new WeakMap<FastifyRequest, { span: Span; parent: ReturnType<typeof context.active> }>();
    app.addHook('onRequest', (request, reply, done) => {
      const parent = propagation.extract(context.active(), request.headers);
      const route = request.routeOptions.url ?? 'unmatched';
      const span = tracer.startSpan(`${request.method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route } }, parent);
      spans.set(request, { span, parent });
      done();
    });
    app.addHook('preHandler', (request, reply, done) => {
      const traced = spans.get(request);
      if (!traced) return done();
      context.with(trace.setSpan(traced.parent, traced.span), done);
    });
    app.addHook('onResponse', async (request, reply) => {
      const traced = spans.get(request);
      traced?.span.setAttribute('http.response.status_code', reply.statusCode);
      traced?.span.end();
    });
    app.addHook('onClose', async () => {
      await (await tracing).flush();
    });
  }

  // Requests by route pattern (never the raw URL) and status class, with their latency.
  app.addHook('onResponse', async (request, reply) => {
    const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status_class: `${Math.floor(reply.statusCode / 100)}xx` };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });

  // JSON bodies must be valid UTF-8 (no silent U+FFFD substitution) and nested at most
  // MAX_JSON_DEPTH levels, so no handler recurses through attacker-chosen depth.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      return done(new UnreadableBody('The request body is not valid UTF-8'), undefined);
    }
    parseJson(request, text, (error, value) => {
      if (error) return done(error, undefined);
      if (nestsDeeperThan(value, MAX_JSON_DEPTH)) return done(new UnreadableBody(`The request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      done(null, value);
    });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (outage.observe(error)) {
      const { statusCode, body } = unavailableAnswer(request.routeOptions.url, outage.retryAfterSeconds);
      return reply.status(statusCode).header('retry-after', String(outage.retryAfterSeconds)).send(body);
    }
    const { statusCode, body } = requestError(error);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.status(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ errors: [{ message: `No route ${request.method} ${request.url.split('?')[0]}`, extensions: { code: ErrorCode.NOT_FOUND } }] }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  // The public halves of the request-signing keys, apart from the token JWKS so no token verifier ever trusts them.
  app.get(REQUEST_SIGNING_JWKS_PATH, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(security.requestSigner.jwks),
  );

  app.get('/readyz', async (request, reply) => {
    try {
      await db.ping();
      return { status: 'ready', database: db.kind };
    } catch (error) {
      if (!outage.observe(error)) request.log.warn({ err: error }, 'readiness check failed');
      return reply.status(503).send({ status: 'unavailable', database: db.kind });
    }
  });

  /** The client address: the socket's, or X-Forwarded-For's as far as configured trusted proxies vouch for it. */
  const sourceIpOf = (request: { socket: { remoteAddress?: string }; headers: Record<string, string | string[] | undefined> }) => {
    const forwarded = request.headers['x-forwarded-for'];
    return clientAddress(request.socket.remoteAddress ?? '', Array.isArray(forwarded) ? forwarded.join(',') : forwarded, config.trustedProxies);
  };

  /** The registry's base URL as the caller reaches it. */
  const originOf = (request: { protocol: string; host: string }) => config.publicUrl ?? `${request.protocol}://${request.host}`;

  // The issuer is REGISTRY_PUBLIC_URL, else the origin the registry listens on (known only now).
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (config.publicUrl || !address || typeof address !== 'object') return;
    security.tokens.useIssuer(listenOrigin(address.address, address.port, scheme));
    if (address.address === '0.0.0.0' || address.address === '::' || config.database.kind === 'postgresql') {
      // Replicas refuse each other's tokens unless they agree on the issuer.
      logger.warn({ issuer: security.tokens.issuer }, 'no REGISTRY_PUBLIC_URL: the token issuer is the listen origin; set it so every replica and client agree');
    }
  });

  // Anomaly detection and alerts: events are queued on the answer path and evaluated after it.
  const { webhookUrl, webhookSecret, webhookRetryBaseMs } = config.alerts;
  const alertWebhook =
    webhookUrl && webhookSecret
      ? new AlertWebhook({ db, url: webhookUrl, secret: webhookSecret, egress: security.discovery.egress, logger, retryBaseMs: webhookRetryBaseMs })
      : undefined;
  const securityMonitor = createSecurityMonitor(config, db, security, logger, { clock: deps.alertClock, webhook: alertWebhook });
  app.addHook('onReady', async () => {
    await securityMonitor.start();
    alertWebhook?.start();
  });
  app.addHook('onClose', async () => {
    await securityMonitor.close();
    await alertWebhook?.stop();
  });

  const oauthDependencies: OAuthDependencies = {
    onFailure: (failure) => securityMonitor.observe({ kind: 'auth_failure', ...failure }),
    db,
    tokens: security.tokens,
    keys: security.keys,
    refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
    throttle: security.loginThrottle,
    outage,
    sourceIp: (request) => sourceIpOf(request.raw),
    principalChanges: security.tokenHolders,
    clients: config.oauth,
    vault: security.vault,
    registrations: security.oauthRegistrations,
    origin: originOf,
  };
  await oauthRoutes(app, oauthDependencies);
  if (config.console) await consoleSessionRoutes(app, oauthDependencies);

  const runtime = createExecutionRuntime(config, db, security, logger, securityMonitor);
  app.addHook('onReady', async () => {
    await runtime.start();
  });
  app.addHook('onClose', async () => {
    await runtime.stop(config.shutdownGraceMs);
    await closeMcpSessions();
  });

  // Checkpoints of the audit chain's head, signed with the registry's key, every so often.
  const auditSigner = auditCheckpointSigner(config, security, logger);
  const checkpointer = new AuditCheckpointer(db, auditSigner, config.auditCheckpointSeconds, logger);
  app.addHook('onReady', async () => {
    checkpointer.start();
  });
  app.addHook('onClose', async () => {
    await checkpointer.stop();
  });

  const contextDeps = {
    db,
    auditSigner,
    budgets: security.budgets,
    defaultBudgetPerHour: config.limits.costBudgetPerHour,
    logger,
    registration: registrationDependencies(security),
    runtime,
    policyCache: security.policies,
    principalChanges: security.tokenHolders,
    securityMonitor,
  };

  /** The resource a request is for (RFC 8707): its token's `aud` must name it. */
  const expectedResource = (request: FastifyRequest, path: ResourcePath): ExpectedResource => ({
    audience: audienceOf(security.tokens.issuer, path),
    metadataUrl: `${originOf(request)}${RESOURCE_METADATA_PATH}${path}`,
  });

  /** The request's viewer; a refused token is audited and answered with 401. */
  const authenticate = async (request: FastifyRequest, em: EntityManager) => {
    try {
      return await security.authenticator.authenticate(request.headers.authorization, em, { resource: expectedResource(request, resourceOfRoute(request.routeOptions.url)) });
    } catch (error) {
      if (error instanceof AuthenticationError) {
        await createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), origin: originOf(request), viewer: null }).recordDenial(
          '(authentication)',
          error.message,
        );
      }
      throw error;
    }
  };

  const catalogCache = config.catalogCache.maxBytes > 0 ? new CatalogCache(security.events, logger, config.catalogCache) : null;
  app.addHook('onReady', async () => {
    await catalogCache?.start();
  });
  app.addHook('onClose', async () => {
    catalogCache?.stopListening();
  });

  metrics.configure({ operations: config.metrics.operations, maxToolLabels: config.metrics.maxToolLabels });
  const unobserve = metrics.observe(scrapeSources(db, security.events));
  app.addHook('onClose', async () => {
    unobserve();
  });
  // Without a listener of its own, `/metrics` is served here to `metrics:read` (or admin) tokens.
  if (config.metrics.port === undefined) metricsRoute(app, (request) => authenticate(request, db.fork()));

  const limitGate = new LimitGate(schema.schema, config.limits);
  const apollo = createApollo(schema, config, logger, [graphqlMetrics(), databaseOutageAnswers(outage), ...(catalogCache ? [catalogCache.plugin()] : [])]);
  await apollo.start();
  app.addHook('onClose', async () => {
    await apollo.stop();
  });

  const apolloHandler = fastifyApolloHandler(apollo, {
    context: async (request: FastifyRequest) => {
      const em = db.fork();
      try {
        const viewer = await authenticate(request, em);
        return createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), origin: originOf(request), viewer, em });
      } catch (error) {
        if (!outage.observe(error)) throw error;
        // Apollo answers a failed context with this error's status and headers.
        const retryAfter = String(outage.retryAfterSeconds);
        throw new RegistryError(ErrorCode.UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, {
          retryAfterSeconds: outage.retryAfterSeconds,
          http: { status: 503, headers: new HeaderMap([['retry-after', retryAfter]]) },
        });
      }
    },
  });

  /** The caller of a cached catalog read, as the full path would see it; null to let the full path answer. */
  const fastPathCaller = async (request: FastifyRequest): Promise<FastPathCaller | null> => {
    const em = db.fork();
    let viewer: Viewer | null;
    try {
      viewer = await security.authenticator.authenticate(request.headers.authorization, em, { resource: expectedResource(request, '/graphql'), uncounted: true });
    } catch {
      return null;
    }
    if (!viewer) return null;
    return {
      viewer,
      readFilter: () => catalogVisibility(new PolicyService(em, security.policies), viewer, sourceIpOf(request.raw)),
      charge: (cost) => security.budgets.charge(viewer.principalId, cost, viewer.costBudgetPerHour ?? config.limits.costBudgetPerHour),
    };
  };

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: async function (request, reply) {
      // Only JSON POSTs (never simple requests a browser may send cross-site) take the fast paths:
      // a request over the query limits is refused before anything else, a cached one answered.
      const { body } = request;
      if (request.method === 'POST' && request.headers['content-type']?.startsWith('application/json') && isGraphQLRequestBody(body)) {
        const started = performance.now();
        const refused = limitGate.check(body);
        if (refused) {
          metrics.limitRefusals.inc({ limit: 'query_limits' });
          metrics.graphqlOperation(requestOperationName(body), 'unknown', 'error', (performance.now() - started) / 1000);
          return reply.status(refused.status).type('application/json; charset=utf-8').send(refused.body);
        }
        const cached = await catalogCache?.serve(body, () => fastPathCaller(request));
        if (cached) {
          metrics.graphqlOperation(requestOperationName(body), 'query', 'success', (performance.now() - started) / 1000);
          return reply.headers(budgetHeaders(cached.budget)).type('application/json; charset=utf-8').send(cached.body);
        }
      }
      return apolloHandler.call(this, request as never, reply as never);
    },
  });

  const interop = {
    authenticate: (request: FastifyRequest) => authenticate(request, db.fork()),
    context: (request: FastifyRequest, viewer: Viewer) =>
      createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), origin: originOf(request), viewer }),
    origin: originOf,
    issuer: () => security.tokens.issuer,
  };
  await mcpRoutes(app, interop);
  await utcpRoutes(app, interop);
  await auditExportRoutes(app, { db, authenticate: interop.authenticate });
  if (config.console) await consoleRoutes(app);

  attachSubscriptions(app, {
    schema: schema.schema,
    limits: config.limits,
    logger,
    authenticate: (authorization) =>
      security.authenticator.authenticate(authorization, db.fork(), {
        resource: {
          audience: audienceOf(security.tokens.issuer, '/graphql'),
          metadataUrl: `${config.publicUrl ?? security.tokens.issuer}${RESOURCE_METADATA_PATH}/graphql`,
        },
      }),
    sourceIp: sourceIpOf,
    context: (viewer, sourceIp, requestId, origin) => createContext(contextDeps, { requestId, sourceIp, origin, viewer }),
    origin: (request) => config.publicUrl ?? `${scheme}://${request.headers.host ?? 'localhost'}`,
    recheckMs: config.subscriptionRecheckMs,
  });

  return app;
}
