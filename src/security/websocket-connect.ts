import { isIP, type LookupFunction } from 'node:net';
import WebSocket from 'ws';
import { type EgressPolicy } from './egress-policy.js';
import { webSocketTlsOptions } from './tls-pins.js';

/**
 * A `net.connect` lookup that answers only with `addresses` (those the egress guard approved),
 * whatever the host name now resolves to.
 */
function pinnedLookup(addresses: readonly string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    const approved = addresses.map((address) => ({ address, family: isIP(address) })).filter((entry) => !wanted || entry.family === wanted);
    const [first] = approved;
    if (!first) callback(Object.assign(new Error('no approved address of the requested family'), { code: 'ENOTFOUND' }), '');
    else if (options.all) callback(null, approved);
    else callback(null, first.address, first.family);
  };
}

/** What {@link guardedWebSocket} connects with. */
export interface GuardedWebSocketOptions {
  /** The subprotocol to ask for, if any. */
  protocol?: string;
  /** Handshake headers (names as given); a `Host` among them is dropped. */
  headers: Iterable<[string, string]>;
  /** The addresses the egress guard approved for the URL's host: the only ones connected to. */
  addresses: readonly string[];
  /** The handshake's deadline. */
  timeoutMs: number;
  /** The largest message accepted. */
  maxBytes: number;
  egress: EgressPolicy;
}

/**
 * A WebSocket to `url` as the registry opens every one (calls and discovery): only to the approved
 * addresses (no DNS rebinding between check and connect), with the policy's CA and TLS pins, no
 * redirects followed, no compression, messages capped, and addressed by its checked URL only: a
 * `Host` header from a template or an argument would reach another virtual host behind the allowed
 * address, so it is never sent.
 */
export function guardedWebSocket(url: string | URL, options: GuardedWebSocketOptions): WebSocket {
  const headers: Record<string, string> = {};
  for (const [name, value] of options.headers) if (name.toLowerCase() !== 'host') headers[name] = value;
  return new WebSocket(url, options.protocol ? [options.protocol] : [], {
    headers,
    handshakeTimeout: options.timeoutMs,
    maxPayload: options.maxBytes,
    followRedirects: false,
    perMessageDeflate: false,
    lookup: pinnedLookup(options.addresses),
    ...webSocketTlsOptions(options.egress),
  });
}
