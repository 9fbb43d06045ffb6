import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { type DocumentNode, execute, type ExecutionResult, GraphQLError, type GraphQLSchema, OperationTypeNode } from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import { metrics } from '../observability/metrics.js';

/**
 * The description of the symbol Apollo puts on a request's context when a plugin wants a hook on
 * every resolved field (the inline-trace plugin when a router asks for `ftv1`). Such a request
 * is executed by graphql-js, through the resolvers Apollo wraps for it.
 */
const PER_FIELD_HOOKS = 'apolloServerExecutionDispatcherWillResolveField';

/**
 * Parsed documents whose operations are remembered (seen once, or compiled). A compiled operation is
 * generated code whose size Apollo's document cache does not count, so their number is bounded here.
 */
const MAX_DOCUMENTS = 1000;

/** What is known of one operation of a parsed document. */
type Known =
  /** Run once by graphql-js; compiled if it comes again. */
  | 'seen'
  /** graphql-jit cannot compile it (graphql-js runs it every time). */
  | 'uncompilable'
  | CompiledQuery;

/** Whether a plugin asked Apollo for a hook on every field of this request. */
function wantsPerFieldHooks(contextValue: object): boolean {
  return Object.getOwnPropertySymbols(contextValue).some((symbol) => symbol.description === PER_FIELD_HOOKS);
}

/** graphql-js's execution of a request, as Apollo runs it without an executor. */
function executeUncompiled(
  schema: GraphQLSchema,
  document: DocumentNode,
  contextValue: object,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): Promise<ExecutionResult> | ExecutionResult {
  metrics.interpretedExecutions.inc();
  return execute({ schema, document, contextValue, variableValues: variables, operationName });
}

/**
 * Query operations compiled by graphql-jit into JavaScript functions, for Apollo Server: the same
 * resolvers (the rule tree's, which wrap the domain resolvers, included) and the same results as
 * graphql-js, but without graphql-js's per-field interpretation (an info object, a path, argument
 * values and a completion walk for every field of every object of the answer).
 *
 * Apollo takes an executor only from a gateway, so this is a gateway in name only: it serves the
 * one schema it is given, which Apollo parses, validates and runs its plugins against as usual;
 * only the execution of a resolved operation is replaced. graphql-js still executes:
 * - mutations (and anything but a query), and requests a plugin wants a hook on every field for
 *   (federation traces);
 * - a document the first time it is seen: it is compiled only when it comes again, so a stream of
 *   distinct documents costs no compilations;
 * - an operation graphql-jit cannot compile, or whose variables it refuses.
 * Compiled operations are kept per parsed document (Apollo's document cache hands the same one back
 * for the same text), for the last {@link MAX_DOCUMENTS} documents.
 */
export function compiledExecution(schema: GraphQLSchema): GatewayInterface {
  const known = new LRUCache<DocumentNode, Map<string, Known>>({ max: MAX_DOCUMENTS });

  const executor: GatewayExecutor = async ({ document, operation, request, context }) => {
    const { variables, operationName } = request;
    if (!operation || operation.operation !== OperationTypeNode.QUERY || wantsPerFieldHooks(context)) {
      return executeUncompiled(schema, document, context, variables, operationName);
    }
    let operations = known.get(document);
    if (!operations) {
      operations = new Map();
      known.set(document, operations);
    }
    const key = operationName ?? '';
    let compiled = operations.get(key);
    if (compiled === undefined) {
      operations.set(key, 'seen');
      return executeUncompiled(schema, document, context, variables, operationName);
    }
    if (compiled === 'seen') {
      compiled = compile(schema, document, operationName);
      operations.set(key, compiled);
    }
    if (compiled === 'uncompilable') return executeUncompiled(schema, document, context, variables, operationName);
    const result = await compiled.query(undefined, context, variables);
    // No `data`: graphql-jit refused the variables before any resolver ran. The limits plugin has
    // coerced them as graphql-js does already; should graphql-jit disagree, graphql-js decides.
    if (!('data' in result)) return executeUncompiled(schema, document, context, variables, operationName);
    metrics.compiledExecutions.inc();
    // graphql-js leaves `errors` out of an answer without any.
    if (!result.errors?.length) return { data: result.data };
    return { data: result.data, errors: result.errors.map(asGraphQLJsError) };
  };

  let listener: Parameters<GatewayInterface['onSchemaLoadOrUpdate']>[0] | undefined;
  return {
    onSchemaLoadOrUpdate(callback) {
      listener = callback;
      return () => {
        listener = undefined;
      };
    },
    async load() {
      listener?.({ apiSchema: schema, coreSupergraphSdl: '' });
      return { executor };
    },
    async stop() {
      listener = undefined;
    },
  };
}

/**
 * graphql-jit's error as graphql-js makes it: graphql-jit leaves `extensions` undefined on an error
 * whose original error has none (graphql-js gives it an empty object, which Apollo relies on when
 * it codes an unexpected error), and its own error class may not be changed.
 */
function asGraphQLJsError(error: GraphQLError): GraphQLError {
  const converted = new GraphQLError(error.message, { path: error.path, originalError: error.originalError, extensions: error.extensions });
  (converted as { locations: GraphQLError['locations'] }).locations = error.locations;
  return converted;
}

/** `document`'s operation compiled by graphql-jit, or 'uncompilable'. */
function compile(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): CompiledQuery | 'uncompilable' {
  try {
    const compiled = compileQuery(schema, document, operationName, { disablingCapturingStackErrors: true });
    return isCompiledQuery(compiled) ? compiled : 'uncompilable';
  } catch {
    return 'uncompilable';
  }
}
