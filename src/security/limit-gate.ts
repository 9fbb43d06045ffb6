import { type DocumentNode, getOperationAST, GraphQLError, type GraphQLSchema, OperationTypeNode, parse, validate } from 'graphql';
import { LRUCache } from 'lru-cache';
import { type GraphQLRequestBody, requestKey, sha256 } from '../common/graphql-request.js';
import { ErrorCode } from '../errors.js';
import { costOfOperation } from './cost.js';
import { countTokens, limitParseOptions, limitValidationRules, type QueryLimits, selectionCap, tooCostly, tooManyTokens } from './limits.js';

/** Refusal codes the gate answers with; anything else is left to the full pipeline. */
const GATE_CODES = new Set<unknown>([
  ErrorCode.TOO_MANY_TOKENS,
  ErrorCode.QUERY_TOO_DEEP,
  ErrorCode.TOO_MANY_ALIASES,
  ErrorCode.TOO_MANY_DIRECTIVES,
  ErrorCode.QUERY_TOO_COMPLEX,
  ErrorCode.PAGE_SIZE_EXCEEDED,
]);

/** The answer to a refused request: HTTP 400 with one coded error, as Apollo would send it. */
export interface GateRefusal {
  status: 400;
  body: { errors: { message: string; extensions: Record<string, unknown> }[] };
}

type FormattedRefusal = GateRefusal['body']['errors'][number];

/**
 * What the gate knows of a document: its refusal, its parsed form (within the structural limits),
 * or that the pipeline is to judge it (not a GraphQL document).
 */
type DocumentVerdict = { refusal: FormattedRefusal } | { document: DocumentNode } | { unjudged: true };

/** Memory for remembered documents, a parsed one counted as 8 bytes per character of its source. */
const DOCUMENT_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Refuses a request over the query limits (tokens, depth, aliases, directives, fragment fan-out,
 * cost, page size) before anything else runs: before its token is verified, the database is read
 * or Apollo's own validation walks the document (graphql's rule for overlapping fields alone is
 * quadratic in the aliases). The checks are the same functions the Apollo pipeline runs (see
 * `limits.ts`), so a request the gate lets through is held to the same limits there; a request
 * that is not even a GraphQL document, or names no operation, goes on to be refused there with
 * the reason. Verdicts are remembered: the structural one per document, the cost (which depends
 * on the variables) per request.
 */
export class LimitGate {
  private readonly documents = new LRUCache<string, DocumentVerdict>({ maxSize: DOCUMENT_CACHE_BYTES });
  /** Cost verdicts of recent requests (document, operation name and variables). */
  private readonly costs = new LRUCache<string, FormattedRefusal | 'within'>({ max: 10_000 });

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: QueryLimits,
  ) {}

  /** The refusal for `request`, or null when the full pipeline is to answer it. */
  check(request: GraphQLRequestBody): GateRefusal | null {
    const verdict = this.verdictOf(request.query);
    if ('unjudged' in verdict) return null;
    let refusal: FormattedRefusal | null;
    if ('refusal' in verdict) {
      refusal = verdict.refusal;
    } else {
      const costKey = requestKey(request);
      let cost = this.costs.get(costKey);
      if (cost === undefined) {
        cost = this.costRefusal(verdict.document, request) ?? 'within';
        this.costs.set(costKey, cost);
      }
      refusal = cost === 'within' ? null : cost;
    }
    return refusal ? { status: 400, body: { errors: [refusal] } } : null;
  }

  private verdictOf(query: string): DocumentVerdict {
    const key = sha256(query);
    let verdict = this.documents.get(key);
    if (verdict === undefined) {
      verdict = this.examine(query);
      const size = 'document' in verdict ? Math.min(query.length * 8, DOCUMENT_CACHE_BYTES) : 256;
      this.documents.set(key, verdict, { size: Math.max(1, size) });
    }
    return verdict;
  }

  /** Tokens, then the structural limits the pipeline's validation rules check. */
  private examine(query: string): DocumentVerdict {
    if (countTokens(query, this.limits.maxTokens) > this.limits.maxTokens) return { refusal: formatted(tooManyTokens(this.limits)) };
    let document: DocumentNode;
    try {
      document = parse(query, limitParseOptions(this.limits));
    } catch {
      return { unjudged: true };
    }
    const [refused] = validate(this.schema, document, limitValidationRules(this.limits));
    if (!refused) return { document };
    return GATE_CODES.has(refused.extensions.code) ? { refusal: formatted(refused) } : { unjudged: true };
  }

  /** The cost and page-size refusal of the operation the request names, with its variables. */
  private costRefusal(document: DocumentNode, { operationName, variables }: Omit<GraphQLRequestBody, 'query'>): FormattedRefusal | null {
    const operation = getOperationAST(document, operationName);
    if (!operation || operation.operation === OperationTypeNode.SUBSCRIPTION) return null;
    let cost: number;
    try {
      cost = costOfOperation(this.schema, document, operation, variables ?? {}, selectionCap(this.limits));
    } catch (error) {
      return error instanceof GraphQLError && GATE_CODES.has(error.extensions.code) ? formatted(error) : null;
    }
    return cost > this.limits.maxCost ? formatted(tooCostly(this.limits, cost)) : null;
  }
}

/** The error as Apollo formats a refusal: message and extensions, without the HTTP hint. */
function formatted(error: GraphQLError): FormattedRefusal {
  const { http: _status, ...extensions } = error.extensions;
  return { message: error.message, extensions };
}
