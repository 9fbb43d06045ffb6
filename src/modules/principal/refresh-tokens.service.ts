import { createHash, randomBytes } from 'node:crypto';
import { type EntityManager } from '@mikro-orm/postgresql';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { Principal, PrincipalStatus } from './principal.entity.js';
import { RefreshToken } from './refresh-token.entity.js';
import { TokenFamily } from './token-family.entity.js';
import { type PrincipalChanges } from './token-holders.js';

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The outcome of presenting a refresh token. */
export type RefreshResult =
  | { ok: true; principal: Principal; refreshToken: string; familyId: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'reused' | 'revoked' };

/**
 * Opaque refresh tokens, stored as sha-256 digests, rotated on every use. Presenting a token that
 * was already used revokes its whole family (the token was stolen, or the client is confused).
 */
export class RefreshTokenService {
  constructor(
    private readonly em: EntityManager,
    private readonly ttlSeconds: number,
    /** Told when reuse revokes a family, so no replica keeps accepting its access tokens. */
    private readonly changes?: PrincipalChanges,
  ) {}

  /**
   * A new refresh token starting a new {@link TokenFamily} (or continuing `family` after `parent`);
   * persisted on flush. The family id is what access tokens of this sign-in carry as `sid`.
   */
  issue(em: EntityManager, principal: Principal, family?: { familyId: string; parent: RefreshToken }): { token: string; familyId: string } {
    const token = `rt_${randomBytes(32).toString('base64url')}`;
    const familyId = family?.familyId ?? em.create(TokenFamily, { principal }).id;
    em.create(RefreshToken, {
      principal,
      tokenHash: digest(token),
      familyId,
      parent: family?.parent ?? null,
      expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
    });
    return { token, familyId };
  }

  /**
   * Exchanges a refresh token of `principalId` (the authenticated client) for a new one of the same
   * family. Another principal's token is treated as unknown and left untouched. Exactly one of
   * concurrent exchanges of the same token wins; the others count as reuse. Outcomes are audited.
   */
  async rotate(presented: string, principalId: string, actor: Actor = {}): Promise<RefreshResult> {
    const result = await this.exchange(presented, principalId, actor);
    // The family was revoked: announced once committed.
    if (!result.ok && result.reason === 'reused') await this.changes?.changed(principalId);
    return result;
  }

  private async exchange(presented: string, principalId: string, actor: Actor): Promise<RefreshResult> {
    return this.em.transactional(async (em) => {
      const audit = new AuditService(em);
      const stored = await em.findOne(RefreshToken, { tokenHash: digest(presented) }, { populate: ['principal'] });
      if (!stored || stored.principal.id !== principalId) return { ok: false, reason: 'unknown' };
      const record = (action: string, outcome: AuditOutcome, details: Record<string, unknown> = {}) =>
        audit.append({
          ...auditActor({ ...actor, principalId: stored.principal.id }),
          action,
          targetType: 'refresh_token_family',
          targetId: stored.familyId,
          outcome,
          details,
        });
      const now = new Date();
      // Claim the token atomically: only one exchange can move it from unused to used.
      const claimed = await em.nativeUpdate(RefreshToken, { id: stored.id, usedAt: null, revokedAt: null }, { usedAt: now });
      if (claimed === 0) {
        if (stored.revokedAt && !stored.usedAt) {
          await record('token.refresh', AuditOutcome.DENIED, { reason: 'revoked' });
          return { ok: false, reason: 'revoked' };
        }
        const revoked = await em.nativeUpdate(RefreshToken, { familyId: stored.familyId, revokedAt: null }, { revokedAt: now });
        // The family's access tokens (`sid`) are refused from now on too.
        await em.nativeUpdate(TokenFamily, { id: stored.familyId, revokedAt: null }, { revokedAt: now });
        await record('token.refresh.reuse', AuditOutcome.DENIED, { revokedTokens: revoked });
        return { ok: false, reason: 'reused' };
      }
      // Locks the family row, so a revocation of the family happens wholly before or after this exchange.
      const familyActive = await em.nativeUpdate(TokenFamily, { id: stored.familyId, revokedAt: null }, { updatedAt: now });
      if (familyActive === 0) {
        await record('token.refresh', AuditOutcome.DENIED, { reason: 'revoked' });
        return { ok: false, reason: 'revoked' };
      }
      if (stored.expiresAt.getTime() <= now.getTime() || stored.principal.status !== PrincipalStatus.ACTIVE) {
        await record('token.refresh', AuditOutcome.DENIED, { reason: 'expired or principal disabled' });
        return { ok: false, reason: 'expired' };
      }
      const { token: refreshToken } = this.issue(em, stored.principal, { familyId: stored.familyId, parent: stored });
      await em.flush();
      await record('token.refresh', AuditOutcome.SUCCESS);
      return { ok: true, principal: stored.principal, refreshToken, familyId: stored.familyId };
    });
  }
}
