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
import { CHAIN_SPAN, chainOf, chainStart, writerChain } from './audit.chains.js';

/** The `prevHash` of the first entry of the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** What an append returns: the entry's place in the log. */
export interface AppendedEntry {
  seq: string;
  hash: string;
  at: Date;
}

/** A statement part that appends an entry (see {@link AuditService.appendSql}). */
export interface AuditAppendSql {
  sql: string;
  params: unknown[];
}

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

/** The canonical JSON (RFC 8785) of an entry's content: what its hash covers after the previous hash. */
function entryBody(at: Date, record: AuditRecord): string {
  return canonicalize({ at: at.toISOString(), ...normalize(record) }) ?? '';
}

/** sha-256 over the previous hash and an entry's body, as hex (the statement that appends computes the same in SQL). */
function chainHash(prevHash: string, body: string): string {
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}

/** sha-256 over the previous hash and the canonical JSON (RFC 8785) of the entry's content. */
function entryHash(prevHash: string, at: Date, record: AuditRecord): string {
  return chainHash(prevHash, entryBody(at, record));
}

/** The bigint key of a cursor of `kind`; anything else (or beyond bigint) never reaches a query: INVALID_CURSOR. */
function sequenceCursor(kind: string, cursor: string): string {
  const [key] = decodeCursor<[string]>(kind, cursor, ['string']);
  if (!/^\d{1,19}$/.test(key) || BigInt(key) > 2n ** 63n - 1n) {
    throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
  }
  return key;
}

/** Entries listed after the cursor of an entry (time, then sequence number, newest first); anything else: INVALID_CURSOR. */
function timeCursor(cursor: string): FilterQuery<AuditEntry> {
  const [at, seq] = decodeCursor<[string, string]>('audit', cursor, ['string', 'string']);
  const time = new Date(at);
  if (Number.isNaN(time.getTime()) || time.toISOString() !== at || !/^\d{1,19}$/.test(seq) || BigInt(seq) > 2n ** 63n - 1n) {
    throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
  }
  return { $or: [{ at: { $lt: time } }, { at: time, seq: { $lt: seq } }] };
}

/** Most entries one export request returns. */
export const MAX_EXPORT_LIMIT = 1000;

/** One exported entry: its content, its place in its chain, and the cursor to resume after it. */
export interface ExportedEntry {
  /** Pass as `after` to continue after this entry. */
  cursor: string;
  /** The writer chain the entry belongs to, and its 1-based position there. */
  chain: number;
  position: number;
  seq: string;
  at: string;
  actorId: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  outcome: AuditOutcome;
  requestId: string | null;
  sourceIp: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** The (transaction id, sequence number) an export cursor stands for; anything else: INVALID_CURSOR. */
function exportCursor(cursor: string): [string, string] {
  const [txid, seq] = decodeCursor<[string, string]>('audit-export', cursor, ['string', 'string']);
  const bigint = (v: string) => /^\d{1,19}$/.test(v) && BigInt(v) <= 2n ** 63n - 1n;
  if (!bigint(txid) || !bigint(seq)) {
    throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
  }
  return [txid, seq];
}

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
   * Appends an entry linked to the previous one of this process's chain, in one statement. Must run
   * inside the transaction of the change it records (so both commit or neither); the statement moves
   * the chain's head row, whose lock orders this process's appends until the transaction ends, and
   * never waits on other writers' chains. A rolled-back append leaves no gap.
   * Throws when called outside a transaction.
   */
  async append(record: AuditRecord): Promise<AppendedEntry> {
    if (!this.em.isInTransaction()) throw new Error('AuditService.append must run inside a transaction');
    const { sql, params } = AuditService.appendSql(record);
    const [entry] = await this.em.execute<AppendedEntry[]>(`with ${sql.slice(2)}`, params);
    return entry!;
  }

  /**
   * Appends one entry in a transaction of its own, for records of refusals and other events that
   * change nothing else (a denied field, a refused call, a token request): one autocommit statement.
   */
  static async appendAlone(em: EntityManager, record: AuditRecord): Promise<AppendedEntry> {
    const { sql, params } = AuditService.appendSql(record);
    const [entry] = await em.fork().execute<AppendedEntry[]>(`with ${sql.slice(2)}`, params);
    return entry!;
  }

  /**
   * The continuation of a `WITH` list that appends `record` to this process's chain: `sql` starts with
   * ", " and ends with the INSERT, which returns the entry's `seq` and `hash`. Callers prefix their own
   * data-modifying CTEs and run the whole as one statement (atomic without a transaction: the change
   * and its entry commit together); with `guard`, the entry is appended only when the CTE of that name
   * returned a row, so a change that matched nothing leaves neither an entry nor a gap.
   */
  static appendSql(record: AuditRecord, options: { guard?: string } = {}): AuditAppendSql {
    const at = new Date();
    const body = entryBody(at, record);
    const fields = normalize(record);
    const start = chainStart(writerChain);
    const guard = options.guard ? ` where exists (select 1 from ${options.guard})` : '';
    const sql = `, audit_chain_head as (
        insert into audit_chain (id, seq, prev_hash, hash) select ?::int, ?::bigint, ?, ?${guard}
        on conflict (id) do update set seq = audit_chain.seq + 1, prev_hash = audit_chain.hash,
          hash = encode(sha256(convert_to(audit_chain.hash || ?::text, 'UTF8')), 'hex')
        returning seq, prev_hash, hash)
      insert into audit_entry (seq, at, actor_id, action, target_type, target_id, outcome, request_id, source_ip, details, prev_hash, hash)
      select h.seq, ?::timestamptz, ?::uuid, ?, ?, ?, ?, ?, ?, ?::jsonb, h.prev_hash, h.hash from audit_chain_head h
      returning seq::text as seq, hash, at`;
    const params = [
      Number(writerChain),
      start.toString(),
      GENESIS_HASH,
      chainHash(GENESIS_HASH, body),
      body,
      at.toISOString(),
      fields.actorId,
      fields.action,
      fields.targetType,
      fields.targetId,
      fields.outcome,
      fields.requestId,
      fields.sourceIp,
      JSON.stringify(fields.details),
    ];
    return { sql, params };
  }

  /**
   * The log newest first (by time: entries of several chains interleave), a page at a time.
   * Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR.
   */
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
    const page: FilterQuery<AuditEntry> = args.after ? timeCursor(args.after) : {};
    const rows = await this.em.find(AuditEntry, { $and: [where, page] }, { orderBy: { at: 'desc', seq: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (e) => encodeCursor('audit', [e.at.toISOString(), e.seq]), total);
  }

  /** The entry with this sequence number, or null (also for anything that is not one). */
  async findBySeq(seq: string): Promise<AuditEntry | null> {
    return /^[1-9][0-9]{0,17}$/.test(seq) ? this.em.findOne(AuditEntry, { seq }) : null;
  }

  /**
   * The next entries for a SIEM export after `after` (a cursor from an earlier export; from the start
   * without one), at most `limit`. Entries come in the order their transactions started, and only
   * those whose transaction id is below the oldest transaction still running: every transaction that
   * could still commit an entry with an earlier key is finished, so a consumer that resumes from the
   * last cursor it stored never skips one, though other writers' chains commit out of sequence order.
   * An open transaction holds the export back until it ends. Throws INVALID_CURSOR or BAD_USER_INPUT.
   */
  async exportAfter(after: string | null | undefined, limit: number): Promise<ExportedEntry[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXPORT_LIMIT) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`limit\` must be a whole number from 1 to ${MAX_EXPORT_LIMIT}`, { argument: 'limit', http: { status: 400 } });
    }
    const [txid, seq] = after ? exportCursor(after) : ['0', '0'];
    const keys = await this.em.execute<{ seq: string; txid: string }[]>(
      `select seq::text as seq, txid::text as txid from audit_entry
        where (txid, seq) > (?::bigint, ?::bigint)
          and txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint + (select shift from audit_txid_shift where id = 1)
        order by txid, seq limit ?`,
      [txid, seq, limit],
    );
    if (keys.length === 0) return [];
    const rows = await this.em.find(AuditEntry, { seq: { $in: keys.map((k) => k.seq) } }, { disableIdentityMap: true });
    const bySeq = new Map(rows.map((row) => [row.seq, row]));
    return keys.map((key) => {
      const entry = bySeq.get(key.seq)!;
      const n = BigInt(entry.seq);
      const chain = chainOf(n);
      return {
        cursor: encodeCursor('audit-export', [key.txid, key.seq]),
        chain: Number(chain),
        position: Number(n - chainStart(chain) + 1n),
        seq: entry.seq,
        at: entry.at.toISOString(),
        // The recorded fields as they are hashed, so a consumer can recompute the hash.
        ...normalize(entry),
        prevHash: entry.prevHash,
        hash: entry.hash,
      };
    });
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
    let chains = 0;
    let lastSeq: bigint | null = null;
    let firstBrokenSeq: string | null = null;
    let firstMissingSeq: string | null = null;
    let anchor: CheckpointClaims | null = null;
    let unanchoredEntries = 0;
    let truncatedAfterSeq: string | null = null;
    /** The chain being read: its number, its newest entry read, its entries, and those after its newest matching checkpoint. */
    let chain = null as { id: bigint; last: bigint | null; entries: number; sinceAnchor: number; anchored: boolean } | null;
    let pending = await nextCheckpoint();

    /** Checkpoints of chains before `seq`'s (or all, without it) are past their chain's last entry: the newest entries were removed. */
    const truncations = async (beforeSeq: bigint | null) => {
      const last = new Map<bigint, CheckpointClaims>();
      while (pending && (beforeSeq === null || BigInt(pending.seq) < chainStart(chainOf(beforeSeq)))) {
        last.set(chainOf(BigInt(pending.seq)), pending);
        pending = await nextCheckpoint();
      }
      for (const [id, newest] of last) {
        const keptUpTo = chain?.id === id && chain.last !== null ? chain.last : chainStart(id) - 1n;
        truncatedAfterSeq ??= String(keptUpTo);
        problems.push({
          kind: AuditProblemKind.TRUNCATED,
          seq: String(keptUpTo),
          message: `the log was truncated: entries after seq ${keptUpTo} are missing, though the checkpoint of ${when(newest)} covers the log up to seq ${newest.seq} (${newest.count} entries of chain ${id})`,
        });
      }
    };
    const closeChain = () => {
      if (chain) unanchoredEntries += chain.anchored ? chain.sinceAnchor : chain.entries;
    };

    let afterSeq = '0';
    for (;;) {
      const batch = await this.em.find(
        AuditEntry,
        { seq: { $gt: afterSeq } },
        { orderBy: { seq: 'asc' }, limit: batchSize, disableIdentityMap: true },
      );
      for (const entry of batch) {
        const seq = BigInt(entry.seq);
        const id = chainOf(seq);
        if (chain?.id !== id) {
          await truncations(seq);
          closeChain();
          chain = { id, last: null, entries: 0, sinceAnchor: 0, anchored: false };
          chains += 1;
          prevHash = GENESIS_HASH;
        }
        const expected = chain.last === null ? chainStart(id) : chain.last + 1n;
        const gap = seq > expected;
        if (gap) firstMissingSeq ??= String(expected);
        const linked = entry.prevHash === prevHash;
        if (linked && entry.hash === entryHash(prevHash, entry.at, entry)) {
          if (firstBrokenSeq === null) checked += 1;
        } else {
          firstBrokenSeq ??= entry.seq;
          const before = chain.last === null ? `the start of chain ${id}` : `the entry at seq ${chain.last}`;
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
        chain.entries += 1;
        chain.sinceAnchor += 1;
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
          } else if (pending.count !== chain.entries) {
            problems.push({
              kind: AuditProblemKind.CHECKPOINT_MISMATCH,
              seq: entry.seq,
              message: `the checkpoint of ${when(pending)} counted ${pending.count} entries of chain ${id} up to seq ${seq}; the log now holds ${chain.entries}`,
            });
          } else {
            if (!anchor || pending.at >= anchor.at) anchor = pending;
            chain.anchored = true;
            chain.sinceAnchor = 0;
          }
          pending = await nextCheckpoint();
        }
        chain.last = seq;
        lastSeq = seq;
      }
      if (batch.length < batchSize) break;
      afterSeq = batch.at(-1)!.seq;
    }
    // Checkpoints past the last entry left of their chain: the newest entries were removed.
    await truncations(null);
    closeChain();

    const valid = problems.length === 0;
    const unsigned = !this.signer && counter.stored > 0 ? ' (checkpoint signatures not checked: no keys given)' : '';
    const across = chains > 1 ? ` in ${chains} chains` : '';
    const summary = valid
      ? anchor
        ? `valid: ${entries} entries${across}, anchored by the checkpoint of ${when(anchor)} at seq ${anchor.seq}; ${unanchoredEntries} newer entries are not covered by a checkpoint yet${unsigned}`
        : `valid: ${entries} entries${across}, but no checkpoint anchors them, so removing the newest would go unnoticed${unsigned}`
      : `not valid: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.slice(0, 3).map((p) => p.message).join('; ')}${problems.length > 3 ? '; …' : ''}`;
    return {
      valid,
      checked,
      firstBrokenSeq,
      entries,
      lastSeq: lastSeq === null ? null : String(lastSeq),
      firstMissingSeq,
      truncated: truncatedAfterSeq !== null,
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
   * Signs the head of every chain (with `onlyIfMoved`, of every chain whose head moved since its newest
   * checkpoint) and stores the checkpoints; returns them, in chain order (none when the log is empty).
   * The caller serializes writers (advisory lock {@link CHECKPOINT_LOCK}) and publishes them after commit.
   */
  async writeCheckpoints(options: { onlyIfMoved?: boolean } = {}): Promise<AuditCheckpoint[]> {
    const signer = this.requireSigner();
    const heads = await this.em.execute<{ seq: string; hash: string }[]>(`select c.seq::text as seq, c.hash from audit_chain c order by c.id`);
    const signed = options.onlyIfMoved
      ? new Set((await this.em.execute<{ seq: string }[]>(`select max(seq)::text as seq from audit_checkpoint group by (seq - 1) / ?::bigint`, [CHAIN_SPAN.toString()])).map((r) => r.seq))
      : new Set<string>();
    const checkpoints: AuditCheckpoint[] = [];
    for (const head of heads) {
      if (signed.has(head.seq)) continue;
      const seq = BigInt(head.seq);
      // A chain's entries take its sequence numbers without gaps: the count up to the head is its position.
      const claims = await signer.sign({ ...head, count: Number(seq - chainStart(chainOf(seq)) + 1n) });
      checkpoints.push(this.em.create(AuditCheckpoint, { ...claims, count: String(claims.count) }));
    }
    await this.em.flush();
    return checkpoints;
  }

  /**
   * `createAuditCheckpoint`: audits the request, then signs checkpoints of every chain that moved (this
   * process's chain, which holds that entry, among them), stores them and writes them to the log;
   * returns the one of this process's chain.
   */
  async createCheckpoint(actor: Actor): Promise<{ checkpoint: AuditCheckpoint }> {
    const signer = this.requireSigner();
    const checkpoint = await this.em.transactional(async (em) => {
      await em.execute(`select pg_advisory_xact_lock(hashtext(?))`, [CHECKPOINT_LOCK]);
      const audit = new AuditService(em, signer);
      const entry = await audit.append({ ...auditActor(actor), action: 'audit.checkpoint', targetType: 'audit_log', outcome: AuditOutcome.SUCCESS });
      return { written: await audit.writeCheckpoints({ onlyIfMoved: true }), seq: entry.seq };
    });
    for (const written of checkpoint.written) signer.publish(written);
    return { checkpoint: checkpoint.written.find((c) => c.seq === checkpoint.seq)! };
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
