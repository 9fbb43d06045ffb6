import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ErrorCode, RegistryError } from '../errors.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import { hostOf, jsonOrText, mediaType, readRequestTemplate, templateProblem } from './http.request.js';
import { runStreamingCall } from './http.stream.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

/**
 * Calls a UTCP `sse` tool: the request is shaped as for `http` (`header_fields` arguments become
 * headers, the `body_field` argument the JSON body, `{name}` URL placeholders are filled, every other
 * argument is a query parameter; template headers and `auth` applied) with `Accept: text/event-stream`,
 * sent with `http_method` when given, else POST when there is a body and GET otherwise (as the
 * reference). The `text/event-stream` answer is parsed with eventsource-parser as it arrives: every
 * event (only those of `event_type` when set; events without an `event` field are type `message`)
 * goes to `request.onChunk`, its data parsed as JSON when it is JSON, else the text. The call ends
 * when the server closes the stream; the result is the array of every chunk, `bytes` the stream size.
 *
 * Differences from python-utcp's SseCommunicationProtocol: no reconnection (`reconnect` and
 * `retry_timeout` are ignored: a broken connection fails the call with UPSTREAM_UNAVAILABLE, and the
 * deadline covers the whole stream); `http_method` is honoured when present; redirects are not followed (a 3xx is EXECUTION_FAILED, reason
 * `http_status`); a 2xx answer that is not `text/event-stream` is EXECUTION_FAILED (`protocol_error`)
 * instead of yielding nothing; the body is JSON (`application/json`) unless a Content-Type header says
 * otherwise. Throws EGRESS_DENIED, UPSTREAM_TIMEOUT (the stream outlived `timeoutMs`),
 * UPSTREAM_TOO_LARGE (the stream passed `maxBytes`), UPSTREAM_UNAVAILABLE (also when cancelled through
 * `request.signal`, `cancelled: true`), BAD_USER_INPUT, EXECUTION_FAILED (`reason`: `http_status`,
 * `protocol_error`, `invalid_template`); messages hold no secret, header value or query string.
 */
export const executeSse: Executor = async (request: ExecutionRequest): Promise<ExecutionOutcome> => {
  const invalid = templateProblem(request, 'sse', { reason: 'invalid_template' });
  const template = readRequestTemplate(request, 'sse', { bodyField: null, contentType: 'application/json' }, invalid);
  const declared = request.callTemplate.http_method;
  if (declared != null && (typeof declared !== 'string' || !METHODS.includes(declared.toUpperCase()))) throw invalid('http_method is not supported');
  const eventType = typeof request.callTemplate.event_type === 'string' && request.callTemplate.event_type !== '' ? request.callTemplate.event_type : undefined;
  const hasBody = template.bodyField !== null && request.arguments[template.bodyField] !== undefined;
  const method = typeof declared === 'string' ? declared.toUpperCase() : hasBody ? 'POST' : 'GET';

  const chunks: unknown[] = [];
  const bytes = await runStreamingCall(request, template, { method, timeoutMs: request.timeoutMs, accept: 'text/event-stream' }, (prepared, emit) => {
    const events = eventStream(eventType, (data) => {
      emit(data);
      chunks.push(data);
    });
    return {
      onResponse: (headers) => assertEventStream(headers, request.toolName, prepared.url),
      onData: (data) => events.feed(data),
      onEnd: () => events.end(),
    };
  });
  return { result: chunks, bytes };
};

/** An SSE decoder: bytes in (as they arrive), the data of matching events out. */
function eventStream(eventType: string | undefined, emit: (data: unknown) => void): { feed(bytes: Uint8Array): void; end(): void } {
  const decoder = new TextDecoder('utf-8');
  const parser = createParser({
    onEvent(event: EventSourceMessage) {
      if (eventType !== undefined && (event.event ?? 'message') !== eventType) return;
      emit(jsonOrText(event.data));
    },
  });
  return {
    feed: (bytes) => parser.feed(decoder.decode(bytes, { stream: true })),
    // An event not yet terminated by a blank line when the stream closes is dropped, as the SSE standard says.
    end: () => parser.feed(decoder.decode()),
  };
}

/** A 2xx answer must be an event stream; anything else is refused before its body is read. */
function assertEventStream(headers: Headers, toolName: string, url: URL): void {
  const type = mediaType(headers).slice(0, 100);
  if (type === 'text/event-stream') return;
  const host = hostOf(url.href);
  throw new RegistryError(
    ErrorCode.EXECUTION_FAILED,
    `Tool "${toolName}" failed: "${host}" answered ${type ? `"${type}"` : 'without a content type'} instead of an event stream (text/event-stream)`,
    { reason: 'protocol_error', host },
  );
}
