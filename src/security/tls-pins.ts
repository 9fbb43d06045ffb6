import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity as defaultCheckServerIdentity, type DetailedPeerCertificate, type PeerCertificate, type TLSSocket } from 'node:tls';
import { ErrorCode, RegistryError } from '../errors.js';
import { type EgressPolicy } from './egress-policy.js';

/** Most pins a provider may declare (the current key, its successor, a backup or two). */
export const MAX_TLS_PINS = 8;
/** A pin: the base64 SHA-256 of a certificate's DER SubjectPublicKeyInfo (as HPKP's `pin-sha256`). */
const PIN = /^[A-Za-z0-9+/]{43}=$/;

/** An egress policy that also requires one of `tlsPins` in the chain of every TLS connection made under it. */
export interface PinnedEgressPolicy extends EgressPolicy {
  readonly tlsPins: readonly string[];
}

/** A TLS connection presented a chain holding none of the provider's pinned keys. Names the host, never a URL. */
export class TlsPinMismatchError extends RegistryError {
  constructor(readonly host: string) {
    super(ErrorCode.TLS_PIN_MISMATCH, `The TLS certificate chain of "${host}" holds none of the provider's pinned keys`, { host });
    this.name = 'TlsPinMismatchError';
  }
}

/**
 * Checks and normalises a provider's pins: each the base64 SHA-256 of a SubjectPublicKeyInfo (44
 * characters ending in `=`), at most {@link MAX_TLS_PINS}, duplicates dropped. Throws BAD_USER_INPUT
 * naming the position of the first bad pin.
 */
export function normaliseTlsPins(pins: readonly string[] | null | undefined): string[] {
  const unique = [...new Set((pins ?? []).map((pin) => pin.trim()))];
  if (unique.length > MAX_TLS_PINS) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, `At most ${MAX_TLS_PINS} TLS pins`, { argument: 'tlsPins' });
  }
  unique.forEach((pin, index) => {
    if (!PIN.test(pin) || Buffer.from(pin, 'base64').toString('base64') !== pin) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `tlsPins[${index}] is not a base64 SHA-256 digest (44 characters ending in "=")`, {
        argument: 'tlsPins',
      });
    }
  });
  return unique.sort();
}

/** The pin of a certificate (DER or PEM): base64 SHA-256 of its SubjectPublicKeyInfo. */
export function spkiPin(certificate: Buffer | string): string {
  const spki = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

const derived = new WeakMap<EgressPolicy, Map<string, PinnedEgressPolicy>>();

/**
 * `policy` with `pins` required, one object per (policy, pin set): the pooled agents are keyed by the
 * policy object, so a pinned provider's connections live in their own pool and are never shared with
 * an unpinned one or one with other pins. No pins: `policy` itself.
 */
export function pinnedPolicy(policy: EgressPolicy, pins: readonly string[] | null | undefined): EgressPolicy {
  if (!pins || pins.length === 0) return policy;
  const key = [...pins].sort().join(',');
  let byPins = derived.get(policy);
  if (!byPins) derived.set(policy, (byPins = new Map()));
  let pinned = byPins.get(key);
  if (!pinned) byPins.set(key, (pinned = { ...policy, tlsPins: key.split(',') }));
  return pinned;
}

/** The pinned policies derived from `policy` so far (their pools are closed with its own). */
export function pinnedPoliciesOf(policy: EgressPolicy): PinnedEgressPolicy[] {
  return [...(derived.get(policy)?.values() ?? [])];
}

/** The pins `policy` requires, if any. */
export function tlsPinsOf(policy: EgressPolicy): readonly string[] | undefined {
  const pins = (policy as Partial<PinnedEgressPolicy>).tlsPins;
  return pins && pins.length > 0 ? pins : undefined;
}

/** Whether `certificate` (a peer certificate with its issuer chain) holds a key of `pins`. */
function chainHoldsPin(certificate: PeerCertificate | DetailedPeerCertificate | undefined, pins: readonly string[]): boolean {
  const seen = new Set<unknown>();
  for (let cert = certificate as DetailedPeerCertificate | undefined; cert?.raw && !seen.has(cert); cert = cert.issuerCertificate) {
    seen.add(cert);
    if (pins.includes(spkiPin(cert.raw))) return true;
  }
  return false;
}

/**
 * Throws {@link TlsPinMismatchError} unless the chain the TLS socket's peer presented holds a pinned
 * key. Runs after the handshake (and the usual chain and host name validation) and before any request
 * byte is written. A resumed session presents no chain, so pinned pools do not resume sessions.
 */
export function assertSocketPinned(socket: TLSSocket, host: string, pins: readonly string[]): void {
  if (!chainHoldsPin(socket.getPeerCertificate(true), pins)) throw new TlsPinMismatchError(host);
}

/**
 * A `checkServerIdentity` for `tls.connect` (and clients that pass it on, as `ws` does): the usual host
 * name check, then the pin check. The TLS socket is closed with the returned error before the client
 * writes anything on it.
 */
export function pinningServerIdentity(pins: readonly string[]): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  return (hostname, certificate) => {
    const usual = defaultCheckServerIdentity(hostname, certificate);
    if (usual) return usual;
    const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
    return chainHoldsPin(certificate, pins) ? undefined : new TlsPinMismatchError(host);
  };
}

/** The pin refusal somewhere in a failed request's `cause` chain (and AggregateError members). */
export function tlsPinFailureOf(error: unknown, depth = 0): TlsPinMismatchError | undefined {
  if (error == null || typeof error !== 'object' || depth > 8) return undefined;
  if (error instanceof TlsPinMismatchError) return error;
  const nested = error instanceof AggregateError ? [...error.errors, error.cause] : [(error as { cause?: unknown }).cause];
  for (const cause of nested) {
    const found = tlsPinFailureOf(cause, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The `tls.connect` options a WebSocket client (ws) needs under `policy`: the pin check when it carries pins. */
export function webSocketTlsOptions(policy: EgressPolicy): { checkServerIdentity?: ReturnType<typeof pinningServerIdentity>; ca?: string[] } {
  const pins = tlsPinsOf(policy);
  return {
    // Node's default roots plus REGISTRY_CA_FILE's; certificates are always verified.
    ...(policy.ca ? { ca: [...policy.ca] } : {}),
    ...(pins ? { checkServerIdentity: pinningServerIdentity(pins) } : {}),
  };
}
