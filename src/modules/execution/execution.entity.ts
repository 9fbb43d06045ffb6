import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property, Unique } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from '../principal/principal.entity.js';
import { Tool } from '../tool/tool.entity.js';

export enum ExecutionStatus {
  QUEUED = 'queued',
  RUNNING = 'running',
  SUCCEEDED = 'succeeded',
  FAILED = 'failed',
  DENIED = 'denied',
  TIMED_OUT = 'timed_out',
  CANCELLED = 'cancelled',
}

export enum ExecutionMode {
  SYNC = 'SYNC',
  ASYNC = 'ASYNC',
}

/** One call of a tool by a principal, from acceptance to its outcome. */
@Entity({ tableName: 'execution' })
@Unique({ properties: ['principal', 'idempotencyKey'] })
@Index({ properties: ['principal', 'createdAt'] })
@Index({ properties: ['tool', 'createdAt'] })
export class Execution extends BaseEntity {
  /** Null once the tool is removed; `toolName` keeps the record readable. */
  @ManyToOne(() => Tool, { nullable: true, deleteRule: 'set null' })
  tool?: Rel<Tool> | null;

  @Property({ type: 'string', length: 300 })
  toolName!: string;

  @ManyToOne(() => Principal, { deleteRule: 'restrict' })
  principal!: Rel<Principal>;

  /** The call's arguments, with values the tool's schema marks as secret redacted. */
  @Property({ type: 'json' })
  arguments: Opt<Record<string, unknown>> = {};

  @Enum({ items: () => ExecutionStatus })
  status!: ExecutionStatus;

  @Enum({ items: () => ExecutionMode, default: ExecutionMode.SYNC })
  mode: Opt<ExecutionMode> = ExecutionMode.SYNC;

  @Property({ type: 'json', nullable: true })
  result?: unknown;

  /** `{ code, message }` of a failed, denied or timed-out call. */
  @Property({ type: 'json', nullable: true })
  error?: { code: string; message: string } | null;

  /** Whether the result matched the tool's `outputs` schema; null when there was none to check. */
  @Property({ type: 'boolean', nullable: true })
  outputValid?: boolean | null;

  @Property({ type: 'string', length: 200, nullable: true })
  idempotencyKey?: string | null;

  /** The policy decision that allowed or denied the call. */
  @Property({ type: 'json', nullable: true })
  decision?: Record<string, unknown> | null;

  @Property({ type: 'string', length: 100, nullable: true })
  requestId?: string | null;

  @Property({ type: 'datetime', nullable: true })
  startedAt?: Date | null;

  @Property({ type: 'datetime', nullable: true })
  finishedAt?: Date | null;

  @Property({ type: 'integer', nullable: true })
  durationMs?: number | null;

  /** The call's deadline as asked for (or defaulted), so a retried ASYNC call keeps it. */
  @Property({ type: 'integer', nullable: true })
  timeoutMs?: number | null;

  /** The registry process running the call; it renews `heartbeatAt` while it does. */
  @Property({ type: 'string', length: 64, nullable: true })
  runner?: string | null;

  /** Last sign of life of the runner; a stale one means the process died and the call was interrupted. */
  @Property({ type: 'datetime', nullable: true })
  @Index()
  heartbeatAt?: Date | null;

  /** How many times the call was started (a retried ASYNC call counts each attempt). */
  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;
}
