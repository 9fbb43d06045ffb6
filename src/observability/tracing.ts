import { context, propagation, type Span, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';

/** The tracer of the registry's own spans; a no-op until {@link startTracing} installs the SDK. */
export const tracer = trace.getTracer('tool-registry');

/** What tracing is configured with (config.ts). */
export interface TracingConfig {
  enabled: boolean;
  /** The OTLP/HTTP traces endpoint (`…/v1/traces`). */
  tracesUrl?: string;
  serviceName: string;
}

let started: Promise<{ flush(): Promise<void>; shutdown(): Promise<void> }> | null = null;

/**
 * Installs the OpenTelemetry SDK once per process when tracing is enabled: spans go through a batch
 * processor to the OTLP/HTTP exporter (which honours the standard OTEL_EXPORTER_OTLP_* variables
 * such as headers and timeout), W3C trace context is the propagator. When disabled nothing is
 * loaded: the SDK is imported only here, and only then; every span call stays the API's no-op.
 */
export function startTracing(config: TracingConfig): Promise<{ flush(): Promise<void>; shutdown(): Promise<void> }> | null {
  if (!config.enabled) return null;
  started ??= (async () => {
    const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes, defaultResource }] = await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
    const provider = new NodeTracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ 'service.name': config.serviceName })),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(config.tracesUrl ? { url: config.tracesUrl } : {}))],
    });
    provider.register();
    return { flush: () => provider.forceFlush(), shutdown: () => provider.shutdown() };
  })();
  return started;
}

/** Whether spans are recorded (the SDK is installed); cheap enough for a hot path. */
export function tracingActive(): boolean {
  return started !== null;
}

/**
 * Runs `work` inside a new active span named `name`, ending it when `work` settles (an error is
 * recorded by its type and code only: messages may quote what a call carried). Attributes must never
 * hold a secret or an argument value: callers pass names, kinds and codes only.
 */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  if (!started) return work(trace.wrapSpanContext({ traceId: '', spanId: '', traceFlags: 0 }));
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('error.type', typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error');
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Adds the active trace context (`traceparent`, `tracestate`) to outgoing request headers. */
export function injectTraceContext(headers: { set(name: string, value: string): void }): void {
  if (!started) return;
  propagation.inject(context.active(), headers, { set: (carrier, key, value) => carrier.set(key, value) });
}

export { context, propagation, type Span, SpanKind, SpanStatusCode, trace };
