import { LRUCache } from 'lru-cache';
import { type EventBus } from '../../common/event-bus.js';
import { InvalidationListener } from '../../common/invalidations.js';
import { type Logger } from '../../logger.js';
import { type Principal } from './principal.entity.js';

/** Topic on which a replica announces that what authenticating a principal's tokens answers changed. */
export const PRINCIPAL_TOPIC = 'principal-changed';
/** Most principals (and, separately, external subjects) held per process. */
const MAX_PRINCIPALS = 10_000;
/** Most token families remembered per principal; past this its families are read again. */
const MAX_FAMILIES = 1_000;

/** What deciding on a principal's tokens needs of it: status, revocation cut-off, grants and budget. */
export type HolderState = Pick<Principal, 'id' | 'roles' | 'scopes' | 'status' | 'tokensRevokedBefore' | 'costBudgetPerHour'>;

/** A principal and one of its token families as stored: what `PrincipalService.holderOf` reads. */
export interface FamilyHolder {
  principal: HolderState;
  familyRevoked: boolean;
}

/**
 * Announces that a principal's status, grants or revocations changed (after the change committed);
 * resolves once every replica was told (or the bus could not be reached); never rejects.
 */
export interface PrincipalChanges {
  changed(principalId: string): Promise<void>;
}

/** Longest an announcement is waited for before answering (a hung bus; the TTL bounds the rest). */
const ANNOUNCE_WAIT_MS = 2_000;

/** `published`, or nothing after {@link ANNOUNCE_WAIT_MS}. */
export function announced(published: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ANNOUNCE_WAIT_MS);
    timer.unref();
  });
  return Promise.race([published, waited]).finally(() => clearTimeout(timer));
}

interface Entry {
  principal: HolderState;
  /** Token family id → whether it is revoked. */
  families: Map<string, boolean>;
}

/** A copy of what the cache keeps of a principal, detached from any EntityManager. */
function stateOf(principal: HolderState): HolderState {
  return Object.freeze({
    id: principal.id,
    roles: Object.freeze([...principal.roles]) as string[],
    scopes: Object.freeze([...principal.scopes]) as string[],
    status: principal.status,
    tokensRevokedBefore: principal.tokensRevokedBefore ?? null,
    costBudgetPerHour: principal.costBudgetPerHour ?? null,
  });
}

/**
 * The holders of access tokens, held per process so that authenticating a request of a warm
 * process reads no SQL: each principal's status, grants and revocation cut-off, and the state of
 * the token families (`sid`) seen, for at most `ttlMs`. Every change is announced on the event bus
 * ({@link changed}) and drops the principal here and on every other replica at once. While the bus
 * may be missing messages (its delivery epoch is null, or listening has not started) nothing is
 * served from the cache, and everything cached before is dropped when delivery resumes; a change
 * whose announcement is lost all the same (the announcing replica could not reach the bus) takes
 * effect within `ttlMs`. Loads that overlap a change are not kept. Never throws for the bus.
 */
export class TokenHolderCache implements PrincipalChanges {
  private readonly holders: LRUCache<string, Entry>;
  /** External (OIDC) subjects by the client id they are known by. */
  private readonly external: LRUCache<string, HolderState>;
  private generation = 0;
  private readonly invalidations: InvalidationListener;

  constructor(
    private readonly bus: EventBus,
    logger: Logger,
    private readonly ttlMs: number,
  ) {
    const ttl = Math.max(ttlMs, 1);
    this.holders = new LRUCache<string, Entry>({ max: MAX_PRINCIPALS, ttl });
    this.external = new LRUCache<string, HolderState>({ max: MAX_PRINCIPALS, ttl });
    this.invalidations = new InvalidationListener(
      bus,
      [PRINCIPAL_TOPIC],
      { onMessage: (message) => this.drop((message as { principalId?: unknown } | null)?.principalId), onMissed: () => this.drop(undefined) },
      logger,
      'token holder cache',
    );
  }

  /** Listens for changes from every replica; retried in the background while the bus is out of reach. */
  async start(): Promise<void> {
    if (this.ttlMs > 0) await this.invalidations.start();
  }

  /** Stops listening; the cache is off from now on. */
  close(): void {
    this.invalidations.close();
  }

  /**
   * Drops the principal here and tells every replica; resolves once the bus took the message, so
   * the change's answer leaves only when no replica will accept what it revoked.
   */
  changed(principalId: string): Promise<void> {
    this.drop(principalId);
    return announced(this.bus.publish(PRINCIPAL_TOPIC, { principalId }));
  }

  /** Forgets a principal (every principal when `principalId` is not a string). */
  private drop(principalId: unknown): void {
    this.generation += 1;
    if (typeof principalId !== 'string') {
      this.holders.clear();
      this.external.clear();
      return;
    }
    this.holders.delete(principalId);
    for (const [clientId, state] of this.external.entries()) if (state.id === principalId) this.external.delete(clientId);
  }

  /**
   * The principal `subject` and the state of its token family `familyId`: from memory when known,
   * else from `load` (null: no such family of this principal, which is not remembered).
   */
  async family(subject: string, familyId: string, load: () => Promise<FamilyHolder | null>): Promise<FamilyHolder | null> {
    if (this.invalidations.usable()) {
      const entry = this.holders.get(subject);
      const revoked = entry?.families.get(familyId);
      if (entry && revoked !== undefined) return { principal: entry.principal, familyRevoked: revoked };
    }
    const generation = this.generation;
    const loaded = await load();
    if (!loaded || !this.invalidations.usable() || generation !== this.generation) return loaded;
    const principal = stateOf(loaded.principal);
    const entry = this.holders.get(subject);
    if (entry) {
      // The entry keeps its expiry: nothing in it is older than its TTL.
      entry.principal = principal;
      if (entry.families.size >= MAX_FAMILIES) entry.families.clear();
      entry.families.set(familyId, loaded.familyRevoked);
    } else {
      this.holders.set(subject, { principal, families: new Map([[familyId, loaded.familyRevoked]]) });
    }
    return { principal, familyRevoked: loaded.familyRevoked };
  }

  /** The principal an external subject is known by (`clientId`): from memory when known, else from `load`. */
  async externalHolder(clientId: string, load: () => Promise<HolderState>): Promise<HolderState> {
    if (this.invalidations.usable()) {
      const known = this.external.get(clientId);
      if (known) return known;
    }
    const generation = this.generation;
    const loaded = stateOf(await load());
    if (this.invalidations.usable() && generation === this.generation) this.external.set(clientId, loaded);
    return loaded;
  }
}
