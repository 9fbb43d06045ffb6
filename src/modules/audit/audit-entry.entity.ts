import { BigIntType, type Opt } from '@mikro-orm/core';
import { Entity, Enum, Index, PrimaryKey, Property, Trigger } from '@mikro-orm/decorators/legacy';

export enum AuditOutcome {
  SUCCESS = 'success',
  DENIED = 'denied',
  FAILURE = 'failure',
}

/**
 * An append-only, hash-chained record of something that happened. The database refuses
 * UPDATE and DELETE on this table (trigger `audit_entry_append_only`).
 */
@Entity({ tableName: 'audit_entry' })
@Trigger({
  name: 'audit_entry_append_only',
  timing: 'before',
  events: ['update', 'delete'],
  body: `raise exception 'audit_entry is append-only: % refused', tg_op using errcode = 'insufficient_privilege';`,
})
@Index({ properties: ['actorId', 'at'] })
@Index({ properties: ['targetType', 'targetId'] })
// The audit log's listing order (Migration20261206190000_audit_chains) and the export's (Migration20261207100200).
@Index({ name: 'audit_entry_at_seq_index', properties: ['at', 'seq'] })
@Index({ name: 'audit_entry_txid_seq_index', properties: ['txid', 'seq'] })
export class AuditEntry {
  /** Monotonic sequence: the chain's order. */
  @PrimaryKey({ type: new BigIntType('string'), autoincrement: true })
  seq!: Opt<string>;

  /** The export's order: the writing transaction's id, shifted (Migration20261207100200); set by its default, never by the application. */
  @Property({ type: new BigIntType('string'), defaultRaw: 'audit_txid()', lazy: true, hidden: true })
  txid?: Opt<string>;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  at: Opt<Date> = new Date();

  /** Principal id, or null for the registry itself. Not a foreign key: the record outlives the actor. */
  @Property({ type: 'uuid', nullable: true })
  actorId?: string | null;

  @Property({ type: 'string', length: 100 })
  action!: string;

  @Property({ type: 'string', length: 50 })
  targetType!: string;

  @Property({ type: 'string', length: 300, nullable: true })
  targetId?: string | null;

  @Enum({ items: () => AuditOutcome })
  outcome!: AuditOutcome;

  @Property({ type: 'string', length: 100, nullable: true })
  requestId?: string | null;

  @Property({ type: 'string', length: 64, nullable: true })
  sourceIp?: string | null;

  /** Redacted details of the event. */
  @Property({ type: 'json' })
  details: Opt<Record<string, unknown>> = {};

  @Property({ type: 'string', length: 64 })
  prevHash!: string;

  @Property({ type: 'string', length: 64, unique: true })
  hash!: string;
}
