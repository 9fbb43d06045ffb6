import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { type GraphQLFormattedError } from 'graphql';
import { type Config } from './config.js';
import { type RegistryContext } from './context.js';
import { ErrorCode, RegistryError } from './errors.js';
import { type Logger } from './logger.js';
import { type RegistrySchema } from './schema.js';
import { limitParseOptions, limitValidationRules, queryLimitsPlugin } from './security/limits.js';

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

/**
 * The Apollo server of the registry: the guarded subgraph schema, the query limits, coded and
 * masked errors, no batching, CSRF prevention. Shutdown belongs to the caller (`stop()`).
 */
export function createApollo(
  schema: RegistrySchema,
  config: Config,
  logger: Logger,
  extraPlugins: ApolloServerPlugin<RegistryContext>[] = [],
): ApolloServer<RegistryContext> {
  return new ApolloServer<RegistryContext>({
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
      ...extraPlugins,
      ...(config.nodeEnv === 'production' ? [ApolloServerPluginLandingPageDisabled()] : []),
    ],
  });
}
