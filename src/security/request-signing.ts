import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { createSigner, httpbis } from 'http-message-signatures';
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK } from 'jose';

/** Where the registry publishes the public halves of its request-signing keys (a JWKS of its own). */
export const REQUEST_SIGNING_JWKS_PATH = '/.well-known/request-signing-keys.json';
/** The components every signed call covers, in this order (RFC 9421 §2). */
export const SIGNED_COMPONENTS = ['@method', '@target-uri', 'content-digest', 'date'] as const;
/** The signature parameters every signed call carries (RFC 9421 §2.3); `nonce` is 128 random bits, base64url. */
export const SIGNATURE_PARAMETERS = ['created', 'keyid', 'alg', 'nonce'] as const;
/** The RFC 9421 §6.2.2 algorithm name of the signatures. */
export const SIGNATURE_ALG = 'ed25519';
/** The label of the registry's signature in `Signature-Input` and `Signature`. */
export const SIGNATURE_LABEL = 'registry';
/** `type` of the JSON envelope a signed WebSocket message travels in. */
export const WS_SIGNED_MESSAGE_TYPE = 'utcp-registry.signed-message';
const HKDF_INFO = 'tool-registry request-signing key v1';

/** One Ed25519 request-signing key: its private half and its public JWK (`use: sig`, `alg: EdDSA`, own `kid`). */
interface RequestSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

/** RFC 9530 `Content-Digest` of `body` with sha-256: `sha-256=:<base64>:`. */
export function contentDigest(body: string | Buffer | undefined): string {
  return `sha-256=:${createHash('sha256').update(body ?? '').digest('base64')}:`;
}

/**
 * Signs the registry's outgoing tool calls with HTTP Message Signatures (RFC 9421) under the first of
 * its keys (all are published at {@link REQUEST_SIGNING_JWKS_PATH}, so a provider can verify across a
 * rotation). These keys sign requests only: they are never in the token JWKS and no token verifier
 * accepts them.
 */
export class RequestSigner {
  private constructor(private readonly keys: RequestSigningKey[]) {}

  /** The public JWK Set to publish. */
  get jwks(): JSONWebKeySet {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }

  /** The `kid` signatures carry. */
  get keyId(): string {
    return this.keys[0]!.kid;
  }

  /**
   * Keys from `REGISTRY_REQUEST_SIGNING_KEYS` (a JSON array of private Ed25519 JWKs, the first signs),
   * else one derived from the credential master key (HKDF-SHA256), so replicas sharing the master
   * key sign with the same key and a restart keeps it. Throws without echoing key material.
   */
  static async create(options: { jwks?: string; masterKey: Buffer }): Promise<RequestSigner> {
    if (options.jwks) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(options.jwks);
      } catch {
        throw new Error('REGISTRY_REQUEST_SIGNING_KEYS must be a JSON array of private Ed25519 JWKs');
      }
      if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('REGISTRY_REQUEST_SIGNING_KEYS must be a non-empty JSON array of private Ed25519 JWKs');
      return new RequestSigner(await Promise.all(parsed.map((jwk) => fromPrivateJwk(jwk as JWK))));
    }
    const seed = Buffer.from(hkdfSync('sha256', options.masterKey, Buffer.alloc(0), HKDF_INFO, 32));
    const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    return new RequestSigner([await fromPrivateJwk(privateKey.export({ format: 'jwk' }) as JWK)]);
  }

  /**
   * Adds `Date` (unless set), `Content-Digest` (of `body`, empty when there is none), `Signature-Input`
   * and `Signature` (label {@link SIGNATURE_LABEL}) to `headers`, covering {@link SIGNED_COMPONENTS} with
   * {@link SIGNATURE_PARAMETERS}. Any `Signature`, `Signature-Input` or `Content-Digest` the template or
   * the arguments set is replaced.
   */
  async signRequest(method: string, url: URL, headers: Headers, body: string | undefined): Promise<void> {
    for (const name of ['signature', 'signature-input', 'content-digest']) headers.delete(name);
    if (!headers.has('date')) headers.set('date', new Date().toUTCString());
    headers.set('content-digest', contentDigest(body));
    const signed: { headers: Record<string, string | string[]> } = await httpbis.signMessage(
      {
        key: this.libraryKey(),
        name: SIGNATURE_LABEL,
        fields: [...SIGNED_COMPONENTS],
        params: [...SIGNATURE_PARAMETERS],
        paramValues: { nonce: randomBytes(16).toString('base64url') },
      },
      { method: method.toUpperCase(), url: url.href, headers: { date: headers.get('date')!, 'content-digest': headers.get('content-digest')! } },
    );
    headers.set('signature-input', signed.headers['Signature-Input'] as string);
    headers.set('signature', signed.headers['Signature'] as string);
  }

  /**
   * A WebSocket message of a signing provider, as sent: the JSON envelope
   * `{"type":"utcp-registry.signed-message","content-digest","signature-input","signature","message"}`,
   * where the signature (RFC 9421's signature base, label {@link SIGNATURE_LABEL}) covers
   * `@target-uri` (the WebSocket URL), `content-digest` (of `message`'s UTF-8 bytes) and
   * `@signature-params` with {@link SIGNATURE_PARAMETERS}.
   */
  async signWebSocketMessage(url: URL, message: string): Promise<string> {
    const digest = contentDigest(message);
    const signed: { headers: Record<string, string | string[]> } = await httpbis.signMessage(
      {
        key: this.libraryKey(),
        name: SIGNATURE_LABEL,
        fields: ['@target-uri', 'content-digest'],
        params: [...SIGNATURE_PARAMETERS],
        paramValues: { nonce: randomBytes(16).toString('base64url') },
      },
      { method: 'GET', url: url.href, headers: { 'content-digest': digest } },
    );
    return JSON.stringify({
      type: WS_SIGNED_MESSAGE_TYPE,
      'content-digest': digest,
      'signature-input': signed.headers['Signature-Input'],
      signature: signed.headers['Signature'],
      message,
    });
  }

  private libraryKey() {
    const key = this.keys[0]!;
    return createSigner(key.privateKey, SIGNATURE_ALG, key.kid);
  }
}

/** PKCS #8 DER of an Ed25519 private key, up to its 32-byte seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

async function fromPrivateJwk(jwk: JWK): Promise<RequestSigningKey> {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new Error('request-signing keys must be private Ed25519 JWKs');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, format: 'jwk' });
  } catch {
    throw new Error('a request-signing key is not a valid private Ed25519 JWK');
  }
  // The public half as derived from the private one, whatever `x` claimed.
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string };
  const publicPart = { kty: 'OKP', crv: 'Ed25519', x };
  const kid = jwk.kid ?? `rs-${await calculateJwkThumbprint(publicPart)}`;
  return { kid, privateKey, publicJwk: { ...publicPart, kid, alg: 'EdDSA', use: 'sig', key_ops: ['verify'] } };
}
