import WebSocket from 'ws';
import { ErrorCode, RegistryError } from '../errors.js';
import { assertEgressAllowed, connectionFailure } from '../security/egress.js';
import { guardedWebSocket } from '../security/websocket-connect.js';
import { discoveryFailed, hostOf, isObject, manualFromDocument, optionalString, requestHeaders, requiredString } from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

/** The discovery request of the reference WebSocket protocol. */
const DISCOVERY_MESSAGE = JSON.stringify({ type: 'utcp' });

/**
 * `websocket`: as the reference, connects to `url` (ws/wss, with the template's `headers`, the
 * resolved auth headers and its `protocol` as subprotocol), sends `{"type":"utcp"}` and takes the
 * first text message that is a JSON object with `tools` as the manual; other messages are skipped.
 * The connection goes only to the addresses the egress guard approved (no DNS rebinding), redirects
 * are not followed, and every message counts against `maxBytes`.
 */
export const discoverWebSocket: Discoverer = async (template, context) => {
  const url = requiredString(template, 'url');
  const protocol = optionalString(template, 'protocol');
  const host = hostOf(url);
  const scheme = URL.parse(url)?.protocol;
  if (scheme !== undefined && scheme !== 'ws:' && scheme !== 'wss:') {
    throw discoveryFailed('invalid_template', `The websocket call template needs a ws:// or wss:// \`url\`, got ${scheme}//`);
  }
  // Invalid URLs, private addresses and credentials in the URL are refused here (EGRESS_DENIED).
  const addresses = await assertEgressAllowed(url, context.options.egress, { allowWebSocket: true });
  const { maxBytes } = context.options;
  const source = `The WebSocket provider at "${host}"`;

  const document = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const socket = guardedWebSocket(url, {
      protocol,
      headers: Object.entries(requestHeaders(template.headers, context.options)),
      addresses,
      timeoutMs: context.remainingMs(),
      maxBytes,
      egress: context.options.egress,
    });
    let received = 0;
    let settled = false;
    const finish = (error: RegistryError | undefined, manual?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      context.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('close');
      socket.on('error', () => {});
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      else socket.terminate();
      if (error) reject(error);
      else resolve(manual!);
    };
    const onAbort = () =>
      finish(new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `${source} did not send a manual in time`, { host }));
    context.signal.addEventListener('abort', onAbort, { once: true });

    socket.on('open', () => socket.send(DISCOVERY_MESSAGE));
    socket.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? data.reduce((sum, part) => sum + part.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
      received += bytes;
      if (received > maxBytes) {
        finish(new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `${source} sent more than ${maxBytes} bytes without a manual`, { host, maxBytes }));
        return;
      }
      if (isBinary) return;
      try {
        const message: unknown = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
        if (isObject(message) && Array.isArray(message.tools)) finish(undefined, message);
      } catch {
        // not JSON: the reference skips it and keeps waiting
      }
    });
    socket.on('unexpected-response', (request, response) => {
      const status = response.statusCode ?? 0;
      response.resume();
      request.destroy();
      finish(
        discoveryFailed('http_status', `${source} answered HTTP ${status} instead of accepting the WebSocket connection`, { status, host }),
      );
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(translateSocketError(error, source, host, maxBytes)));
    socket.on('close', (code) => finish(discoveryFailed('protocol_error', `${source} closed the connection (code ${code}) without sending a manual`, { host })));
  });
  return manualFromDocument(document, source, { openApi: false });
};

function translateSocketError(error: NodeJS.ErrnoException, source: string, host: string | undefined, maxBytes: number): RegistryError {
  if (error instanceof RegistryError) return error;
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `${source} sent a message larger than ${maxBytes} bytes`, { host, maxBytes });
  }
  if (/handshake has timed out/i.test(error.message)) {
    return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `${source} did not complete the WebSocket handshake in time`, { host });
  }
  // System and TLS errors: the host and the cause (ECONNREFUSED, a certificate problem), as for HTTP.
  if (typeof error.code === 'string' && /^(E[A-Z]+|ERR_SSL_\w+|ERR_TLS_\w+|\w*CERT\w*)$/.test(error.code)) {
    return connectionFailure(host ?? 'the provider', error);
  }
  return discoveryFailed('protocol_error', `${source} broke the WebSocket protocol`, { host });
}
