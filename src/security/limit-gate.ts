import { createHash } from 'node:crypto';
import { type DocumentNode, getOperationAST, GraphQLError, type GraphQLSchema, OperationTypeNode, parse, validate } from 'graphql';
import { LRUCache } from 'lru-cache';
import { type GraphQLRequestBody } from '../common/graphql-request.js';
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

/** What the gate knows of a document: its refusal, its parsed form, or that it is not GraphQL. */
type DocumentVerdict = { refusal: FormattedRefusal } | { document: DocumentNode } | { malformed: true };

/** Memory for remembered documents, counted as 8 bytes per character of source. */
const DOCUMENT_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Refuses a request over the query limits (tokens, depth, aliases, directives, fragment fan-out,
 * cost, page size) before anything else runs: before its token is verified, the database is read
 * or Apollo's own validation walks the document (graphql's rule for overlapping fields alone is
 * quadratic in the aliases). The checks are the same functions the Apollo pipeline runs (see
 * `limits.ts`), so a request the gate lets through is held to the same limits there; a request
 * that is not even a GraphQL document, or names no operation, goes on to be refused there with
 * the reason. The structural verdict is remembered per document; the cost, which depends on the
 * variables, is computed for every request (as the pipeline does again for those it answers).
 */
export class LimitGate {
  private readonly documents = new LRUCache<string, DocumentVerdict>({ maxSize: DOCUMENT_CACHE_BYTES });

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: QueryLimits,
  ) {}

  /** The refusal for `request`, or null when the full pipeline is to answer it. */
  check(request: GraphQLRequestBody): GateRefusal | null {
    const verdict = this.verdictOf(request.query);
    if ('malformed' in verdict) return null;
    const refusal = 'refusal' in verdict ? verdict.refusal : this.costRefusal(verdict.document, request);
    return refusal ? { status: 400, body: { errors: [refusal] } } : null;
  }

  private verdictOf(query: string): DocumentVerdict {
    const key = createHash('sha256').update(query).digest('base64url');
    let verdict = this.documents.get(key);
    if (verdict === undefined) {
      verdict = this.examine(query);
      this.documents.set(key, verdict, { size: Math.max(1, Math.min(query.length * 8, DOCUMENT_CACHE_BYTES)) });
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
      return { malformed: true };
    }
    const [refused] = validate(this.schema, document, limitValidationRules(this.limits));
    if (!refused) return { document };
    return GATE_CODES.has(refused.extensions.code) ? { refusal: formatted(refused) } : { malformed: true };
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
