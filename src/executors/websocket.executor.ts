import WebSocket from 'ws';
import { ErrorCode, RegistryError } from '../errors.js';
import { assertEgressAllowed } from '../security/egress.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import {
  applyAuth,
  callFailure,
  dropOAuthToken,
  hostOf,
  jsonOrText,
  parseUrl,
  readRequestTemplate,
  scalarText,
  secretValues,
  templateHeaders,
  templateProblem,
} from './http.request.js';
import { guardedWebSocket } from '../security/websocket-connect.js';
import { abortable } from './http.stream.js';

/** `UTCP_ARG_<name>_UTCP_END`, and `UTCP_ARG_<name>_UTCP_ARG` as python-utcp's WebSocket protocol spells it. */
const PLACEHOLDER = /UTCP_ARG_([A-Za-z0-9_]+?)_UTCP_(?:END|ARG)/g;
const WHOLE_PLACEHOLDER = /^UTCP_ARG_([A-Za-z0-9_]+?)_UTCP_(?:END|ARG)$/;
const FORMATS = ['json', 'text', 'raw'] as const;
/** The reference's default `timeout`, in seconds. */
const DEFAULT_TIMEOUT_S = 30;

type ResponseFormat = (typeof FORMATS)[number] | null;

/** The first message the server sent. */
interface Reply {
  data: Buffer;
  binary: boolean;
}

/** Where and how to connect; `addresses` are the ones the egress guard approved. */
interface Connection {
  url: URL;
  addresses: string[];
  headers: Headers;
  protocol: string | undefined;
  timeoutMs: number;
}

/**
 * Calls a UTCP `websocket` tool: connects to `url` (ws/wss) with the template's `headers`, the
 * `header_fields` arguments and `auth` (api_key in a header, the query or a cookie; basic; oauth2
 * client credentials) on the handshake, and `protocol` as subprotocol; sends one text message and
 * returns the first message the server answers with, then closes. The message is the template's
 * `message` with `UTCP_ARG_<name>_UTCP_END` placeholders replaced by the arguments (strings as they
 * are, other values as JSON; in an object template a string that is exactly one placeholder becomes
 * the argument's value with its JSON type; objects are sent as JSON), or, without `message`, the
 * arguments (less the header fields) as a JSON object. The answer is parsed per `response_format`:
 * `json` (must be JSON), `text`, `raw` (text frames as text, binary frames as base64), or, when not
 * set, JSON when it parses and text otherwise. The connection goes only to the addresses the egress
 * guard approved (no DNS rebinding), redirects are not followed, messages are capped at `maxBytes`
 * (`maxPayload`), compression is off, and the deadline is the smaller of `timeoutMs` and the
 * template's `timeout` (seconds).
 *
 * Differences from python-utcp's WebSocketCommunicationProtocol: one connection per call (no pooling,
 * `keep_alive` ignored); the reference's `UTCP_ARG_<name>_UTCP_ARG` spelling is accepted too, but a
 * placeholder without its argument is BAD_USER_INPUT instead of being sent as it is; whole-placeholder
 * strings keep their type; `header_fields` are sent as handshake headers (the reference ignores them);
 * api_key auth in the query or a cookie is applied (the reference applies headers only); a `json`
 * answer that is not JSON is EXECUTION_FAILED (`invalid_json`) instead of being returned as text.
 *
 * Throws EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE (also when
 * cancelled through `request.signal`, `cancelled: true`), BAD_USER_INPUT (a missing placeholder
 * argument, an unsendable header), EXECUTION_FAILED with `reason`: `http_status` (the handshake was
 * refused), `closed` (closed without answering), `invalid_json`, `protocol_error`, `invalid_template`.
 * No message holds a secret, header value or query string.
 */
export const executeWebsocket: Executor = async (request: ExecutionRequest): Promise<ExecutionOutcome> => {
  const invalid = templateProblem(request, 'websocket', { reason: 'invalid_template' });
  const template = readRequestTemplate(request, 'websocket', { bodyField: null, contentType: 'application/json' }, invalid);
  const { response_format: format, protocol, timeout } = request.callTemplate;
  if (format != null && !FORMATS.includes(format as never)) throw invalid('response_format is not json, text or raw');
  const seconds = typeof timeout === 'number' && timeout > 0 ? timeout : DEFAULT_TIMEOUT_S;
  const timeoutMs = Math.min(request.timeoutMs, seconds * 1000);
  const started = Date.now();
  const remainingMs = () => Math.max(1, timeoutMs - (Date.now() - started));
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;

  try {
    request.signal?.throwIfAborted();
    const args: Record<string, unknown> = { ...request.arguments };
    const headers = templateHeaders(template, args, request.toolName);
    const message = buildMessage(request.callTemplate.message, request.arguments, args, request.toolName);
    const url = parseUrl(template.url);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw invalid('url is not ws:// or wss://');
    const secrets = secretValues(template);
    const oauthKey = await applyAuth(template.auth, { headers, url, secrets }, request, remainingMs);
    // Invalid URLs, private addresses and credentials in the URL are refused here (EGRESS_DENIED).
    const addresses = await abortable(assertEgressAllowed(url, request.egress, { allowWebSocket: true }), signal);
    // A signing provider gets a signed upgrade request (RFC 9421) and the message in a signed envelope.
    await request.signer?.signRequest('GET', url, headers, undefined);
    const outgoing = request.signer ? await request.signer.signWebSocketMessage(url, message) : message;
    const connection: Connection = { url, addresses, headers, protocol: typeof protocol === 'string' && protocol !== '' ? protocol : undefined, timeoutMs: remainingMs() };
    const reply = await exchange(connection, outgoing, request, signal).catch((error: unknown) => {
      if (error instanceof RegistryError && error.extensions.status === 401) dropOAuthToken(oauthKey);
      throw error;
    });
    return { result: parseReply(reply, (format ?? null) as ResponseFormat, request.toolName, url), bytes: reply.data.length };
  } catch (error) {
    if (deadline.aborted && !request.signal?.aborted && !(error instanceof RegistryError)) throw timedOut(request.toolName, timeoutMs);
    throw callFailure(error, request);
  }
};

// ---------------------------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------------------------

/** The text to send: the `message` template with placeholders filled, or the arguments as JSON. */
function buildMessage(template: unknown, all: Record<string, unknown>, unsent: Record<string, unknown>, toolName: string): string {
  if (template === undefined || template === null) return JSON.stringify(unsent);
  const filled = fill(template, all, toolName);
  return typeof filled === 'string' ? filled : JSON.stringify(filled);
}

function fill(template: unknown, args: Record<string, unknown>, toolName: string): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(template);
    if (whole && typeof args[whole[1]!] !== 'string') return argument(args, whole[1]!, toolName);
    return template.replace(PLACEHOLDER, (_match, name: string) => {
      const value = argument(args, name, toolName);
      return typeof value === 'string' ? value : scalarText(value);
    });
  }
  if (Array.isArray(template)) return template.map((item) => fill(item, args, toolName));
  if (typeof template === 'object' && template !== null) {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, fill(value, args, toolName)]));
  }
  return template;
}

function argument(args: Record<string, unknown>, name: string, toolName: string): unknown {
  const value = args[name];
  if (value === undefined) throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${toolName}" needs the argument "${name}" for its message`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The exchange
// ---------------------------------------------------------------------------------------------

/** Connects, sends `message`, and resolves with the first message received; always closes the socket. */
function exchange(connection: Connection, message: string, request: ExecutionRequest, signal: AbortSignal): Promise<Reply> {
  const host = hostOf(connection.url.href);
  return new Promise<Reply>((resolve, reject) => {
    const socket = guardedWebSocket(connection.url, {
      protocol: connection.protocol,
      headers: connection.headers,
      addresses: connection.addresses,
      timeoutMs: connection.timeoutMs,
      maxBytes: request.maxBytes,
      egress: request.egress,
    });
    let settled = false;
    const finish = (error: unknown, reply?: Reply) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      socket.on('error', () => {});
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      else socket.terminate();
      if (reply) resolve(reply);
      else reject(error);
    };
    const onAbort = () => finish(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();

    socket.on('open', () => socket.send(message));
    socket.on('message', (data, binary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      finish(undefined, { data: bytes, binary });
    });
    socket.on('unexpected-response', (req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      finish(
        new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" failed: "${host}" answered HTTP ${status} instead of accepting the WebSocket connection`, {
          reason: 'http_status',
          status,
          host,
        }),
      );
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(socketError(error, request, host)));
    socket.on('close', (code) =>
      finish(
        new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" failed: "${host}" closed the connection (code ${code}) without answering`, {
          reason: 'closed',
          host,
        }),
      ),
    );
  });
}

function socketError(error: NodeJS.ErrnoException, request: ExecutionRequest, host: string): RegistryError {
  if (error instanceof RegistryError) return error;
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `Response from "${host}" exceeds ${request.maxBytes} bytes`, { host, maxBytes: request.maxBytes });
  }
  if (/handshake has timed out/i.test(error.message)) return timedOut(request.toolName, undefined, host);
  if (typeof error.code === 'string' && /^E[A-Z]+$/.test(error.code)) {
    return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Request to "${host}" failed (${error.code})`, { host });
  }
  return new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" failed: "${host}" broke the WebSocket protocol`, { reason: 'protocol_error', host });
}

function timedOut(toolName: string, timeoutMs?: number, host?: string): RegistryError {
  const after = timeoutMs === undefined ? '' : ` after ${timeoutMs} ms`;
  return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `Call of "${toolName}" timed out${after}`, { ...(host ? { host } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

/** The reply per `response_format`; binary frames as base64 unless JSON is required. */
function parseReply(reply: Reply, format: ResponseFormat, toolName: string, url: URL): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(reply.data.toString('utf8'));
    } catch {
      const host = hostOf(url.href);
      throw new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${toolName}" failed: "${host}" answered with a message that is not JSON`, {
        reason: 'invalid_json',
        host,
      });
    }
  }
  if (reply.binary && format !== 'text') return reply.data.toString('base64');
  const text = reply.data.toString('utf8');
  return format === null ? jsonOrText(text) : text;
}
