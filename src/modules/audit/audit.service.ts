import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type FilterQuery } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { isUuid } from '../../common/ids.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { AuditCheckpoint } from './audit-checkpoint.entity.js';
import { AuditEntry, AuditOutcome } from './audit-entry.entity.js';
import { type AuditCheckpointSigner, CHECKPOINT_LOCK, type CheckpointClaims, InvalidCheckpointError } from './audit.checkpoints.js';

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

/** What kind of damage verification found. */
export enum AuditProblemKind {
  /** An entry's content no longer matches its hash, or it does not link to the entry before it. */
  BROKEN_LINK = 'BROKEN_LINK',
  /** Entries were removed from the middle of the log (or the entry a checkpoint names is gone). */
  MISSING_ENTRIES = 'MISSING_ENTRIES',
  /** The newest entries are gone: a checkpoint covers sequence numbers past the last entry left. */
  TRUNCATED = 'TRUNCATED',
  /** The entry at a checkpoint's sequence number is not the one it signed, or the count differs: the log was rewritten. */
  CHECKPOINT_MISMATCH = 'CHECKPOINT_MISMATCH',
  /** A stored checkpoint's signature does not verify, or its row does not say what it signed. */
  CHECKPOINT_INVALID = 'CHECKPOINT_INVALID',
}

/** One thing verification found wrong, located by a sequence number where there is one. */
export interface AuditProblem {
  kind: AuditProblemKind;
  seq: string | null;
  message: string;
}

/**
 * Result of recomputing the chain and checking it against every stored checkpoint (and one kept
 * outside, when given): every problem found, the first broken entry, and how much of the log no
 * checkpoint anchors yet.
 */
export interface AuditVerification {
  valid: boolean;
  /** Entries that verified before the first broken one (all of them when none is broken). */
  checked: number;
  firstBrokenSeq: string | null;
  /** Entries read. */
  entries: number;
  lastSeq: string | null;
  /** The first sequence number missing between entries (with an intact link across it: an append rolled back by an older version). */
  firstMissingSeq: string | null;
  truncated: boolean;
  /** The last entry left when the log was truncated: entries after it, which a checkpoint covered, are gone. */
  truncatedAfterSeq: string | null;
  /** The newest checkpoint the log still matches: the anchor. */
  checkpoint: CheckpointClaims | null;
  checkpointAgeSeconds: number | null;
  /** Entries newer than the anchor (all of them without one): what a truncation could still remove unnoticed. */
  unanchoredEntries: number;
  /** Stored checkpoints checked. */
  checkpointsChecked: number;
  problems: AuditProblem[];
  summary: string;
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

/** The bigint key of a cursor of `kind`; anything else (or beyond bigint) never reaches a query: INVALID_CURSOR. */
function sequenceCursor(kind: string, cursor: string): string {
  const [key] = decodeCursor<[string]>(kind, cursor, ['string']);
  if (!/^\d{1,19}$/.test(key) || BigInt(key) > 2n ** 63n - 1n) {
    throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
  }
  return key;
}

/** The sequence number after `seq`, or the first one. */
const after = (seq: bigint | null) => (seq === null ? 1n : seq + 1n);

/**
 * Appends to and verifies the hash-chained audit log, and takes and lists its signed checkpoints
 * (those need `signer`). Never updates or deletes.
 */
export class AuditService {
  constructor(
    private readonly em: EntityManager,
    private readonly signer?: AuditCheckpointSigner,
  ) {}

  /**
   * Appends an entry linked to the previous one. Must run inside the transaction of the change it
   * records (so both commit or neither); a transaction-scoped advisory lock keeps the chain linear
   * under concurrent writers. The sequence number is the previous one plus one, taken under that
   * lock, so a rolled-back append leaves no gap and a gap means entries were removed.
   * Throws when called outside a transaction.
   */
  async append(record: AuditRecord): Promise<AuditEntry> {
    if (!this.em.isInTransaction()) throw new Error('AuditService.append must run inside a transaction');
    await this.em.execute(`select pg_advisory_xact_lock(hashtext('audit_entry_chain'))`);
    const [last] = await this.em.execute<{ seq: string; hash: string }[]>(`select a.seq::text as seq, a.hash from audit_entry a order by a.seq desc limit 1`);
    const prevHash = last?.hash ?? GENESIS_HASH;
    const seq = String(after(last ? BigInt(last.seq) : null));
    const at = new Date();
    const entry = this.em.create(AuditEntry, { ...normalize(record), seq, at, prevHash, hash: entryHash(prevHash, at, record) });
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
    if (args.after) where.seq = { $lt: sequenceCursor('audit', args.after) };
    const rows = await this.em.find(AuditEntry, where, { orderBy: { seq: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (e) => encodeCursor('audit', [e.seq]), total);
  }

  /**
   * Recomputes every hash in sequence order, streaming in batches, and checks the log against every
   * stored checkpoint and against `options.checkpoint` (a JWS kept outside the database, which a
   * superuser cannot delete with the rows): names broken links, gaps, the truncation point and
   * rewritten entries, and reports the newest matching checkpoint and the entries after it.
   * Throws BAD_USER_INPUT when the given checkpoint is not one this registry's keys signed.
   */
  async verify(batchSize = 1000, options: { checkpoint?: string | null } = {}): Promise<AuditVerification> {
    const problems: AuditProblem[] = [];
    const given = options.checkpoint ? await this.givenCheckpoint(options.checkpoint) : undefined;
    const counter = { stored: 0 };
    const stored = this.storedCheckpoints(batchSize, problems, counter);
    let storedNext = await stored.next();
    let givenPending = given;
    /** The next checkpoint to check, lowest sequence number first. */
    const nextCheckpoint = async (): Promise<CheckpointClaims | undefined> => {
      const head = storedNext.done ? undefined : storedNext.value;
      if (givenPending && (!head || BigInt(givenPending.seq) <= BigInt(head.seq))) {
        const taken = givenPending;
        givenPending = undefined;
        return taken;
      }
      if (head) storedNext = await stored.next();
      return head;
    };
    const when = (c: CheckpointClaims) => c.at.toISOString();

    let prevHash = GENESIS_HASH;
    let checked = 0;
    let entries = 0;
    let lastSeq: bigint | null = null;
    let firstBrokenSeq: string | null = null;
    let firstMissingSeq: string | null = null;
    let anchor: CheckpointClaims | null = null;
    let sinceAnchor = 0;
    let pending = await nextCheckpoint();
    let afterSeq = '0';
    for (;;) {
      const batch = await this.em.find(
        AuditEntry,
        { seq: { $gt: afterSeq } },
        { orderBy: { seq: 'asc' }, limit: batchSize, disableIdentityMap: true },
      );
      for (const entry of batch) {
        const seq = BigInt(entry.seq);
        const expected = after(lastSeq);
        const gap = seq > expected;
        if (gap) firstMissingSeq ??= String(expected);
        const linked = entry.prevHash === prevHash;
        if (linked && entry.hash === entryHash(prevHash, entry.at, entry)) {
          if (firstBrokenSeq === null) checked += 1;
        } else {
          firstBrokenSeq ??= entry.seq;
          const before = lastSeq === null ? 'the start of the chain' : `the entry at seq ${lastSeq}`;
          problems.push(
            gap && !linked
              ? { kind: AuditProblemKind.MISSING_ENTRIES, seq: String(expected), message: `entries from seq ${expected} to seq ${seq - 1n} are missing: the entry at seq ${seq} does not link to ${before}` }
              : {
                  kind: AuditProblemKind.BROKEN_LINK,
                  seq: entry.seq,
                  message: linked ? `the entry at seq ${seq} does not match its hash: its content was changed` : `the entry at seq ${seq} does not link to ${before}`,
                },
          );
        }
        // Go on from the stored hash, so one damaged entry is reported once.
        prevHash = entry.hash;
        entries += 1;
        sinceAnchor += 1;
        while (pending && BigInt(pending.seq) < seq) {
          problems.push({
            kind: AuditProblemKind.MISSING_ENTRIES,
            seq: pending.seq,
            message: `the entry at seq ${pending.seq}, covered by the checkpoint of ${when(pending)}, is missing`,
          });
          pending = await nextCheckpoint();
        }
        while (pending && BigInt(pending.seq) === seq) {
          if (pending.hash !== entry.hash) {
            problems.push({
              kind: AuditProblemKind.CHECKPOINT_MISMATCH,
              seq: entry.seq,
              message: `the entry at seq ${seq} is not the one the checkpoint of ${when(pending)} signed: the log was changed or rewritten after it`,
            });
          } else if (pending.count !== entries) {
            problems.push({
              kind: AuditProblemKind.CHECKPOINT_MISMATCH,
              seq: entry.seq,
              message: `the checkpoint of ${when(pending)} counted ${pending.count} entries up to seq ${seq}; the log now holds ${entries}`,
            });
          } else {
            anchor = pending;
            sinceAnchor = 0;
          }
          pending = await nextCheckpoint();
        }
        lastSeq = seq;
      }
      if (batch.length < batchSize) break;
      afterSeq = batch.at(-1)!.seq;
    }

    // Checkpoints past the last entry left: the newest entries were removed.
    let newest: CheckpointClaims | undefined;
    for (; pending; pending = await nextCheckpoint()) newest = pending;
    const truncatedAfterSeq = newest ? String(lastSeq ?? 0n) : null;
    if (newest) {
      problems.push({
        kind: AuditProblemKind.TRUNCATED,
        seq: truncatedAfterSeq,
        message: `the log was truncated: entries after seq ${truncatedAfterSeq} are missing, though the checkpoint of ${when(newest)} covers the log up to seq ${newest.seq} (${newest.count} entries)`,
      });
    }

    const valid = problems.length === 0;
    const unanchoredEntries = anchor ? sinceAnchor : entries;
    const unsigned = !this.signer && counter.stored > 0 ? ' (checkpoint signatures not checked: no keys given)' : '';
    const summary = valid
      ? anchor
        ? `valid: ${entries} entries, anchored by the checkpoint of ${when(anchor)} at seq ${anchor.seq}; ${unanchoredEntries} newer entries are not covered by a checkpoint yet${unsigned}`
        : `valid: ${entries} entries, but no checkpoint anchors them, so removing the newest would go unnoticed${unsigned}`
      : `not valid: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.slice(0, 3).map((p) => p.message).join('; ')}${problems.length > 3 ? '; …' : ''}`;
    return {
      valid,
      checked,
      firstBrokenSeq,
      entries,
      lastSeq: lastSeq === null ? null : String(lastSeq),
      firstMissingSeq,
      truncated: Boolean(newest),
      truncatedAfterSeq,
      checkpoint: anchor,
      checkpointAgeSeconds: anchor ? Math.max(0, Math.floor((Date.now() - anchor.at.getTime()) / 1000)) : null,
      unanchoredEntries,
      checkpointsChecked: counter.stored,
      problems,
      summary,
    };
  }

  /** The claims of a checkpoint passed in; BAD_USER_INPUT unless this registry's keys signed it. */
  private async givenCheckpoint(jws: string): Promise<CheckpointClaims> {
    try {
      return await this.requireSigner().verify(jws.trim());
    } catch (error) {
      if (!(error instanceof InvalidCheckpointError)) throw error;
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `The checkpoint is not valid: ${error.message}`, { argument: 'checkpoint' });
    }
  }

  /**
   * The stored checkpoints in sequence order, each verified: one whose signature fails, or whose row
   * no longer says what it signed, is reported and skipped. Without a signer, rows are taken as they are.
   */
  private async *storedCheckpoints(batchSize: number, problems: AuditProblem[], counter: { stored: number }): AsyncGenerator<CheckpointClaims> {
    let last: { seq: string; id: string } | null = null;
    for (;;) {
      const where: FilterQuery<AuditCheckpoint> = last ? { $or: [{ seq: { $gt: last.seq } }, { seq: last.seq, id: { $gt: last.id } }] } : {};
      const rows: AuditCheckpoint[] = await this.em.find(AuditCheckpoint, where, { orderBy: { seq: 'asc', id: 'asc' }, limit: batchSize, disableIdentityMap: true });
      for (const row of rows) {
        counter.stored += 1;
        const claims = await this.checkStored(row, problems);
        if (claims) yield claims;
      }
      if (rows.length < batchSize) return;
      last = { seq: rows.at(-1)!.seq, id: rows.at(-1)!.id };
    }
  }

  private async checkStored(row: AuditCheckpoint, problems: AuditProblem[]): Promise<CheckpointClaims | null> {
    const asStored = { seq: row.seq, hash: row.hash, count: Number(row.count), at: row.at, keyId: row.keyId, jws: row.jws };
    if (!this.signer) return asStored;
    const invalid = (why: string) => {
      problems.push({ kind: AuditProblemKind.CHECKPOINT_INVALID, seq: row.seq, message: `the stored checkpoint #${row.id} (seq ${row.seq}) ${why}` });
      return null;
    };
    let claims: CheckpointClaims;
    try {
      claims = await this.signer.verify(row.jws);
    } catch (error) {
      if (!(error instanceof InvalidCheckpointError)) throw error;
      return invalid(`is not valid: ${error.message}`);
    }
    const same = claims.seq === row.seq && claims.hash === row.hash && claims.count === Number(row.count) && claims.at.getTime() === row.at.getTime() && claims.keyId === row.keyId;
    return same ? claims : invalid('does not say what its signature says: its row was changed');
  }

  /**
   * Signs the chain's head and stores the checkpoint; returns it, or null when the log is empty
   * (or, with `onlyIfMoved`, when the newest checkpoint already names the head). The caller
   * serializes writers (advisory lock {@link CHECKPOINT_LOCK}) and publishes it after commit.
   */
  async writeCheckpoint(options: { onlyIfMoved?: boolean } = {}): Promise<AuditCheckpoint | null> {
    const signer = this.requireSigner();
    const [head] = await this.em.execute<{ seq: string; hash: string }[]>(`select a.seq::text as seq, a.hash from audit_entry a order by a.seq desc limit 1`);
    if (!head) return null;
    const [previous] = await this.em.find(AuditCheckpoint, {}, { orderBy: { seq: 'desc', id: 'desc' }, limit: 1, disableIdentityMap: true });
    if (options.onlyIfMoved && previous?.seq === head.seq) return null;
    const claims = await signer.sign({ ...head, count: await this.countUpTo(head.seq, previous) });
    const checkpoint = this.em.create(AuditCheckpoint, { ...claims, count: String(claims.count) });
    await this.em.flush();
    return checkpoint;
  }

  /** Entries up to `seq`: the previous checkpoint's signed count plus those after it, or all of them counted. */
  private async countUpTo(seq: string, previous: AuditCheckpoint | undefined): Promise<number> {
    const count = async (sql: string, params: string[]) => Number((await this.em.execute<{ n: string }[]>(sql, params))[0]!.n);
    if (previous && BigInt(previous.seq) <= BigInt(seq)) {
      const claims = await this.signer!.verify(previous.jws).catch(() => null);
      if (claims?.seq === previous.seq) {
        return claims.count + (await count(`select count(*)::text as n from audit_entry where seq > ? and seq <= ?`, [previous.seq, seq]));
      }
    }
    return count(`select count(*)::text as n from audit_entry where seq <= ?`, [seq]);
  }

  /**
   * `createAuditCheckpoint`: audits the request, then signs a checkpoint that covers that entry too,
   * stores it and writes it to the log.
   */
  async createCheckpoint(actor: Actor): Promise<{ checkpoint: AuditCheckpoint }> {
    const signer = this.requireSigner();
    const checkpoint = await this.em.transactional(async (em) => {
      await em.execute(`select pg_advisory_xact_lock(hashtext(?))`, [CHECKPOINT_LOCK]);
      const audit = new AuditService(em, signer);
      await audit.append({ ...auditActor(actor), action: 'audit.checkpoint', targetType: 'audit_log', outcome: AuditOutcome.SUCCESS });
      return (await audit.writeCheckpoint())!;
    });
    signer.publish(checkpoint);
    return { checkpoint };
  }

  /** Stored checkpoints, newest first, a page at a time. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async listCheckpoints(args: { first?: number | null; after?: string | null }): Promise<Page<AuditCheckpoint>> {
    const size = pageSize(args.first);
    const where: FilterQuery<AuditCheckpoint> = {};
    if (args.after) where.id = { $lt: sequenceCursor('audit-checkpoint', args.after) };
    const rows = await this.em.find(AuditCheckpoint, where, { orderBy: { id: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (c) => encodeCursor('audit-checkpoint', [c.id]), () => this.em.count(AuditCheckpoint));
  }

  private requireSigner(): AuditCheckpointSigner {
    if (!this.signer) throw new Error('AuditService needs the checkpoint signer for checkpoints');
    return this.signer;
  }
}

export { AuditOutcome };
