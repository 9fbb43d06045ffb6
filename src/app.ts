import { randomUUID } from 'node:crypto';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type GraphQLFormattedError } from 'graphql';
import { type Config } from './config.js';
import { createContext, type RegistryContext } from './context.js';
import { type Database } from './db/database.js';
import { ErrorCode, RegistryError } from './errors.js';
import { type Logger } from './logger.js';
import { type RegistrySchema } from './schema.js';
import { type Security } from './security/index.js';
import { AuthenticationError } from './security/authenticate.js';
import { limitParseOptions, limitValidationRules, queryLimitsPlugin } from './security/limits.js';
import { oauthRoutes } from './security/oauth.routes.js';
import { type EntityManager } from '@mikro-orm/postgresql';

/** What the app is built from; it opens nothing itself. */
export interface AppDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  schema: RegistrySchema;
  security: Security;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/** Codes Apollo and graphql-js put on client errors; anything else is masked as internal. */
const CLIENT_ERROR_CODES = new Set<string>([
  ...Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/** Keeps expected errors as they are and replaces anything unexpected by a generic, coded message. */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const code = formatted.extensions?.code;
  if (original instanceof RegistryError || (typeof code === 'string' && CLIENT_ERROR_CODES.has(code))) {
    const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/** Tells the caller what the operation cost and what is left of the hourly budget. */
function costReporting(): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, response }) {
          const { budget } = contextValue.usage;
          if (!budget || response.body.kind !== 'single') return;
          response.body.singleResult.extensions = {
            ...response.body.singleResult.extensions,
            cost: {
              requested: contextValue.queryCost ?? 1,
              limit: budget.limit,
              remaining: budget.remaining,
              resetAt: budget.resetAt.toISOString(),
            },
          };
        },
      };
    },
  };
}

/** Logs every unexpected error with its request id; the client only sees the masked message. */
function errorLogging(logger: Logger): ApolloServerPlugin<RegistryContext> {
  return {
    async contextCreationDidFail({ error }) {
      if (!(error instanceof RegistryError)) logger.error({ err: error }, 'could not build the request context');
    },
    async requestDidStart() {
      return {
        async didEncounterErrors({ contextValue, errors }) {
          for (const error of errors) {
            const original = unwrapResolverError(error);
            const code = error.extensions?.code;
            if (original instanceof RegistryError || (typeof code === 'string' && CLIENT_ERROR_CODES.has(code))) continue;
            logger.error({ requestId: contextValue.requestId, err: original, path: error.path }, 'unexpected error');
          }
        },
      };
    },
  };
}

function httpError(statusCode: number, code: ErrorCode, message: string) {
  return { statusCode, body: { errors: [{ message, extensions: { code } }] } };
}

/** Maps Fastify's own request errors (body, content type) to coded GraphQL-shaped errors. */
function requestError(error: FastifyError): ReturnType<typeof httpError> {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return httpError(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is larger than the registry accepts');
  }
  if (error.statusCode === 415) {
    return httpError(415, ErrorCode.BAD_REQUEST, 'Send GraphQL requests as application/json');
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return httpError(error.statusCode, ErrorCode.BAD_REQUEST, 'The request could not be read: the body must be valid JSON');
  }
  return httpError(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
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

  await oauthRoutes(app, {
    db,
    tokens: security.tokens,
    keys: security.keys,
    refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
  });

  const contextDeps = { db, budgets: security.budgets, defaultBudgetPerHour: config.limits.costBudgetPerHour, logger };

  /** The request's viewer; a refused token is audited and answered with 401. */
  const authenticate = async (request: FastifyRequest, em: EntityManager) => {
    try {
      return await security.authenticator.authenticate(request.headers.authorization, em);
    } catch (error) {
      if (error instanceof AuthenticationError) {
        await createContext(contextDeps, { requestId: request.id, sourceIp: request.ip, viewer: null }).recordDenial(
          '(authentication)',
          error.message,
        );
      }
      throw error;
    }
  };

  const apollo = new ApolloServer<RegistryContext>({
    schema: schema.schema,
    introspection: config.introspection,
    hideSchemaDetailsFromClientErrors: true,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    maxRecursiveSelections: true,
    validationRules: limitValidationRules(config.limits),
    parseOptions: limitParseOptions(config.limits),
    includeStacktraceInErrorResponses: false,
    logger,
    formatError,
    // Shutdown belongs to main: Fastify drains in-flight requests, then Apollo stops (onClose).
    stopOnTerminationSignals: false,
    plugins: [
      queryLimitsPlugin(schema.schema, config.limits),
      errorLogging(logger),
      costReporting(),
      ...(config.nodeEnv === 'production' ? [ApolloServerPluginLandingPageDisabled()] : []),
    ],
  });
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
        return createContext(contextDeps, { requestId: request.id, sourceIp: request.ip, viewer, em });
      },
    }),
  });

  return app;
}
