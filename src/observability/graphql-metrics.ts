import { type ApolloServerPlugin } from '@apollo/server';
import { Lexer, Source, TokenKind } from 'graphql';
import { type GraphQLRequestBody } from '../common/graphql-request.js';
import { type RegistryContext } from '../context.types.js';
import { metrics } from './metrics.js';
import { context, SpanStatusCode, tracer, tracingActive } from './tracing.js';

/**
 * Apollo plugin: counts every operation Apollo answers, under its operation name when that is a
 * known one (else `other`), its type (`unknown` when the document did not resolve to an operation)
 * and its outcome (`error` when the answer carries any error), with its latency; with tracing on,
 * also a span per operation.
 */
export function graphqlMetrics(): ApolloServerPlugin<RegistryContext> {
  return {
    async requestDidStart({ request }) {
      const started = performance.now();
      // With tracing on, a span per operation (child of the request's), named by type and the bounded operation label.
      const span = tracingActive() ? tracer.startSpan('graphql.operation', {}, context.active()) : null;
      return {
        async willSendResponse({ operation, response, errors }) {
          const failed = Boolean(errors?.length) || (response.body.kind === 'single' && Boolean(response.body.singleResult.errors?.length));
          const name = request.operationName ?? operation?.name?.value;
          const type = operation?.operation ?? 'unknown';
          metrics.graphqlOperation(name, type, failed ? 'error' : 'success', (performance.now() - started) / 1000);
          if (span) {
            span.updateName(`graphql ${type} ${metrics.operationLabel(name)}`);
            span.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.name': metrics.operationLabel(name) });
            if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
          }
        },
      };
    },
  };
}

const OPERATION_KEYWORDS = new Set(['query', 'mutation', 'subscription']);

/**
 * The operation name of a request answered before Apollo (a cached catalog read, a query-limit
 * refusal): `operationName` when given, else the name of the document's first operation, as Apollo
 * would take it; undefined for an anonymous one or a document that does not lex. Only the top level
 * of the document is read, so a field or argument named `query` is not taken for an operation.
 */
export function requestOperationName(body: GraphQLRequestBody): string | undefined {
  if (typeof body.operationName === 'string') return body.operationName;
  try {
    const lexer = new Lexer(new Source(body.query));
    let depth = 0;
    // Between `fragment` and its selection set (a fragment may precede the operation).
    let fragment = false;
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      if (depth === 0 && !fragment) {
        // A selection set at the top level outside a fragment: an anonymous operation.
        if (token.kind === TokenKind.BRACE_L) return undefined;
        if (token.kind === TokenKind.NAME && token.value === 'fragment') fragment = true;
        else if (token.kind === TokenKind.NAME && OPERATION_KEYWORDS.has(token.value)) {
          const next = lexer.advance();
          return next.kind === TokenKind.NAME ? next.value : undefined;
        }
      }
      if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.PAREN_L || token.kind === TokenKind.BRACKET_L) {
        if (depth === 0 && token.kind === TokenKind.BRACE_L) fragment = false;
        depth += 1;
      } else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.PAREN_R || token.kind === TokenKind.BRACKET_R) depth -= 1;
    }
  } catch {
    // A document that does not lex has no name.
  }
  return undefined;
}
