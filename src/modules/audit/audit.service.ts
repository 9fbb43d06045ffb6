import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type FilterQuery } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { isUuid } from '../../common/ids.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { AuditEntry, AuditOutcome } from './audit-entry.entity.js';

/** The `prevHash` of the first entry of the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** Who performs a change, for the audit log. */
export interface Actor {
  principalId?: string | null;
  requestId?: string | null;
  sourceIp?: string | null;
}

/** The audit fields of an actor (`actorId`, `requestId`, `sourceIp`). */
export function auditActor(actor: Actor): Pick<AuditRecord, 'actorId' | 'requestId' | 'sourceIp'> {
  return { actorId: actor.principalId ?? null, requestId: actor.requestId ?? null, sourceIp: actor.sourceIp ?? null };
}

/** What a caller records; the service adds the time, sequence and chain hashes. */
export interface AuditRecord {
  actorId?: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  outcome: AuditOutcome;
  requestId?: string | null;
  sourceIp?: string | null;
  /** Must already be redacted: it is stored and hashed as given. */
  details?: Record<string, unknown>;
}

/** Criteria of an audit-log listing. */
export interface AuditLogFilterInput {
  action?: string | null;
  actorId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  outcome?: AuditOutcome | null;
}

/** Result of recomputing the chain: the first entry whose hashes do not match, if any. */
export interface AuditVerification {
  valid: boolean;
  checked: number;
  firstBrokenSeq: string | null;
}

/** The recorded fields, in the form they are stored and hashed. */
function normalize(record: AuditRecord) {
  return {
    actorId: record.actorId ?? null,
    action: record.action,
    targetType: record.targetType,
    targetId: record.targetId ?? null,
    outcome: record.outcome,
    requestId: record.requestId ?? null,
    sourceIp: record.sourceIp ?? null,
    details: record.details ?? {},
  };
}

/** sha-256 over the previous hash and the canonical JSON (RFC 8785) of the entry's content. */
function entryHash(prevHash: string, at: Date, record: AuditRecord): string {
  const body = canonicalize({ at: at.toISOString(), ...normalize(record) });
  return createHash('sha256').update(prevHash).update(body ?? '').digest('hex');
}

/** Appends to and verifies the hash-chained audit log. Never updates or deletes. */
export class AuditService {
  constructor(private readonly em: EntityManager) {}

  /**
   * Appends an entry linked to the previous one. Must run inside the transaction of the change it
   * records (so both commit or neither); a transaction-scoped advisory lock keeps the chain linear
   * under concurrent writers. Throws when called outside a transaction.
   */
  async append(record: AuditRecord): Promise<AuditEntry> {
    if (!this.em.isInTransaction()) throw new Error('AuditService.append must run inside a transaction');
    await this.em.execute(`select pg_advisory_xact_lock(hashtext('audit_entry_chain'))`);
    const [last] = await this.em.execute<{ hash: string }[]>(`select hash from audit_entry order by seq desc limit 1`);
    const prevHash = last?.hash ?? GENESIS_HASH;
    const at = new Date();
    const entry = this.em.create(AuditEntry, { ...normalize(record), at, prevHash, hash: entryHash(prevHash, at, record) });
    await this.em.flush();
    return entry;
  }

  /**
   * Appends one entry in a transaction of its own, for records of refusals and other events that
   * change nothing else (a denied field, a refused call, a token request).
   */
  static async appendAlone(em: EntityManager, record: AuditRecord): Promise<AuditEntry> {
    return em.fork().transactional((tx) => new AuditService(tx).append(record));
  }

  /** The log newest first, a page at a time. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async list(args: { first?: number | null; after?: string | null; filter?: AuditLogFilterInput | null }): Promise<Page<AuditEntry>> {
    const size = pageSize(args.first);
    const where: FilterQuery<AuditEntry> = {};
    const filter = args.filter ?? {};
    if (filter.action) where.action = filter.action;
    if (filter.actorId) where.actorId = isUuid(filter.actorId) ? filter.actorId : null;
    if (filter.targetType) where.targetType = filter.targetType;
    if (filter.targetId) where.targetId = filter.targetId;
    if (filter.outcome) where.outcome = filter.outcome;
    const total = () => this.em.count(AuditEntry, where);
    if (args.after) {
      const [seq] = decodeCursor<[string]>('audit', args.after, ['string']);
      // A bigint sequence number: anything else (or beyond bigint) never reaches the query.
      if (!/^\d{1,19}$/.test(seq) || BigInt(seq) > 2n ** 63n - 1n) {
        throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
      }
      where.seq = { $lt: seq };
    }
    const rows = await this.em.find(AuditEntry, where, { orderBy: { seq: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (e) => encodeCursor('audit', [e.seq]), total);
  }

  /** Recomputes every hash in sequence order, streaming in batches; names the first broken link. */
  async verify(batchSize = 1000): Promise<AuditVerification> {
    let prevHash = GENESIS_HASH;
    let checked = 0;
    let afterSeq = '0';
    for (;;) {
      const batch = await this.em.find(
        AuditEntry,
        { seq: { $gt: afterSeq } },
        { orderBy: { seq: 'asc' }, limit: batchSize, disableIdentityMap: true },
      );
      for (const entry of batch) {
        if (entry.prevHash !== prevHash || entry.hash !== entryHash(prevHash, entry.at, entry)) {
          return { valid: false, checked, firstBrokenSeq: entry.seq };
        }
        prevHash = entry.hash;
        checked += 1;
      }
      if (batch.length < batchSize) return { valid: true, checked, firstBrokenSeq: null };
      afterSeq = batch.at(-1)!.seq;
    }
  }
}

export { AuditOutcome };
