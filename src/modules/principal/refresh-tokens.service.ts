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
  | { ok: true; principal: Principal; refreshToken: string; familyId: string; family: TokenFamily }
  | { ok: false; reason: 'unknown' | 'expired' | 'reused' | 'revoked' };

/**
 * Who presents a refresh token: the principal that authenticated with its secret (a
 * `client_credentials` family), or the public OAuth client its authorization-code family was issued to.
 */
export type RefreshOwner = { principalId: string } | { oauthClientId: string };

/** Whether `family` of a token of `principalId` belongs to `owner`. */
function ownedBy(owner: RefreshOwner, principalId: string, family: TokenFamily | null): boolean {
  if (!family) return false;
  if ('oauthClientId' in owner) return family.oauthClientId === owner.oauthClientId;
  return owner.principalId === principalId && !family.oauthClientId;
}

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
  issue(
    em: EntityManager,
    principal: Principal,
    family?: { familyId: string; parent: RefreshToken },
    grant: Pick<TokenFamily, 'audience' | 'scopes' | 'oauthClientId'> = {},
  ): { token: string; familyId: string } {
    const token = `rt_${randomBytes(32).toString('base64url')}`;
    const familyId = family?.familyId ?? em.create(TokenFamily, { principal, ...grant }).id;
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
   * Exchanges a refresh token of `owner` (the authenticated principal, or the public client of an
   * authorization-code family) for a new one of the same family. Another owner's token is treated
   * as unknown and left untouched. Exactly one of
   * concurrent exchanges of the same token wins; the others count as reuse. Outcomes are audited.
   */
  async rotate(presented: string, owner: RefreshOwner, actor: Actor = {}): Promise<RefreshResult> {
    const result = await this.exchange(presented, owner, actor);
    // The family was revoked: announced once committed.
    if (!result.ok && 'principalId' in result) await this.changes?.changed(result.principalId);
    return result.ok ? result : { ok: false, reason: result.reason };
  }

  /**
   * Revokes the family of `presented` (sign-out) when it belongs to `owner`, with its refresh tokens
   * and, through `sid`, its access tokens; audited. Returns whether a family was revoked (false for
   * an unknown token, another owner's, or a family already revoked).
   */
  async revoke(presented: string, owner: RefreshOwner, actor: Actor = {}): Promise<boolean> {
    const stored = await this.em.findOne(RefreshToken, { tokenHash: digest(presented) }, { populate: ['principal'] });
    const family = stored ? await this.em.findOne(TokenFamily, { id: stored.familyId }) : null;
    if (!stored || !family || !ownedBy(owner, stored.principal.id, family)) return false;
    const revoked = await revokeFamily(this.em, stored.familyId, stored.principal.id, this.changes);
    if (revoked) {
      await AuditService.appendAlone(this.em, {
        ...auditActor({ ...actor, principalId: stored.principal.id }),
        action: 'token.revoke',
        targetType: 'refresh_token_family',
        targetId: stored.familyId,
        outcome: AuditOutcome.SUCCESS,
        details: { reason: 'sign-out' },
      });
    }
    return revoked;
  }

  private async exchange(presented: string, owner: RefreshOwner, actor: Actor): Promise<RefreshResult | { ok: false; reason: 'reused'; principalId: string }> {
    return this.em.transactional(async (em) => {
      const audit = new AuditService(em);
      const stored = await em.findOne(RefreshToken, { tokenHash: digest(presented) }, { populate: ['principal'] });
      const family = stored ? await em.findOne(TokenFamily, { id: stored.familyId }) : null;
      if (!stored || !family || !ownedBy(owner, stored.principal.id, family)) return { ok: false, reason: 'unknown' };
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
        return { ok: false, reason: 'reused', principalId: stored.principal.id };
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
      return { ok: true, principal: stored.principal, refreshToken, familyId: stored.familyId, family };
    });
  }
}

/**
 * Revokes a token family and its refresh tokens (a replayed authorization code); announces the
 * change so no replica keeps accepting its access tokens. Returns whether it was active.
 */
export async function revokeFamily(em: EntityManager, familyId: string, principalId: string, changes?: PrincipalChanges): Promise<boolean> {
  const now = new Date();
  const revoked = await em.transactional(async (tx) => {
    await tx.nativeUpdate(RefreshToken, { familyId, revokedAt: null }, { revokedAt: now });
    return tx.nativeUpdate(TokenFamily, { id: familyId, revokedAt: null }, { revokedAt: now });
  });
  await changes?.changed(principalId);
  return revoked > 0;
}
