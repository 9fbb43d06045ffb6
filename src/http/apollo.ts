import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { type FragmentDefinitionNode, type GraphQLFormattedError, Kind, type OperationTypeNode, type SelectionSetNode } from 'graphql';
import { type Config } from '../config.js';
import { type RegistryContext } from '../context.types.js';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE, type DatabaseOutage, isDatabaseUnavailable } from '../db/unavailable.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { type Logger } from '../logger.js';
import { type RegistrySchema } from '../schema.js';
import { compiledExecution } from './compiled-execution.js';
import { AuthenticationError } from '../security/authenticate.js';
import { budgetHeaders } from '../security/budgets.js';
import { metrics } from '../observability/metrics.js';
import { limitParseOptions, limitValidationRules, queryLimitsPlugin } from '../security/limits.js';
import { publicRootFields } from '../security/rule-tree.js';

/** Codes Apollo and graphql-js put on client errors; anything else is masked as internal. */
const CLIENT_ERROR_CODES = new Set<string>([
  ...Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * graphql-js's hints at the schema ("Did you mean the enum value "EXECUTE"?"). Apollo removes them
 * from validation errors (`hideSchemaDetailsFromClientErrors`), but not from variable coercion errors.
 */
const SCHEMA_HINT = / ?Did you mean [^?]*\?/g;

/** `message` without graphql-js's hints at the schema. */
export const withoutSchemaHints = (message: string): string => message.replace(SCHEMA_HINT, '');

/**
 * Keeps expected errors as they are, without schema hints, codes a database outage UNAVAILABLE
 * (with `retryAfterSeconds`), and replaces anything else unexpected by a generic, coded message.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const code = formatted.extensions?.code;
  if (!(original instanceof RegistryError) && isDatabaseUnavailable(original)) {
    return {
      message: DATABASE_UNAVAILABLE_MESSAGE,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.UNAVAILABLE, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
    };
  }
  if (original instanceof RegistryError || (typeof code === 'string' && CLIENT_ERROR_CODES.has(code))) {
    const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, message: withoutSchemaHints(formatted.message), extensions };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/**
 * Charges the operation's budget points (`queryCharge`, set by the query-limits plugin, which runs
 * first) to an authenticated caller once the operation is known and within the limits, before
 * anything executes. A spent budget refuses the whole request with RATE_LIMITED, HTTP 429 and
 * `Retry-After`. The field rules charge through the same once-per-request `chargeBudget`, so the
 * operation is never charged twice; they remain the charge on paths without this plugin (WebSocket).
 */
function budgetCharging(): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          if (!contextValue.viewer || !operation) return;
          const charged = await contextValue.chargeBudget(contextValue.queryCharge ?? 1);
          if (charged !== true) throw charged;
        },
      };
    },
  };
}

/**
 * Tells the caller what the operation cost and what is left of the hourly budget: the
 * `x-ratelimit-*` headers on every answer to an authenticated caller (the budget as it stands when
 * nothing was charged) and `extensions.cost` on a charged one.
 */
function costReporting(): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, response }) {
          // A field refused early may answer before the charge another field's rule started has settled.
          await contextValue.usage.charging?.catch(() => undefined);
          const { budget } = contextValue.usage;
          const state = budget ?? (await contextValue.peekBudget().catch(() => null));
          if (state) for (const [name, value] of Object.entries(budgetHeaders(state))) response.http.headers.set(name, value);
          if (!budget || response.body.kind !== 'single') return;
          response.body.singleResult.extensions = {
            ...response.body.singleResult.extensions,
            cost: {
              requested: contextValue.queryCharge ?? 1,
              complexity: contextValue.queryCost,
              limit: budget.limit,
              remaining: budget.remaining,
              used: budget.used,
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
            // Logged once per outage by DatabaseOutage, not once per request.
            if (isDatabaseUnavailable(original)) continue;
            logger.error({ requestId: contextValue.requestId, err: original, path: error.path }, 'unexpected error');
          }
        },
      };
    },
  };
}

/**
 * Answers a request that failed because the database is unavailable with HTTP 503 and
 * `Retry-After` (the errors themselves are coded UNAVAILABLE by {@link formatError}), and reports
 * the failure to `outage`, which logs the outage once.
 */
export function databaseOutageAnswers(outage: DatabaseOutage): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      let unavailable = false;
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const original = unwrapResolverError(error);
            if (!(original instanceof RegistryError) && outage.observe(original)) unavailable = true;
          }
        },
        async willSendResponse({ response }) {
          if (!unavailable) return;
          response.http.status = 503;
          response.http.headers.set('retry-after', String(outage.retryAfterSeconds));
        },
      };
    },
  };
}

/** The first root field of `selectionSet` (fragments followed) not in `open`, or null when all are. */
function firstProtectedField(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  open: ReadonlySet<string>,
  seen = new Set<string>(),
): string | null {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!open.has(selection.name.value)) return selection.name.value;
      continue;
    }
    let inner: SelectionSetNode | undefined;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      inner = selection.selectionSet;
    } else {
      if (seen.has(selection.name.value)) continue;
      seen.add(selection.name.value);
      inner = fragments.get(selection.name.value)?.selectionSet;
    }
    const found = inner ? firstProtectedField(inner, fragments, open, seen) : '(unknown fragment)';
    if (found) return found;
  }
  return null;
}

/**
 * A request without a token that selects anything but public root fields is refused before it runs,
 * with HTTP 401 and `WWW-Authenticate: Bearer` (RFC 6750 §3.1), whichever media type it accepts:
 * the GraphQL-over-HTTP spec lets a server refuse a client that may not issue the request with a
 * 401, and the answer has no `data`, as `application/graphql-response+json` requires for a 4xx.
 */
function tokenRequired(publicFields: Map<OperationTypeNode, ReadonlySet<string>>): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation, document }) {
          if (contextValue.viewer || !operation) return;
          const fragments = new Map(
            document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
          );
          const field = firstProtectedField(operation.selectionSet, fragments, publicFields.get(operation.operation) ?? new Set());
          if (field === null) return;
          const type = operation.operation === 'query' ? 'Query' : operation.operation === 'mutation' ? 'Mutation' : 'Subscription';
          await contextValue.recordDenial(`${type}.${field}`, ErrorCode.UNAUTHENTICATED);
          metrics.authFailures.inc({ reason: 'missing_token' });
          throw new AuthenticationError('Authentication required: send a bearer token', 'missing_token');
        },
      };
    },
  };
}

/**
 * Federation traces (`ftv1`, which the `apollo-federation-include-trace` header asks for) only for
 * authenticated callers, and in production only with REGISTRY_FEDERATION_TRACES=true. The gate
 * drops an anonymous caller's header before the inline-trace plugin (which follows it) reads it.
 */
function federationTraces(enabled: boolean): ApolloServerPlugin<RegistryContext>[] {
  if (!enabled) return [ApolloServerPluginInlineTraceDisabled()];
  const gate: ApolloServerPlugin<RegistryContext> = {
    // Synchronous on purpose: Apollo calls every plugin's requestDidStart in order, so this runs first.
    requestDidStart({ contextValue, request }) {
      if (!contextValue.viewer) request.http?.headers.delete('apollo-federation-include-trace');
      return Promise.resolve();
    },
  };
  return [gate, ApolloServerPluginInlineTrace()];
}

/** A `cache-control` header Apollo's cache-control plugin reads as a cacheable hint (and overrides). */
const CACHEABLE_HINT = /^max-age=\d+, (public|private)$/;

/**
 * `cache-control: no-store` on every GraphQL answer, as Apollo's default cache-control plugin sets
 * it for this schema: it declares no `@cacheControl` hints and no resolver sets one, so with the
 * default `maxAge` of 0 no answer is ever cacheable. The default plugin is disabled in its favour:
 * it ran a hook for every resolved field (and Apollo wraps every resolver of the schema as soon as
 * any plugin has such a hook) to reach that same verdict. Like the default plugin, it leaves a header
 * it cannot parse as a hint alone.
 */
function noStore(): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          const existing = response.http.headers.get('cache-control');
          if (!existing || existing === 'no-store' || CACHEABLE_HINT.test(existing)) response.http.headers.set('cache-control', 'no-store');
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
  const options = {
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
      ...federationTraces(config.federationTraces),
      tokenRequired(publicRootFields(schema.schema)),
      queryLimitsPlugin(schema.schema, config.limits),
      errorLogging(logger),
      budgetCharging(),
      costReporting(),
      ...extraPlugins,
      ...(config.nodeEnv === 'production' ? [ApolloServerPluginLandingPageDisabled()] : []),
      // Last, where Apollo would have put its default cache-control plugin.
      ApolloServerPluginCacheControlDisabled(),
      noStore(),
    ],
  };
  // Without the compiled executor, graphql-js executes every operation against the same schema.
  return config.graphqlJit
    ? new ApolloServer<RegistryContext>({ ...options, gateway: compiledExecution(schema.schema) })
    : new ApolloServer<RegistryContext>({ ...options, schema: schema.schema });
}
