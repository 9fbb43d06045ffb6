import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { pipeline, Readable, type Transform } from 'node:stream';
import { setImmediate as afterIo } from 'node:timers/promises';
import { constants as zlib, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Agent, buildConnector, type Dispatcher, Headers as UndiciHeaders, type HeadersInit as UndiciHeadersInit } from 'undici';
import { ErrorCode, RegistryError } from '../errors.js';
import {
  assertEgressAllowed,
  assertResolvedAllowed,
  deniedAddressReason,
  EgressDeniedError,
  type EgressLookup,
  type EgressPolicy,
  urlHost,
} from './egress-policy.js';
import { type RequestSigner } from './request-signing.js';
import { assertSocketPinned, pinnedPoliciesOf, tlsPinFailureOf, tlsPinsOf } from './tls-pins.js';
import { injectTraceContext } from '../observability/tracing.js';

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;

/** Options of {@link boundedFetch}: a fetch `RequestInit` plus the limits and the egress policy. */
export interface BoundedFetchInit extends RequestInit {
  /** Total time for every hop, including reading the body, in milliseconds. */
  timeoutMs: number;
  /** Largest accepted (decoded) response body, in bytes. */
  maxBytes: number;
  policy: EgressPolicy;
  /** Resolver for both the pre-check and the connect-time check; defaults to `dns.lookup`. */
  lookup?: EgressLookup;
  /** Signs every hop (RFC 9421) just before it is sent: a provider with `requestSigning: SIGN`. */
  sign?: RequestSigner;
}

/** A fully read response. `url` is the URL of the last hop. */
export interface BoundedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  url: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers kept on a cross-origin redirect: a tool's credentials may sit in any other header. */
const CROSS_ORIGIN_SAFE_HEADERS = new Set(['accept', 'accept-encoding', 'accept-language', 'user-agent', 'content-type', 'content-language']);
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];
/** Methods fetch refuses to send, and so do we. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
/**
 * Headers sent unless the request names them: what fetch would send (the answer's gzip, deflate
 * or br encoding is decoded, see {@link decoded}), and who is asking.
 */
const DEFAULT_HEADERS: readonly [string, string][] = [
  ['accept', '*/*'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['user-agent', 'tool-registry'],
];

/**
 * Keep-alive settings of the pooled agents: one request at a time per connection (no pipelining),
 * at most {@link POOL_CONNECTIONS_PER_ORIGIN} connections per origin (further requests wait for a
 * free one), idle connections closed after 4 s, or as the server's Keep-Alive hint says (never kept
 * past 60 s idle): short, so a request rarely meets a connection the server has just closed.
 */
const POOL_CONNECTIONS_PER_ORIGIN = 256;
const POOL_OPTIONS = { connections: POOL_CONNECTIONS_PER_ORIGIN, pipelining: 1, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000 } as const;

/** The pooled agents, per egress policy and per resolver (tests inject their own). */
const pools = new WeakMap<EgressPolicy, Map<EgressLookup, Agent>>();

/**
 * The keep-alive agent shared by every outbound request under `policy` (resolving with `lookup`).
 * Every NEW connection it opens goes through the connect-time guard (the host re-resolved and every
 * answer checked, then the connected peer address checked); a pooled connection is reused only for
 * the origin it was opened (and checked) for. Bodies that are not read to the end (size cap,
 * timeout, abort) destroy their connection instead of returning it to the pool.
 */
export function egressAgent(policy: EgressPolicy, lookup: EgressLookup = dnsLookup): Agent {
  let agents = pools.get(policy);
  if (!agents) pools.set(policy, (agents = new Map()));
  let agent = agents.get(lookup);
  if (!agent || agent.closed || agent.destroyed) {
    agent = new Agent({ ...POOL_OPTIONS, connect: guardedConnector(policy, lookup) });
    agents.set(lookup, agent);
  }
  return agent;
}

/** Closes every pooled connection made under `policy` (on shutdown, once in-flight calls are drained). */
export async function closeEgressAgents(policy: EgressPolicy): Promise<void> {
  // The pools of providers' pinned policies derived from this one go with it.
  await Promise.all(pinnedPoliciesOf(policy).map((pinned) => closeEgressAgents(pinned)));
  const agents = pools.get(policy);
  pools.delete(policy);
  await Promise.all([...(agents?.values() ?? [])].map((agent) => agent.destroy().catch(() => {})));
}

/**
 * fetch with the egress guard applied before every hop and again at connect time (so DNS rebinding
 * between check and connect cannot slip through), over the policy's pooled keep-alive connections
 * ({@link egressAgent}; every new connection is checked), a total timeout, a response-size cap (the body is
 * streamed and the connection dropped past the cap) and redirects followed manually (at most
 * {@link MAX_REDIRECTS}, each hop re-checked; headers other than a safe few are dropped across origins).
 * Throws coded RegistryErrors: EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE;
 * an abort through `init.signal` rejects with that signal's reason.
 */
export async function boundedFetch(url: string, init: BoundedFetchInit): Promise<BoundedResponse> {
  const { timeoutMs, maxBytes, policy, lookup = dnsLookup, signal: callerSignal, redirect = 'follow', sign, ...request } = init;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
  const agent = egressAgent(policy, lookup);
  // Named in every error, also one raised before the first hop's checks finish.
  let host = hostNameOf(url);
  try {
    let current: URL | string = url;
    let method = (request.method ?? 'GET').toUpperCase();
    if (FORBIDDEN_METHODS.has(method)) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The ${method} method is not sent to "${host ?? 'the provider'}"`, { host });
    const headers = new UndiciHeaders(request.headers as UndiciHeadersInit | undefined);
    let body = await sendable(request.body, headers);
    for (const [name, value] of DEFAULT_HEADERS) if (!headers.has(name)) headers.set(name, value);
    // The upstream is addressed by its checked URL only: a Host header from a template or an argument
    // would reach another virtual host behind the allowed address (fetch drops it too).
    headers.delete('host');
    injectTraceContext(headers);
    for (let redirects = 0; ; redirects++) {
      await untilAborted(assertEgressAllowed(current, policy, { lookup }), signal);
      const target: URL = typeof current === 'string' ? new URL(current) : current;
      host = urlHost(target);
      if (sign) await sign.signRequest(method, target, headers as unknown as Headers, typeof body === 'string' ? body : undefined);
      const response = await agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: body ?? null,
        signal,
      });
      const answered = headersOf(response.headers);
      const location = answered.get('location');
      if (redirect === 'manual' || !REDIRECT_STATUSES.has(response.statusCode) || location === null) {
        const answer = decoded(response.body, { status: response.statusCode, method, encoding: answered.get('content-encoding') }, host);
        const read = await readCapped(answer, answered, maxBytes, host);
        // undici hands a finished keep-alive connection back to its pool on the next turn of the
        // event loop (setImmediate): waiting for it lets a caller's next request reuse it.
        await afterIo();
        return { status: response.statusCode, headers: answered, body: read, url: target.href };
      }
      discard(response.body);
      if (redirect === 'error') throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `"${host}" answered with a redirect`, { host });
      if (redirects >= MAX_REDIRECTS) {
        throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Too many redirects from "${host}" (more than ${MAX_REDIRECTS})`, { host });
      }
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `"${host}" redirected to an invalid URL`, { host });
      }
      // The fetch standard's method rewriting: 303 always, 301/302 for POST, become a bodiless GET.
      if ((response.statusCode === 303 && method !== 'HEAD') || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        for (const name of BODY_HEADERS) headers.delete(name);
      } else if (body instanceof Readable) {
        throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `"${host}" redirected a request whose streamed body cannot be sent again`, { host });
      }
      if (next.origin !== target.origin) {
        for (const name of [...headers.keys()]) if (!CROSS_ORIGIN_SAFE_HEADERS.has(name)) headers.delete(name);
      }
      current = next;
    }
  } catch (error) {
    throw translateError(error, { host, timedOut: deadline.signal.aborted, callerSignal, timeoutMs });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An undici connector that refuses denied addresses at connect time: its `lookup` re-resolves the host
 * and checks every answer before the socket connects, and the connected socket's peer address is
 * checked once more (IP-literal hosts skip `lookup`; they were checked before the request).
 */
function guardedConnector(policy: EgressPolicy, lookup: EgressLookup): buildConnector.connector {
  const pins = tlsPinsOf(policy);
  const connect = buildConnector({
    lookup: guardedLookup(policy, lookup),
    // `ca`: Node's default roots plus REGISTRY_CA_FILE's; certificates are always verified.
    ...(policy.ca ? { ca: [...policy.ca] } : {}),
    // A resumed TLS session presents no certificate chain to check a pin against.
    ...(pins ? { maxCachedSessions: 0 } : {}),
  });
  return (options, callback) => {
    connect(options, (error, socket) => {
      if (error) {
        callback(error, null);
        return;
      }
      const host = options.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
      const address = socket.remoteAddress;
      try {
        if (address === undefined) throw new EgressDeniedError(host, 'the connection has no peer address');
        assertResolvedAllowed(host, [address], policy);
        if (pins && options.protocol === 'https:') assertSocketPinned(socket as import('node:tls').TLSSocket, host, pins);
      } catch (denied) {
        socket.destroy();
        callback(denied as Error, null);
        return;
      }
      callback(null, socket);
    });
  };
}

/** A `net.connect` lookup that resolves with `lookup` and fails with EgressDeniedError on a denied answer. */
function guardedLookup(policy: EgressPolicy, lookup: EgressLookup): LookupFunction {
  return (hostname, options, callback) => {
    const host = hostname.replace(/\.$/, '').toLowerCase();
    lookup(hostname, { all: true, family: options.family, hints: options.hints }).then(
      (answers) => {
        try {
          if (answers.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          assertResolvedAllowed(host, answers.map((answer) => answer.address), policy);
        } catch (error) {
          callback(error as NodeJS.ErrnoException, '');
          return;
        }
        const [first] = answers;
        if (options.all) callback(null, answers);
        else callback(null, first!.address, first!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/** Reads the body into memory, refusing (and dropping the connection) once it passes `maxBytes`. */
async function readCapped(body: Readable, headers: Headers, maxBytes: number, host: string): Promise<Buffer> {
  const tooLarge = () =>
    new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `Response from "${host}" exceeds ${maxBytes} bytes`, { host, maxBytes });
  const declared = Number(headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(body);
    throw tooLarge();
  }
  // With a declared length the body is copied into one buffer as it arrives, so each chunk is
  // garbage at once (a 13 MB description is held once, not as chunks plus their concatenation).
  let into = Number.isFinite(declared) && declared > 0 ? Buffer.allocUnsafe(declared) : null;
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop early destroys the stream, which aborts the underlying request.
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (total + chunk.byteLength > maxBytes) throw tooLarge();
    if (into && total + chunk.byteLength > into.byteLength) {
      // Longer than declared: collect the rest as chunks after what was copied.
      chunks.push(into.subarray(0, total));
      into = null;
    }
    if (into) into.set(chunk, total);
    else chunks.push(chunk);
    total += chunk.byteLength;
  }
  if (into) return total === into.byteLength ? into : into.subarray(0, total);
  return Buffer.concat(chunks, total);
}

/** Plain words for the system and TLS errors of a connection that could not be made. */
const CONNECT_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate is not signed by a trusted authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its TLS certificate is not signed by a trusted authority',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  CERT_NOT_YET_VALID: 'its TLS certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
};
/** Plain words for errors of a connection that was made, then failed. */
const REQUEST_CAUSES: Readonly<Record<string, string>> = {
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed by the server',
};
const RESOLVE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NODATA', 'EAI_NONAME']);

/**
 * Why a request to `host` failed, as a message a user can act on: the host and the system error
 * (`Could not resolve "api.example.com" (ENOTFOUND)`, `Could not connect to "10.1.2.3": connection
 * refused (ECONNREFUSED)`), with the code in `extensions.cause`. Only the host and the error code are
 * used, never a URL (its path or query may hold secrets), a header or a body.
 */
export function connectionFailure(host: string, error: unknown): RegistryError {
  const code = findCause(error, (cause): cause is NodeJS.ErrnoException => typeof (cause as NodeJS.ErrnoException).code === 'string')?.code;
  const failed = (message: string) => new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, message, code ? { host, cause: code } : { host });
  if (code === undefined) return failed(`Request to "${host}" failed`);
  if (RESOLVE_CODES.has(code)) return failed(`Could not resolve "${host}" (${code})`);
  const connect = CONNECT_CAUSES[code] ?? (/^(ERR_SSL_|ERR_TLS_|ERR_OSSL_|CERT_)/.test(code) ? 'the TLS handshake failed' : undefined);
  if (connect) return failed(`Could not connect to "${host}": ${connect} (${code})`);
  const request = REQUEST_CAUSES[code] ?? (code.startsWith('HPE_') ? 'the answer is not valid HTTP' : undefined);
  return failed(request ? `Request to "${host}" failed: ${request} (${code})` : `Request to "${host}" failed (${code})`);
}

function translateError(
  error: unknown,
  context: { host: string | undefined; timedOut: boolean; callerSignal: AbortSignal | null | undefined; timeoutMs: number },
): unknown {
  const { host = 'the provider', timedOut, callerSignal, timeoutMs } = context;
  if (error instanceof RegistryError) return error;
  if (timedOut) {
    return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `Request to "${host}" timed out after ${timeoutMs} ms`, { host, timeoutMs });
  }
  if (callerSignal?.aborted) return callerSignal.reason;
  const denied = egressDenialOf(error) ?? tlsPinFailureOf(error);
  if (denied) return denied;
  return connectionFailure(host, error);
}

/** The host of a URL for messages, never its path, query or credentials; undefined when it does not parse. */
function hostNameOf(url: string): string | undefined {
  try {
    return urlHost(new URL(url)) || undefined;
  } catch {
    return undefined;
  }
}

/** The connect-time guard's refusal somewhere in a failed fetch's `cause` chain, if that is why it failed. */
export function egressDenialOf(error: unknown): EgressDeniedError | undefined {
  return findCause(error, (cause): cause is EgressDeniedError => cause instanceof EgressDeniedError);
}

/** Searches an error's `cause` chain (and AggregateError members, as happy-eyeballs connects raise). */
function findCause<T>(error: unknown, match: (cause: unknown) => cause is T, depth = 0): T | undefined {
  if (error == null || typeof error !== 'object' || depth > 8) return undefined;
  if (match(error)) return error;
  const nested = error instanceof AggregateError ? [...error.errors, error.cause] : [(error as { cause?: unknown }).cause];
  for (const cause of nested) {
    const found = findCause(cause, match, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * A request body as undici's request API sends it, encoded as fetch encodes it: a string or bytes as
 * they are, URLSearchParams, Blob and FormData as fetch would (setting the Content-Type fetch would
 * set when none is given, a string's too), a ReadableStream streamed (and so not sent again on a redirect).
 */
async function sendable(body: RequestInit['body'], headers: UndiciHeaders): Promise<string | Uint8Array | Readable | undefined> {
  if (body === null || body === undefined) return undefined;
  if (typeof body === 'string') {
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
    return body;
  }
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ReadableStream) return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  const encoded = new Response(body);
  const type = encoded.headers.get('content-type');
  if (type !== null && !headers.has('content-type')) headers.set('content-type', type);
  return new Uint8Array(await encoded.arrayBuffer());
}

/**
 * Decoders of the content codings fetch decodes, as fetch configures them (a body cut short after
 * its last whole block still yields what it holds). Other codings are left as they came.
 */
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: () => createGunzip({ flush: zlib.Z_SYNC_FLUSH, finishFlush: zlib.Z_SYNC_FLUSH }),
  'x-gzip': () => createGunzip({ flush: zlib.Z_SYNC_FLUSH, finishFlush: zlib.Z_SYNC_FLUSH }),
  deflate: () => createInflate({ flush: zlib.Z_SYNC_FLUSH, finishFlush: zlib.Z_SYNC_FLUSH }),
  br: () => createBrotliDecompress({ flush: zlib.BROTLI_OPERATION_FLUSH, finishFlush: zlib.BROTLI_OPERATION_FLUSH }),
};
/** Codings applied one over the other that are decoded at most (more is a decompression bomb's trick). */
const MAX_CODINGS = 5;

/**
 * The body with its content codings (`Content-Encoding`, the last applied first) undone, as a
 * stream read as it arrives, so the size cap counts decoded bytes without holding more than it.
 * As fetch: a coding it does not know leaves the body as it came, and a bodiless answer (to HEAD,
 * 204, 304) is not decoded. More than {@link MAX_CODINGS} codings: UPSTREAM_UNAVAILABLE. Destroying
 * the decoded stream destroys the body, and so the connection.
 */
function decoded(body: Readable, response: { status: number; method: string; encoding: string | null }, host: string): Readable {
  const codings = (response.encoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  const bodiless = response.method === 'HEAD' || response.status === 204 || response.status === 304;
  if (codings.length === 0 || bodiless || !codings.every((c) => Object.hasOwn(DECODERS, c))) return body;
  if (codings.length > MAX_CODINGS) {
    discard(body);
    throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `"${host}" answered with more than ${MAX_CODINGS} content codings`, { host });
  }
  const stages = codings.reverse().map((c) => DECODERS[c]!());
  // The pipeline destroys every stage (the body included) when one fails or the last is destroyed.
  return pipeline([body, ...stages], () => {}) as unknown as Readable;
}

/** Drops a body that will not be read (and its connection with it), its abort not reported as an error. */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** A response's headers (undici's request API: lower-case names, repeated ones as arrays) as fetch's Headers. */
function headersOf(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    if (typeof value === 'string') headers.append(name, value);
    else for (const each of value) headers.append(name, each);
  }
  return headers;
}

/** Rejects with the signal's reason once it aborts, so a hanging DNS lookup cannot outlive the deadline. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
