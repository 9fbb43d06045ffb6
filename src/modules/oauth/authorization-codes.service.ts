import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type EntityManager } from '@mikro-orm/postgresql';
import { type Principal } from '../principal/principal.entity.js';
import { AuthorizationCode } from './authorization-code.entity.js';

/** Lifetime of an authorization code, in seconds. */
export const CODE_TTL_SECONDS = 60;

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

function digest(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

/** Whether `challenge` is an S256 code challenge (BASE64URL of a sha-256: 43 characters). */
export function isS256Challenge(challenge: string): boolean {
  return CHALLENGE.test(challenge);
}

/** RFC 7636 §4.6 with S256: BASE64URL(SHA256(verifier)) equals the challenge. */
function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** What a code is issued for. */
export interface CodeGrant {
  clientId: string;
  principal: Principal;
  redirectUri: string;
  codeChallenge: string;
  audience: string[];
  scopes: string[];
}

/** The outcome of redeeming a code. */
export type Redemption =
  | { ok: true; code: AuthorizationCode }
  | { ok: false; reason: 'unknown' | 'expired' | 'mismatch' | 'verifier' }
  | { ok: false; reason: 'replayed'; familyId: string | null; principalId: string };

/** Authorization codes: stored as sha-256 digests, single-use, {@link CODE_TTL_SECONDS} long. */
export class AuthorizationCodes {
  constructor(private readonly em: EntityManager) {}

  /** A new code for `grant` (persisted now); expired codes are swept on the way. */
  async issue(grant: CodeGrant): Promise<string> {
    const code = `ac_${randomBytes(32).toString('base64url')}`;
    await this.em.nativeDelete(AuthorizationCode, { expiresAt: { $lt: new Date(Date.now() - 3600_000) } });
    this.em.create(AuthorizationCode, { ...grant, codeHash: digest(code), expiresAt: new Date(Date.now() + CODE_TTL_SECONDS * 1000) });
    await this.em.flush();
    return code;
  }

  /**
   * Claims a code for `clientId` (atomically: one redemption wins), then checks it: not expired,
   * the same redirect URI, a verifier matching the challenge. A code presented again is `replayed`
   * (the caller revokes what it issued); a claimed code that fails a check is spent all the same.
   */
  async redeem(code: string, clientId: string, redirectUri: string, verifier: string): Promise<Redemption> {
    if (code.length > 100) return { ok: false, reason: 'unknown' };
    const stored = await this.em.findOne(AuthorizationCode, { codeHash: digest(code) });
    if (!stored || stored.clientId !== clientId) return { ok: false, reason: 'unknown' };
    const claimed = await this.em.nativeUpdate(AuthorizationCode, { id: stored.id, usedAt: null }, { usedAt: new Date() });
    if (claimed === 0) {
      const current = await this.em.fork().findOneOrFail(AuthorizationCode, { id: stored.id });
      return { ok: false, reason: 'replayed', familyId: current.familyId ?? null, principalId: current.principal.id };
    }
    if (stored.expiresAt.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
    if (stored.redirectUri !== redirectUri) return { ok: false, reason: 'mismatch' };
    if (!verifierMatches(verifier, stored.codeChallenge)) return { ok: false, reason: 'verifier' };
    return { ok: true, code: stored };
  }

  /** Records the token family a redeemed code started (what a replay revokes). */
  async started(code: AuthorizationCode, familyId: string): Promise<void> {
    await this.em.nativeUpdate(AuthorizationCode, { id: code.id }, { familyId });
  }
}
