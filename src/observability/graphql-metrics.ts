import { type ApolloServerPlugin } from '@apollo/server';
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
