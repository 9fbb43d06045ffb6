import { randomUUID } from 'node:crypto';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { type EntityManager } from '@mikro-orm/postgresql';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type Config } from './config.js';
import { createApollo } from './apollo.js';
import { createContext } from './context.js';
import { type Database } from './db/database.js';
import { ErrorCode } from './errors.js';
import { type Logger } from './logger.js';
import { type RegistrySchema } from './schema.js';
import { type Security } from './security/index.js';
import { AuthenticationError } from './security/authenticate.js';
import { oauthRoutes } from './security/oauth.routes.js';
import { closeMcpSessions, EXECUTORS } from './executors/index.js';
import { ExecutionEvents, ExecutionRuntime } from './modules/execution/index.js';
import { clientAddress } from './modules/policy/index.js';
import { attachSubscriptions } from './subscriptions.js';
import { mcpRoutes } from './interop/mcp.routes.js';
import { utcpRoutes } from './interop/utcp.routes.js';
import { type Viewer } from './modules/principal/index.js';

/** What the app is built from; it opens nothing itself. */
export interface AppDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  schema: RegistrySchema;
  security: Security;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

function httpError(statusCode: number, code: ErrorCode, message: string) {
  return { statusCode, body: { errors: [{ message, extensions: { code } }] } };
}

/** Maps Fastify's own request errors (body, content type) to coded GraphQL-shaped errors. */
function requestError(error: FastifyError): ReturnType<typeof httpError> {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return httpError(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is larger than the registry accepts');
  }
  if (error.statusCode === 415) {
    return httpError(415, ErrorCode.BAD_REQUEST, 'Send requests as application/json');
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return httpError(error.statusCode, ErrorCode.BAD_REQUEST, 'The request could not be read: the body must be valid JSON');
  }
  return httpError(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
}

/** The process's execution runtime: every registered executor, the configured limits and egress rules. */
export function createExecutionRuntime(config: Config, db: Database, security: Security, logger: Logger): ExecutionRuntime {
  return new ExecutionRuntime({
    db,
    vault: security.vault,
    logger,
    limiter: security.executionLimiter,
    events: new ExecutionEvents(),
    executors: EXECUTORS,
    egress: security.discovery.egress,
    cliAllow: security.discovery.cliAllow,
    fileRoot: security.discovery.fileRoot,
    ...config.execution,
  });
}

/**
 * Builds the HTTP server: `/graphql` (Apollo), `/healthz` (process alive), `/readyz` (database
 * answers). Never listens itself; `close()` drains in-flight requests and stops Apollo.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, db, logger, schema, security } = deps;
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
    return503OnClosing: true,
  });

  // Once shutdown begins, responses to requests still in flight close their connection, so
  // keep-alive sockets do not hold the process open until the grace period runs out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onSend', async (request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { statusCode, body } = requestError(error);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.status(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ errors: [{ message: `No route ${request.method} ${request.url.split('?')[0]}`, extensions: { code: ErrorCode.NOT_FOUND } }] }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    try {
      await db.ping();
      return { status: 'ready', database: db.kind };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      return reply.status(503).send({ status: 'unavailable', database: db.kind });
    }
  });

  /** The client address: the socket's, or X-Forwarded-For's as far as configured trusted proxies vouch for it. */
  const sourceIpOf = (request: { socket: { remoteAddress?: string }; headers: Record<string, string | string[] | undefined> }) => {
    const forwarded = request.headers['x-forwarded-for'];
    return clientAddress(request.socket.remoteAddress ?? '', Array.isArray(forwarded) ? forwarded.join(',') : forwarded, config.trustedProxies);
  };

  await oauthRoutes(app, {
    db,
    tokens: security.tokens,
    keys: security.keys,
    refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
    sourceIp: (request) => sourceIpOf(request.raw),
  });

  const runtime = createExecutionRuntime(config, db, security, logger);
  app.addHook('onReady', async () => {
    await runtime.start();
  });
  app.addHook('onClose', async () => {
    await runtime.stop(config.shutdownGraceMs);
    await closeMcpSessions();
  });

  const contextDeps = {
    db,
    budgets: security.budgets,
    defaultBudgetPerHour: config.limits.costBudgetPerHour,
    logger,
    registration: { vault: security.vault, discovery: security.discovery },
    runtime,
  };

  /** The request's viewer; a refused token is audited and answered with 401. */
  const authenticate = async (request: FastifyRequest, em: EntityManager) => {
    try {
      return await security.authenticator.authenticate(request.headers.authorization, em);
    } catch (error) {
      if (error instanceof AuthenticationError) {
        await createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), viewer: null }).recordDenial(
          '(authentication)',
          error.message,
        );
      }
      throw error;
    }
  };

  const apollo = createApollo(schema, config, logger);
  await apollo.start();
  app.addHook('onClose', async () => {
    await apollo.stop();
  });

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: fastifyApolloHandler(apollo, {
      context: async (request: FastifyRequest) => {
        const em = db.fork();
        const viewer = await authenticate(request, em);
        return createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), viewer, em });
      },
    }),
  });

  const interop = {
    authenticate: (request: FastifyRequest) => authenticate(request, db.fork()),
    context: (request: FastifyRequest, viewer: Viewer) => createContext(contextDeps, { requestId: request.id, sourceIp: sourceIpOf(request.raw), viewer }),
  };
  await mcpRoutes(app, interop);
  await utcpRoutes(app, interop);

  attachSubscriptions(app, {
    schema: schema.schema,
    limits: config.limits,
    logger,
    authenticate: (authorization) => security.authenticator.authenticate(authorization, db.fork()),
    sourceIp: sourceIpOf,
    context: (viewer, sourceIp, requestId) => createContext(contextDeps, { requestId, sourceIp, viewer }),
  });

  return app;
}
