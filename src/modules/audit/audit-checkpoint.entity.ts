import { BigIntType, type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property, Trigger } from '@mikro-orm/decorators/legacy';

/**
 * A signed statement of the audit chain's head: "at `at`, the newest entry was `seq` with `hash`,
 * and the log held `count` entries". `jws` is the statement itself (a compact JWS signed with the
 * registry's signing key, `typ: audit-checkpoint+jwt`); the other columns repeat its claims for
 * queries, and verification checks they still agree. Append-only like the log it anchors
 * (trigger `audit_checkpoint_append_only`).
 */
@Entity({ tableName: 'audit_checkpoint' })
@Trigger({
  name: 'audit_checkpoint_append_only',
  timing: 'before',
  events: ['update', 'delete'],
  body: `raise exception 'audit_checkpoint is append-only: % refused', tg_op using errcode = 'insufficient_privilege';`,
})
@Index({ properties: ['seq'] })
export class AuditCheckpoint {
  @PrimaryKey({ type: new BigIntType('string'), autoincrement: true })
  id!: Opt<string>;

  /** Sequence number of the newest entry when the checkpoint was taken. */
  @Property({ type: new BigIntType('string') })
  seq!: string;

  /** That entry's hash. */
  @Property({ type: 'string', length: 64 })
  hash!: string;

  /** Entries with a sequence number up to `seq`. */
  @Property({ type: new BigIntType('string') })
  count!: string;

  /** When it was signed (the JWS's `iat`). */
  @Property({ type: 'datetime' })
  at!: Date;

  /** `kid` of the signing key. */
  @Property({ type: 'string', length: 200 })
  keyId!: string;

  /** The compact JWS. */
  @Property({ type: 'text' })
  jws!: string;
}
