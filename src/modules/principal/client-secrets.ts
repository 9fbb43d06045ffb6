import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/** A new client id: public, recognisable in logs. */
export function newClientId(): string {
  return `reg_${randomBytes(12).toString('base64url')}`;
}

/** A new client secret: 32 random bytes, shown to its owner once. */
export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** argon2id hash of a client secret, for storage. */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret);
}

// Verified against when the client id is unknown, so timing does not tell which ids exist.
const decoy = hash(newClientSecret());

/** Whether `secret` matches `stored`; with no stored hash, does the same work and says no. */
export async function verifySecret(stored: string | null | undefined, secret: string): Promise<boolean> {
  if (!stored) {
    await verify(await decoy, secret).catch(() => false);
    return false;
  }
  return verify(stored, secret).catch(() => false);
}
