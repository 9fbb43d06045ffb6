import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JSONWebKeySet,
  type CryptoKey,
} from 'jose';

/** One key pair the registry signs or verifies access tokens with. */
export interface SigningKey {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** The current signing key and the older ones that still verify tokens they signed. */
export interface SigningKeyRing {
  current: SigningKey;
  all: SigningKey[];
  jwks: JSONWebKeySet;
}

const FILE = 'signing-keys.json';

async function fromPrivateJwk(jwk: JWK): Promise<SigningKey> {
  const alg = jwk.crv === 'Ed25519' ? 'EdDSA' : jwk.crv === 'P-256' ? 'ES256' : undefined;
  if (!alg || !jwk.d) throw new Error('signing keys must be private Ed25519 (EdDSA) or P-256 (ES256) JWKs');
  const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  const { d: _private, ...publicPart } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicPart));
  return { kid, alg, privateKey, publicJwk: { ...publicPart, kid, alg, use: 'sig' } };
}

function ring(keys: SigningKey[]): SigningKeyRing {
  return { current: keys[0]!, all: keys, jwks: { keys: keys.map((k) => k.publicJwk) } };
}

/** A new Ed25519 private key as a JWK, with its thumbprint as `kid`. */
export async function generateSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const { d: _private, ...publicPart } = jwk;
  return { ...jwk, kid: await calculateJwkThumbprint(publicPart) };
}

/**
 * Parses `REGISTRY_SIGNING_KEYS`: a JSON array of private JWKs, the first of which signs while
 * all of them verify (rotation: put the new key first, drop the old one once its tokens expired).
 * Throws without echoing key material.
 */
export async function parseSigningKeys(json: string): Promise<SigningKeyRing> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('REGISTRY_SIGNING_KEYS must be a JSON array of private JWKs');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('REGISTRY_SIGNING_KEYS must be a non-empty JSON array of private JWKs');
  return ring(await Promise.all(parsed.map((jwk) => fromPrivateJwk(jwk as JWK))));
}

/**
 * Embedded mode: the keys persisted in `<dataDir>/signing-keys.json` (created, mode 0600, on
 * first start), or a fresh in-memory key without a data directory.
 */
export async function loadOrCreateSigningKeys(dataDir?: string): Promise<{ keys: SigningKeyRing; created: boolean }> {
  if (!dataDir) return { keys: ring([await fromPrivateJwk(await generateSigningJwk())]), created: true };
  const path = join(dataDir, FILE);
  try {
    return { keys: await parseSigningKeys(await readFile(path, 'utf8')), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const jwk = await generateSigningJwk();
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, JSON.stringify([jwk]), { mode: 0o600 });
  await chmod(path, 0o600);
  return { keys: ring([await fromPrivateJwk(jwk)]), created: true };
}
