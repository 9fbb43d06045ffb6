import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** An IPv4 or IPv6 address. */
export type Address = ipaddr.IPv4 | ipaddr.IPv6;
/** A network and its prefix length. */
export type Cidr = [Address, number];

const addresses = new Map<string, Address | null>();
const cidrs = new Map<string, Cidr | null>();

/** Parses an IP address (IPv4-mapped IPv6 becomes IPv4; brackets and an IPv4 `:port` are dropped); null when it is none. */
export function parseAddress(value: string): Address | null {
  let address = addresses.get(value);
  if (address === undefined) {
    address = parseAddressUncached(value);
    if (addresses.size >= 10_000) addresses.clear();
    addresses.set(value, address);
  }
  return address;
}

function parseAddressUncached(value: string): Address | null {
  let text = value.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  // node:net is strict: no `127.1`, octal or hex shorthands that ipaddr.js would accept.
  if (isIP(text) === 0) return null;
  try {
    return ipaddr.process(text);
  } catch {
    return null;
  }
}

/** Parses a CIDR or a single address; an IPv4-mapped `::ffff:a.b.c.d/n` (n ≥ 96) becomes its IPv4 CIDR. Null when invalid. */
export function parseCidr(entry: string): Cidr | null {
  let cidr = cidrs.get(entry);
  if (cidr === undefined) {
    cidr = parseCidrUncached(entry);
    if (cidrs.size >= 10_000) cidrs.clear();
    cidrs.set(entry, cidr);
  }
  return cidr;
}

function parseCidrUncached(entry: string): Cidr | null {
  const text = entry.trim();
  try {
    if (!text.includes('/')) {
      const address = parseAddress(text);
      return address ? [address, address.kind() === 'ipv4' ? 32 : 128] : null;
    }
    const [literal = '', bits = ''] = text.split('/');
    if (isIP(literal) === 0 || !/^\d{1,3}$/.test(bits) || !ipaddr.isValidCIDR(text)) return null;
    const [network, prefix] = ipaddr.parseCIDR(text);
    if (network instanceof ipaddr.IPv6 && network.isIPv4MappedAddress() && prefix >= 96) return [network.toIPv4Address(), prefix - 96];
    return [network, prefix];
  } catch {
    return null;
  }
}
