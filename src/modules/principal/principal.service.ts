import { type EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { isStorableText } from '../../common/json-values.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { effectiveScopes, isScope, ROLES, Scope } from '../../security/scopes.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { hashSecret, newClientId, newClientSecret, verifySecret } from './client-secrets.js';
import { Principal, PrincipalKind, PrincipalStatus } from './principal.entity.js';
import { RefreshToken } from './refresh-token.entity.js';
import { TokenFamily } from './token-family.entity.js';
import { type FamilyHolder, type HolderState, type PrincipalChanges } from './token-holders.js';
import { type Viewer } from './viewer.js';

export interface CreatePrincipalInput {
  name: string;
  kind: PrincipalKind;
  roles?: string[];
  scopes?: string[];
  /** Explicit credentials (bootstrap); generated when omitted. */
  clientId?: string;
  clientSecret?: string;
}

/** A principal with the client secret that was just set; the secret is shown to its owner once. */
export interface PrincipalWithSecret {
  principal: Principal;
  clientSecret: string;
}

/** The viewer a principal acts as, given the scopes its token carries. */
export function viewerOf(principal: Pick<Principal, 'id' | 'roles' | 'scopes' | 'costBudgetPerHour'>, tokenScopes?: readonly string[]): Viewer {
  const granted = effectiveScopes(principal.roles, principal.scopes);
  return viewerWithScopes(principal, tokenScopes ? granted.filter((s) => tokenScopes.includes(s)) : granted);
}

/** The viewer of a principal holding exactly these scopes (an external token's are its own). */
export function viewerWithScopes(principal: Pick<Principal, 'id' | 'roles' | 'costBudgetPerHour'>, scopes: readonly string[]): Viewer {
  return {
    principalId: principal.id,
    scopes: new Set(scopes),
    roles: principal.roles,
    isAdmin: scopes.includes(Scope.ADMIN),
    costBudgetPerHour: principal.costBudgetPerHour ?? null,
  };
}

/**
 * Manages principals, their client credentials and the revocation of their tokens. Every change
 * to what authenticating a principal's tokens answers is announced to `changes` once committed
 * (the token holder caches of every replica).
 */
export class PrincipalService {
  constructor(
    private readonly em: EntityManager,
    private readonly changes?: PrincipalChanges,
  ) {}

  /**
   * Principals ordered by name (then id), a page at a time; `search` matches a part of the name or
   * the client id, case-insensitively. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR.
   */
  async list(args: { first?: number | null; after?: string | null; filter?: { status?: PrincipalStatus | null; search?: string | null } | null }): Promise<Page<Principal>> {
    const size = pageSize(args.first);
    const where: FilterQuery<Principal>[] = [];
    const search = args.filter?.search?.trim();
    if (search && (search.length > 200 || !isStorableText(search))) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`filter.search` is at most 200 characters of text', { argument: 'filter.search', http: { status: 400 } });
    }
    if (search) {
      const like = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push({ $or: [{ name: { $ilike: like } }, { clientId: { $ilike: like } }] });
    }
    if (args.filter?.status) where.push({ status: args.filter.status });
    const filtered: FilterQuery<Principal> = where.length ? { $and: where } : {};
    const page: FilterQuery<Principal> = args.after
      ? (() => {
          const [name, id] = decodeCursor<[string, string]>('principals', args.after, ['string', 'string']);
          return { $or: [{ name: { $gt: name } }, { name, id: { $gt: id } }] };
        })()
      : {};
    const rows = await this.em.find(Principal, { $and: [filtered, page] }, { orderBy: { name: 'asc', id: 'asc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (p) => encodeCursor('principals', [p.name, p.id]), () => this.em.count(Principal, filtered));
  }

  async findById(id: string): Promise<Principal | null> {
    return isUuid(id) ? this.em.findOne(Principal, { id }) : null;
  }

  /**
   * The principal when `viewer` may see it — itself, admins and `audit:read` — else null without
   * saying whether it exists (federation `_entities`, `Execution.principal`).
   */
  async findVisible(id: string, viewer: Viewer | null): Promise<Principal | null> {
    if (!viewer) return null;
    const seesOthers = viewer.isAdmin || viewer.scopes.has(Scope.AUDIT_READ);
    return seesOthers || viewer.principalId === id ? this.findById(id) : null;
  }

  /**
   * Creates a principal with client credentials and audits it. Throws BAD_USER_INPUT for unknown
   * roles or scopes, CONFLICT for a client id in use.
   */
  async create(input: CreatePrincipalInput, actor: Actor = {}): Promise<PrincipalWithSecret> {
    const roles = [...new Set(input.roles ?? [])];
    const scopes = [...new Set(input.scopes ?? [])];
    const unknownRoles = roles.filter((r) => !ROLES.includes(r));
    const unknownScopes = scopes.filter((s) => !isScope(s));
    if (unknownRoles.length || unknownScopes.length) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Unknown roles or scopes: ${[...unknownRoles, ...unknownScopes].join(', ')}`, {
        roles: ROLES,
      });
    }
    const name = input.name.trim();
    if (!name || name.length > 200) throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'A name is 1 to 200 characters', { field: 'name' });
    const clientId = input.clientId ?? newClientId();
    const clientSecret = input.clientSecret ?? newClientSecret();
    const secretHash = await hashSecret(clientSecret);
    return this.em.transactional(async (em) => {
      if (await em.count(Principal, { clientId })) {
        throw new RegistryError(ErrorCode.CONFLICT, 'That client id is already in use', { field: 'clientId' });
      }
      const principal = em.create(Principal, { name, kind: input.kind, roles, scopes, clientId, secretHash });
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'principal.create',
        targetType: 'principal',
        targetId: principal.id,
        outcome: AuditOutcome.SUCCESS,
        details: { name, kind: input.kind, roles, scopes, clientId },
      });
      return { principal, clientSecret };
    });
  }

  /**
   * The active principal whose client credentials these are, or null (also for wrong secrets and
   * disabled principals, in the same time).
   */
  async authenticateClient(clientId: string, clientSecret: string): Promise<Principal | null> {
    const principal = clientId.length <= 128 ? await this.em.findOne(Principal, { clientId }) : null;
    const valid = await verifySecret(principal?.secretHash, clientSecret);
    return valid && principal?.status === PrincipalStatus.ACTIVE ? principal : null;
  }

  /** Replaces a principal's client secret (the old one stops working at once). Throws NOT_FOUND. */
  async rotateSecret(principalId: string, actor: Actor = {}): Promise<PrincipalWithSecret> {
    const clientSecret = newClientSecret();
    const secretHash = await hashSecret(clientSecret);
    return this.announced(principalId, async (em) => {
      const principal = await this.require(em, principalId);
      principal.secretHash = secretHash;
      principal.clientId ??= newClientId();
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'principal.rotateSecret',
        targetType: 'principal',
        targetId: principal.id,
        outcome: AuditOutcome.SUCCESS,
      });
      return { principal, clientSecret };
    });
  }

  /**
   * Disables a principal (its access tokens, refresh tokens and client credentials are refused) or
   * enables it again, effective immediately on every replica, and audits it. Throws NOT_FOUND, or
   * BAD_USER_INPUT when the actor would disable itself.
   */
  async setStatus(principalId: string, status: PrincipalStatus, actor: Actor = {}): Promise<{ principal: Principal }> {
    if (status === PrincipalStatus.DISABLED && actor.principalId === principalId) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'A principal cannot disable itself', { field: 'principalId' });
    }
    return this.announced(principalId, async (em) => {
      const principal = await this.require(em, principalId);
      const previous = principal.status;
      principal.status = status;
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'principal.setStatus',
        targetType: 'principal',
        targetId: principal.id,
        outcome: AuditOutcome.SUCCESS,
        details: { status, previous },
      });
      return { principal };
    });
  }

  /**
   * Revokes every token of a principal, effective immediately on every replica: its token families
   * are revoked (so every access token naming one is refused, whatever its `iat`), access tokens
   * issued up to now are refused, refresh tokens are revoked. Throws NOT_FOUND.
   */
  async revokeTokens(principalId: string, actor: Actor = {}): Promise<{ principal: Principal; revokedAt: Date }> {
    return this.announced(principalId, async (em) => {
      const principal = await this.require(em, principalId);
      const revokedAt = new Date();
      principal.tokensRevokedBefore = revokedAt;
      const refreshTokens = await em.nativeUpdate(RefreshToken, { principal, revokedAt: null }, { revokedAt });
      await em.nativeUpdate(TokenFamily, { principal, revokedAt: null }, { revokedAt });
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'token.revoke',
        targetType: 'principal',
        targetId: principal.id,
        outcome: AuditOutcome.SUCCESS,
        details: { refreshTokens },
      });
      return { principal, revokedAt };
    });
  }

  /**
   * The principal named by a registry token (`sub`) and the state of its token family (`sid`), or
   * null when the family is not one of this principal's: one indexed read (the family joined to its
   * principal). {@link accepts} decides with it; the token holder cache keeps it.
   */
  async holderOf(subject: string, familyId: string): Promise<FamilyHolder | null> {
    if (!isUuid(subject) || !isUuid(familyId)) return null;
    const family = await this.em.findOne(TokenFamily, { id: familyId, principal: subject }, { populate: ['principal'], strategy: 'joined' });
    return family ? { principal: family.principal, familyRevoked: Boolean(family.revokedAt) } : null;
  }

  /**
   * The principal an access token of the registry authenticates, or null when it must be refused:
   * the token's family (`sid`) is not a family of this principal or was revoked, the principal is
   * disabled, or its tokens were revoked at or after `issuedAt`.
   */
  static tokenHolder(holder: FamilyHolder | null, issuedAt: Date): HolderState | null {
    if (!holder || holder.familyRevoked) return null;
    return PrincipalService.accepts(holder.principal, issuedAt) ? holder.principal : null;
  }

  /** Whether an access token issued at `issuedAt` for this principal may still be used. */
  static accepts(principal: Pick<Principal, 'status' | 'tokensRevokedBefore'>, issuedAt: Date): boolean {
    if (principal.status !== PrincipalStatus.ACTIVE) return false;
    // `iat` has whole seconds: a token from the second of the revocation is refused too (fail safe).
    return !principal.tokensRevokedBefore || issuedAt.getTime() > principal.tokensRevokedBefore.getTime();
  }

  /** Runs `change` in a transaction and announces, once it committed, that `principalId` changed. */
  private async announced<T>(principalId: string, change: (em: EntityManager) => Promise<T>): Promise<T> {
    const result = await this.em.transactional(change);
    await this.changes?.changed(principalId);
    return result;
  }

  private async require(em: EntityManager, id: string): Promise<Principal> {
    const principal = isUuid(id) ? await em.findOne(Principal, { id }) : null;
    if (!principal) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such principal', { field: 'principalId' });
    return principal;
  }
}
