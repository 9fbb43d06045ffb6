import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { type Cidr, parseCidr } from '../common/ip.js';
import { ErrorCode, RegistryError } from '../errors.js';

/**
 * Hosts and CIDRs that may be reached although they are private, loopback or link-local
 * (REGISTRY_EGRESS_ALLOW: comma-separated, e.g. "127.0.0.1,10.0.0.0/8,api.internal.test,*.corp.test").
 * `allowHosts` holds lower-case host names and `*.suffix` wildcards (which match subdomains, not the
 * suffix itself); `allowCidrs` holds CIDRs, single addresses written as /32 or /128.
 */
export interface EgressPolicy {
  allowHosts: string[];
  allowCidrs: string[];
  /**
   * Set in production: `http://` and `ws://` URLs are refused (PLAINTEXT_EGRESS_REFUSED) unless
   * their host is one of these (REGISTRY_PLAINTEXT_ALLOW, as URLs spell hosts). Unset: not refused.
   */
  plaintextAllow?: readonly string[];
  /** PEM certificates outbound TLS trusts: Node's default roots plus REGISTRY_CA_FILE's CAs; unset: the defaults. */
  ca?: readonly string[];
}

/** An outbound plain-text (`http://`, `ws://`) URL refused in production; names the host, never the full URL. */
export class PlaintextEgressRefusedError extends RegistryError {
  constructor(readonly host: string) {
    super(
      ErrorCode.PLAINTEXT_EGRESS_REFUSED,
      `Outbound request to "${host}" refused: plain-text http:// and ws:// are not allowed in production; use https:// or wss:// (or list the host in REGISTRY_PLAINTEXT_ALLOW)`,
      { host },
    );
    this.name = 'PlaintextEgressRefusedError';
  }
}

const PLAINTEXT_SCHEMES = new Set(['http:', 'ws:']);

/** Keys of a call template whose string values are outbound URLs (the endpoint, MCP servers', OAuth token URLs). */
const URL_KEYS = new Set(['url', 'token_url']);

/**
 * {@link assertTransportAllowed} for every outbound URL of a call template: each `url` and
 * `token_url` string at any depth (the template's own, its MCP servers', its `auth` block's), so
 * registration refuses what every call would. A no-op where plain text is not refused.
 */
export function assertTemplateTransportAllowed(template: unknown, policy: EgressPolicy): void {
  if (!policy.plaintextAllow) return;
  const visit = (value: unknown, depth: number): void => {
    if (depth > 32 || value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value)) {
      if (URL_KEYS.has(key) && typeof item === 'string') assertTransportAllowed(item, policy);
      else visit(item, depth + 1);
    }
  };
  visit(template, 0);
}

/**
 * Throws {@link PlaintextEgressRefusedError} when `url` is `http://` or `ws://` and `policy` refuses
 * plain text for its host. URLs that do not parse (or start with a variable resolved at call time)
 * are left to the other checks.
 */
export function assertTransportAllowed(url: string | URL, policy: EgressPolicy): void {
  if (!policy.plaintextAllow) return;
  const parsed = typeof url === 'string' ? URL.parse(url) : url;
  if (!parsed || !PLAINTEXT_SCHEMES.has(parsed.protocol)) return;
  const host = urlHost(parsed);
  if (!policy.plaintextAllow.includes(host)) throw new PlaintextEgressRefusedError(host);
}

/** The resolver the guard uses; injectable so tests (and custom resolvers) can answer for any host. */
export type EgressLookup = typeof dnsLookup;

/** An outbound request was refused before a connection was made; names the host, never the full URL. */
export class EgressDeniedError extends RegistryError {
  constructor(
    readonly host: string | undefined,
    reason: string,
    /** The refused address, for logs; kept out of the client-visible extensions. */
    readonly address?: string,
  ) {
    super(ErrorCode.EGRESS_DENIED, host ? `Outbound request to "${host}" denied: ${reason}` : `Outbound request denied: ${reason}`, {
      ...(host ? { host } : {}),
    });
    this.name = 'EgressDeniedError';
  }
}


const WEB_SCHEMES = new Set(['http:', 'https:']);
const WEBSOCKET_SCHEMES = new Set(['ws:', 'wss:']);
/** ipaddr.js calls everything outside its special ranges `unicast`, including `::7f00:1` (IPv4-compatible); only 2000::/3 is routed globally. */
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
/** WHATWG URL parsing turns a host whose last label is a number (`127.1`, `0x7f.1`, `2130706433`) into an IPv4 address. */
const NUMERIC_LABEL = /^(0x[0-9a-f]*|[0-9]+)$/i;

/**
 * Parses REGISTRY_EGRESS_ALLOW. Entries are trimmed and empty ones skipped; IP addresses become
 * single-address CIDRs. Throws an Error naming the first entry that is not a host name, `*.suffix`
 * wildcard, IP address or CIDR (numeric shorthands such as `127.1` must be written out in full).
 */
export function parseEgressAllowList(value: string | undefined): EgressPolicy {
  const policy: EgressPolicy = { allowHosts: [], allowCidrs: [] };
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const bad = () => new Error(`egress allow-list entry "${entry}" is not a host name, "*.suffix" wildcard, IP address or CIDR`);
    if (entry.includes('/')) {
      const [address = '', bits = '', ...rest] = entry.split('/');
      const literal = unbracket(address);
      if (rest.length > 0 || !isIP(literal) || !/^\d{1,3}$/.test(bits) || !ipaddr.isValidCIDR(`${literal}/${bits}`)) throw bad();
      const [network, prefix] = ipaddr.parseCIDR(`${literal}/${bits}`);
      policy.allowCidrs.push(`${network.toString()}/${prefix}`);
    } else if (isIP(unbracket(entry))) {
      const address = ipaddr.parse(unbracket(entry));
      policy.allowCidrs.push(`${address.toString()}/${address.kind() === 'ipv4' ? 32 : 128}`);
    } else {
      const wildcard = entry.startsWith('*.');
      const host = normaliseHostName(wildcard ? entry.slice(2) : entry);
      if (!host) throw bad();
      policy.allowHosts.push(wildcard ? `*.${host}` : host);
    }
  }
  return policy;
}

/**
 * Checks a URL before any connection: scheme http/https only (ws/wss accepted when `allowWebSocket`),
 * no credentials in the URL, no plain text where the policy refuses it ({@link assertTransportAllowed}),
 * and every address the host resolves to must be public unless allow-listed. Returns the resolved
 * addresses. Throws {@link EgressDeniedError} or {@link PlaintextEgressRefusedError} when refused, and
 * a RegistryError with code UPSTREAM_UNAVAILABLE when the host does not resolve.
 */
export async function assertEgressAllowed(
  url: string | URL,
  policy: EgressPolicy,
  options: { allowWebSocket?: boolean; lookup?: EgressLookup } = {},
): Promise<string[]> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    // The rejected string may hold credentials, so it is not echoed.
    throw new EgressDeniedError(undefined, 'not a valid URL');
  }
  const schemeAllowed = WEB_SCHEMES.has(parsed.protocol) || (options.allowWebSocket === true && WEBSOCKET_SCHEMES.has(parsed.protocol));
  if (!schemeAllowed) {
    const allowed = options.allowWebSocket ? 'http, https, ws, wss' : 'http, https';
    throw new EgressDeniedError(undefined, `scheme "${parsed.protocol}" is not allowed (only ${allowed})`);
  }
  const host = urlHost(parsed);
  if (parsed.username || parsed.password) throw new EgressDeniedError(host, 'URLs must not carry credentials');
  if (!host) throw new EgressDeniedError(undefined, 'the URL has no host');
  assertTransportAllowed(parsed, policy);
  if (isIP(host)) {
    assertAddressAllowed(host, host, policy);
    return [host];
  }
  const lookup = options.lookup ?? dnsLookup;
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((entry) => entry.address);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
    throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Could not resolve "${host}" (${code})`, { host, cause: code });
  }
  if (addresses.length === 0) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Could not resolve "${host}"`, { host });
  assertResolvedAllowed(host, addresses, policy);
  return addresses;
}

/**
 * Throws {@link EgressDeniedError} unless `host` is allow-listed or every one of its resolved
 * `addresses` is public or inside an allow-listed CIDR. One private answer is enough to refuse, as the
 * client may connect to any of them.
 */
export function assertResolvedAllowed(host: string, addresses: readonly string[], policy: EgressPolicy): void {
  if (isHostAllowListed(host, policy)) return;
  for (const address of addresses) assertAddressAllowed(host, address, policy);
}

/** The lower-case host of a URL without IPv6 brackets or a trailing dot, as the guard compares it. */
export function urlHost(url: URL): string {
  return unbracket(url.hostname).replace(/\.$/, '').toLowerCase();
}

/**
 * Why `address` may not be reached under `policy` (its ipaddr.js range, e.g. `loopback`,
 * `private`, `linkLocal`), or undefined when it may. IPv4-mapped IPv6 addresses are judged as IPv4.
 */
export function deniedAddressReason(address: string, policy: EgressPolicy): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(unbracket(address));
  } catch {
    return 'not an IP address';
  }
  if (compileCidrs(policy).some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits))) return undefined;
  const range = ip.range();
  if (range !== 'unicast') return range;
  if (ip.kind() === 'ipv6' && !ip.match(IPV6_GLOBAL_UNICAST)) return 'not global unicast';
  return undefined;
}

function assertAddressAllowed(host: string, address: string, policy: EgressPolicy): void {
  const reason = deniedAddressReason(address, policy);
  if (reason === undefined) return;
  const what = isIP(host) ? 'the address is' : 'it resolves to an address';
  throw new EgressDeniedError(host, `${what} in a non-public range (${reason}) that is not allow-listed`, address);
}

function isHostAllowListed(host: string, policy: EgressPolicy): boolean {
  return policy.allowHosts.some((entry) => {
    const allowed = entry.toLowerCase().replace(/\.$/, '');
    return allowed.startsWith('*.') ? host.endsWith(allowed.slice(1)) : host === allowed;
  });
}

function compileCidrs(policy: EgressPolicy): Cidr[] {
  // parseCidr turns an allow-listed ::ffff:a.b.c.d/n into the IPv4 CIDR that deniedAddressReason compares.
  return policy.allowCidrs.map((entry) => {
    const cidr = parseCidr(unbracket(entry));
    if (!cidr) throw new Error(`egress allow-list entry "${entry}" is not an IP address or CIDR`);
    return cidr;
  });
}

function normaliseHostName(name: string): string | undefined {
  const host = domainToASCII(name.replace(/\.$/, '')).toLowerCase();
  if (!host || host.length > 253) return undefined;
  const labels = host.split('.');
  if (!labels.every((label) => LABEL.test(label))) return undefined;
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) return undefined;
  return host;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
