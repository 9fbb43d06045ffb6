import { setImmediate as afterIo } from 'node:timers/promises';
import { fetch as undiciFetch } from 'undici';
import { ErrorCode, RegistryError } from '../errors.js';
import { assertEgressAllowed, egressAgent, egressDenialOf, type EgressPolicy } from '../security/egress.js';
import { type RequestSigner } from '../security/request-signing.js';
import { tlsPinFailureOf } from '../security/tls-pins.js';
import type { ExecutionRequest } from './executor.types.js';
import { injectTraceContext } from '../observability/tracing.js';
import { callFailure, dropOAuthToken, hostOf, type PreparedRequest, prepareRequest, type RequestTemplate, upstreamFailure } from './http.request.js';

/** Options of {@link streamingFetch}. */
export interface StreamingFetchInit {
  method: string;
  headers: Headers;
  body?: string;
  /** Total time, connection to last byte, in milliseconds. */
  timeoutMs: number;
  /** Largest accepted response body, in bytes. */
  maxBytes: number;
  policy: EgressPolicy;
  signal?: AbortSignal;
  /** Signs the request (RFC 9421) just before it is sent: a provider with `requestSigning: SIGN`. */
  sign?: RequestSigner;
  /** Sees a 2xx response's status and headers before its body is read; throwing ends the call. */
  onResponse?: (response: { status: number; headers: Headers }) => void;
  /** Receives the body of a 2xx response piece by piece, as it arrives. */
  onData: (chunk: Uint8Array) => void;
}

/** A streamed response: the body of a 2xx answer went to `onData`; any other answer's body is in `body`. */
export interface StreamedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  /** Size of the whole response body, in bytes. */
  bytes: number;
}

/** How a streamed call reads its answer; built once the request is prepared. */
export interface StreamHandlers {
  /** Sees a 2xx answer's headers before its body; throwing ends the call. */
  onResponse?: (headers: Headers) => void;
  onData: (chunk: Uint8Array) => void;
  /** The body ended (2xx answers only). */
  onEnd?: () => void;
}

/**
 * Runs one streamed call of an HTTP-based template: shapes the request as `http` does
 * (prepareRequest), sends it with {@link streamingFetch} under the call's deadline (`timeoutMs`, from
 * now), size cap and signal, and fails a non-2xx answer with EXECUTION_FAILED (`reason: http_status`,
 * a refused OAuth 2 token dropped). `handlers` receives the prepared request and an `emit` that passes
 * a chunk to `request.onChunk` (and throws once the call is cancelled, so nothing is emitted after).
 * Returns the size of the answer. Throws only coded RegistryErrors (see {@link callFailure}).
 */
export async function runStreamingCall(
  request: ExecutionRequest,
  template: RequestTemplate,
  options: { method: string; timeoutMs: number; accept?: string },
  handlers: (prepared: PreparedRequest, emit: (chunk: unknown) => void) => StreamHandlers,
): Promise<number> {
  const started = Date.now();
  const remainingMs = () => Math.max(1, options.timeoutMs - (Date.now() - started));
  try {
    request.signal?.throwIfAborted();
    const prepared = await prepareRequest(request, template, options.method, remainingMs);
    if (options.accept) prepared.headers.set('accept', options.accept);
    const { onResponse, onData, onEnd } = handlers(prepared, (chunk) => {
      request.signal?.throwIfAborted();
      request.onChunk?.(chunk);
    });
    const response = await streamingFetch(prepared.url, {
      method: options.method,
      headers: prepared.headers,
      ...(prepared.body !== undefined ? { body: prepared.body } : {}),
      timeoutMs: remainingMs(),
      maxBytes: request.maxBytes,
      policy: request.egress,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.signer ? { sign: request.signer } : {}),
      ...(onResponse ? { onResponse: ({ headers }: { headers: Headers }) => onResponse(headers) } : {}),
      onData,
    });
    if (response.status < 200 || response.status > 299) {
      if (response.status === 401) dropOAuthToken(prepared.oauthKey);
      throw upstreamFailure(request.toolName, prepared.url, response, prepared.secrets, { reason: 'http_status' });
    }
    onEnd?.();
    return response.bytes;
  } catch (error) {
    throw callFailure(error, request);
  }
}

/**
 * fetch for responses read as they arrive (SSE, chunked streams). The URL is checked by the egress
 * guard, and the request goes over the policy's pooled keep-alive agent, whose every new connection
 * re-resolves and re-checks the host (so DNS rebinding between check and connect cannot slip through); redirects are not followed (a 3xx is returned like any non-2xx, as
 * python-utcp's streaming protocols refuse them). The deadline covers the whole stream and the size
 * cap counts every byte. Throws coded RegistryErrors: EGRESS_DENIED, UPSTREAM_TIMEOUT,
 * UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE; an abort through `init.signal` rejects with its reason,
 * and an error thrown by `onData` ends the stream and is rethrown.
 */
export async function streamingFetch(url: URL, init: StreamingFetchInit): Promise<StreamedResponse> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), init.timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
  const host = hostOf(url.href);
  try {
    await abortable(assertEgressAllowed(url, init.policy), signal);
    await init.sign?.signRequest(init.method, url, init.headers, init.body);
    const sent = new Headers([...init.headers]);
    injectTraceContext(sent);
    const response = await undiciFetch(url, {
      method: init.method,
      headers: [...sent],
      ...(init.body !== undefined ? { body: init.body } : {}),
      redirect: 'manual',
      signal,
      // The policy's pooled keep-alive agent: a new connection re-resolves and re-checks the host.
      dispatcher: egressAgent(init.policy),
    });
    const headers = new Headers([...response.headers]);
    const ok = response.status >= 200 && response.status <= 299;
    const tooLarge = () => new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `Response from "${host}" exceeds ${init.maxBytes} bytes`, { host, maxBytes: init.maxBytes });
    if (Number(headers.get('content-length') ?? 0) > init.maxBytes) throw tooLarge();
    if (ok) init.onResponse?.({ status: response.status, headers });
    const kept: Uint8Array[] = [];
    let bytes = 0;
    // Leaving the loop early (cap, error, abort) cancels the body, which drops the connection.
    for await (const chunk of response.body ?? []) {
      bytes += chunk.byteLength;
      if (bytes > init.maxBytes) throw tooLarge();
      if (ok) init.onData(chunk);
      else kept.push(chunk);
    }
    // The finished keep-alive connection goes back to the pool on the next turn of the event loop.
    await afterIo();
    return { status: response.status, headers, body: Buffer.concat(kept), bytes };
  } catch (error) {
    throw streamError(error, { host, timedOut: deadline.signal.aborted, signal: init.signal, timeoutMs: init.timeoutMs });
  } finally {
    clearTimeout(timer);
  }
}

function streamError(error: unknown, context: { host: string; timedOut: boolean; signal: AbortSignal | undefined; timeoutMs: number }): unknown {
  if (error instanceof RegistryError) return error;
  const { host, timedOut, signal, timeoutMs } = context;
  if (timedOut) return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `Request to "${host}" timed out after ${timeoutMs} ms`, { host, timeoutMs });
  if (signal?.aborted) return signal.reason;
  const denied = egressDenialOf(error) ?? tlsPinFailureOf(error);
  if (denied) return denied;
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  const suffix = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? ` (${code})` : '';
  return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Request to "${host}" failed${suffix}`, { host });
}

/** Settles as `promise`, or rejects with the signal's reason once it aborts (a hanging DNS lookup must not outlive the deadline). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort = () => {};
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
