import { type ApolloServerPlugin } from '@apollo/server';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  GraphQLError,
  type GraphQLSchema,
  Kind,
  Lexer,
  OperationTypeNode,
  type ParseOptions,
  Source,
  TokenKind,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { LRUCache } from 'lru-cache';
import { ErrorCode, RegistryError } from '../errors.js';
import { chargeOfOperation, costOfOperation, DEFAULT_MAX_SELECTIONS, selectionCounter, selectionsExceeded } from './cost.js';

export { operationCharge, operationCost } from './cost.js';

/** The per-operation limits every GraphQL request is held to. */
export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
}

/** depth 10, cost 5,000, 15 aliases, 5 directives, 2,000 tokens. */
export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 10, maxCost: 5000, maxAliases: 15, maxDirectives: 5, maxTokens: 2000 };

/** The codes of refusals Apollo may re-code on the way out (see `didEncounterErrors`). */
const LIMIT_CODES = new Set<unknown>([
  ErrorCode.QUERY_TOO_DEEP,
  ErrorCode.QUERY_TOO_COMPLEX,
  ErrorCode.TOO_MANY_ALIASES,
  ErrorCode.TOO_MANY_DIRECTIVES,
  ErrorCode.TOO_MANY_TOKENS,
]);

function refusal(code: ErrorCode, message: string, limit: number, actual?: number): RegistryError {
  return new RegistryError(code, message, { limit, ...(actual === undefined ? {} : { actual }), http: { status: 400 } });
}

/** The refusal of a document over the token limit. */
export function tooManyTokens(limits: QueryLimits): RegistryError {
  return refusal(ErrorCode.TOO_MANY_TOKENS, `Query exceeds the limit of ${limits.maxTokens} tokens`, limits.maxTokens);
}

/** The refusal of an operation whose cost is over the limit (`cost` > `limits.maxCost`). */
export function tooCostly(limits: QueryLimits, cost: number): RegistryError {
  return refusal(ErrorCode.QUERY_TOO_COMPLEX, `Query cost ${cost} exceeds the limit of ${limits.maxCost}`, limits.maxCost, cost);
}

/**
 * How many selections an operation may expand to. It bounds the work of graphql-depth-limit and
 * of the cost walk, which both re-walk a fragment at every spread; it stays above the cost limit
 * so that it never refuses what the cost limit would allow.
 */
export function selectionCap(limits: QueryLimits): number {
  return Math.max(DEFAULT_MAX_SELECTIONS, 2 * limits.maxCost);
}

/**
 * graphql-depth-limit, made safe: it recurses forever (RangeError) on a fragment cycle, crashes
 * on an unknown fragment and re-walks a fragment at every spread, so it only runs on documents
 * whose fragments are known, acyclic and expand to at most the selection cap. Under Apollo with
 * `maxRecursiveSelections`, custom rules run in a second pass only when graphql's own rules found
 * nothing, so cycles and unknown fragments never get here; in a single validate() pass they are
 * skipped here and reported by graphql's NoFragmentCycles and KnownFragmentNames rules.
 */
function depthRule(limits: QueryLimits): ValidationRule {
  const cap = selectionCap(limits);
  return (context) => {
    const document = context.getDocument();
    const count = selectionCounter(document);
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const selections = count(definition);
      if (Number.isNaN(selections)) return {};
      if (selections > cap) {
        context.reportError(selectionsExceeded(selections, cap));
        return {};
      }
    }
    // depth-limit reports every node past the limit and records NaN as that operation's depth;
    // report once per operation instead, with its depth measured by a second, unlimited walk.
    const quiet = { getDocument: () => document, reportError: () => undefined };
    const tooDeep: string[] = [];
    depthLimit(limits.maxDepth, {}, (depths: Record<string, number>) => {
      for (const [name, depth] of Object.entries(depths)) if (Number.isNaN(depth)) tooDeep.push(name);
    })(quiet);
    if (tooDeep.length === 0) return {};
    depthLimit(Number.POSITIVE_INFINITY, {}, (depths: Record<string, number>) => {
      for (const name of tooDeep) {
        // depth-limit checks `__typename` leaves against the limit but measures them as depth 0.
        const depth = Math.max(depths[name] ?? 0, limits.maxDepth + 1);
        context.reportError(refusal(ErrorCode.QUERY_TOO_DEEP, `Query depth ${depth} exceeds the limit of ${limits.maxDepth}`, limits.maxDepth, depth));
      }
    })(quiet);
    return {};
  };
}

/** The count graphql-armor found, from its "… exceeded, found N." message. */
function armorCount(error: GraphQLError): number | undefined {
  const found = /found (\d+)/.exec(error.message);
  return found ? Number(found[1]) : undefined;
}

/** graphql-armor's alias limit, counting `__typename` aliases too, reporting TOO_MANY_ALIASES. */
function aliasesRule(limits: QueryLimits): ValidationRule {
  const max = limits.maxAliases;
  return (context: ValidationContext) =>
    maxAliasesRule({
      n: max,
      allowList: [],
      // armor throws by default, which escapes graphql's validate() as a 500.
      propagateOnRejection: false,
      onReject: [
        (_ctx, error) => {
          const actual = armorCount(error);
          const message = `Query uses ${actual ?? 'more'} aliases, more than the limit of ${max}`;
          context.reportError(refusal(ErrorCode.TOO_MANY_ALIASES, message, max, actual));
        },
      ],
    })(context);
}

/** graphql-armor's directive limit, reporting TOO_MANY_DIRECTIVES. */
function directivesRule(limits: QueryLimits): ValidationRule {
  const max = limits.maxDirectives;
  return (context: ValidationContext) =>
    maxDirectivesRule({
      n: max,
      propagateOnRejection: false,
      onReject: [
        (_ctx, error) => {
          const actual = armorCount(error);
          const message = `Query uses ${actual ?? 'more'} directives, more than the limit of ${max}`;
          context.reportError(refusal(ErrorCode.TOO_MANY_DIRECTIVES, message, max, actual));
        },
      ],
    })(context);
}

/**
 * Validation rules to pass to ApolloServer's `validationRules`: depth (QUERY_TOO_DEEP), aliases
 * (TOO_MANY_ALIASES) and directives (TOO_MANY_DIRECTIVES) per operation, and fragment fan-out past
 * the selection cap (QUERY_TOO_COMPLEX). Each refusal carries `limit`, `actual` and HTTP 400.
 * Apollo re-codes validation errors as GRAPHQL_VALIDATION_FAILED; {@link queryLimitsPlugin}
 * restores these codes. The rules never throw, even on documents graphql's own rules refuse.
 */
export function limitValidationRules(limits: QueryLimits): ValidationRule[] {
  return [depthRule(limits), aliasesRule(limits), directivesRule(limits)];
}

/**
 * Parse options for ApolloServer's `parseOptions`: graphql's parser stops at the token limit, so
 * an oversized document is refused before it is fully parsed or validated at all. The parse error
 * it raises is re-coded as TOO_MANY_TOKENS by {@link queryLimitsPlugin}.
 */
export function limitParseOptions(limits: QueryLimits): ParseOptions {
  return { maxLexicalTokens: limits.maxTokens };
}

/**
 * Counts the tokens of `source` as graphql's parser does (comments excluded), stopping at
 * `max + 1`. A lexical error ends the count; the parser reports it.
 */
export function countTokens(source: string, max: number): number {
  const lexer = new Lexer(new Source(source));
  let count = 0;
  try {
    while (count <= max && lexer.advance().kind !== TokenKind.EOF) count += 1;
  } catch {
    // not a GraphQL document; parsing will say why
  }
  return count;
}

/** Characters of sources the limits plugin keeps as found within the token limit (about 8 MB of strings). */
const KEPT_SOURCE_CHARACTERS = 4_000_000;

/**
 * Apollo plugin enforcing the limits the validation rules cannot:
 * - tokens: counted once the source is known (also for persisted queries), before parsing. With
 *   {@link limitParseOptions} the parse stops at the limit and its error is re-coded here;
 *   without it, an otherwise valid oversized operation is refused once resolved.
 * - cost: computed once the operation is resolved, with the request's variables, and refused over
 *   `maxCost`; otherwise stored on `contextValue.queryCost`, and the operation's budget charge
 *   (GitHub-style, see `chargeOfOperation`) on `contextValue.queryCharge`.
 * Refusals are GraphQLErrors coded TOO_MANY_TOKENS, QUERY_TOO_COMPLEX, PAGE_SIZE_EXCEEDED or, for
 * variables that do not fit the operation, BAD_USER_INPUT; a subscription (served over WebSocket
 * only) is BAD_REQUEST; all answer HTTP 400. It also restores the codes of the
 * {@link limitValidationRules} refusals, which Apollo replaces by GRAPHQL_VALIDATION_FAILED.
 */
export function queryLimitsPlugin(schema: GraphQLSchema, limits: QueryLimits): ApolloServerPlugin<{ queryCost?: number; queryCharge?: number }> {
  const cap = selectionCap(limits);
  // Most requests repeat a document an earlier one sent: a source found within the token limit is
  // not lexed again (bounded by the characters kept).
  const withinTokenLimit = new LRUCache<string, true>({ maxSize: KEPT_SOURCE_CHARACTERS, sizeCalculation: (_, source) => source.length || 1 });
  return {
    async requestDidStart() {
      let overTokenLimit = false;
      return {
        async didResolveSource({ source }) {
          if (withinTokenLimit.has(source)) return;
          overTokenLimit = countTokens(source, limits.maxTokens) > limits.maxTokens;
          if (!overTokenLimit) withinTokenLimit.set(source, true);
        },
        async didResolveOperation({ document, operation, request, contextValue }) {
          if (overTokenLimit) throw tooManyTokens(limits);
          // Without an operation Apollo answers OPERATION_RESOLUTION_FAILURE itself.
          if (!operation) return;
          if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
            throw new RegistryError(ErrorCode.BAD_REQUEST, 'Subscriptions are served over WebSocket (graphql-ws) on /graphql, not over HTTP', {
              http: { status: 400 },
            });
          }
          const cost = costOfOperation(schema, document, operation, request.variables ?? {}, cap);
          if (cost > limits.maxCost) throw tooCostly(limits, cost);
          contextValue.queryCost = cost;
          contextValue.queryCharge = chargeOfOperation(schema, document, operation, request.variables ?? {}, cap);
        },
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const extensions = error.extensions as Record<string, unknown>;
            const original = error.originalError;
            if (original instanceof GraphQLError && LIMIT_CODES.has(original.extensions.code)) {
              extensions.code = original.extensions.code;
            } else if (overTokenLimit && extensions.code === 'GRAPHQL_PARSE_FAILED') {
              const refused = tooManyTokens(limits);
              error.message = refused.message;
              Object.assign(extensions, refused.extensions);
            }
          }
        },
      };
    },
  };
}
