import { storable } from '../../common/json-values.js';
import { type Database } from '../../db/database.js';
import { ErrorCode } from '../../errors.js';
import { type Actor, auditActor, AuditOutcome, type AuditRecord, AuditService } from '../audit/index.js';
import { type SqlFilter } from '../tool/tool.visibility.js';
import { Execution, type ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { ACTIVE, type Outcome } from './execution.model.js';

/** A call about to be stored: what its first statement writes. */
export interface NewCall {
  id: string;
  createdAt: Date;
  toolId: string;
  toolName: string;
  principalId: string;
  requestId: string | null;
  /** As stored: redacted by the input schema, storable. */
  args: Record<string, unknown>;
  mode: ExecutionMode;
  key: string | null;
  timeoutMs: number;
}

/** What {@link ExecutionRecords.finish} needs to know of the call it ends. */
export interface Ending {
  id: string;
  toolId: string | null;
  toolName: string;
  startedAt: Date | null;
}

/** The columns a claim writes. */
const CLAIM_COLUMNS = 'id, created_at, updated_at, tool_id, tool_name, principal_id, arguments, status, mode, idempotency_key, request_id, timeout_ms, runner, heartbeat_at, attempts, started_at, decision';
/** The columns a refusal writes. */
const REFUSAL_COLUMNS = 'id, created_at, updated_at, tool_id, tool_name, principal_id, arguments, status, mode, idempotency_key, request_id, timeout_ms, attempts, error, decision, finished_at';

/**
 * A condition (`callableGuard`) under which a keyless call's first statement writes, for a call
 * decided on a remembered tool: without it the statement stores nothing. Its values are typed in the
 * text (`insert … select` does not take them from the columns). With a guard the statement has no
 * conflict clause: a call without an idempotency key cannot meet one.
 */
export type Guard = SqlFilter;

const ACTIVE_SQL = ACTIVE.map((s) => `'${s}'`).join(', ');

/**
 * A stored call that was never started ({@link ErrorCode.NOT_STARTED}): the tool was not called, so
 * its idempotency key stays usable. `execution` is the row as stored (in a conflict clause, the
 * existing one; `excluded` is the new call, which must be of the same tool).
 */
const NOT_STARTED_SQL = `execution.status = '${ExecutionStatus.FAILED}' and execution.error->>'code' = '${ErrorCode.NOT_STARTED}'`;

/** What a new attempt of a call that was never started takes from the call that retries it. */
const TAKE_OVER = `tool_id = excluded.tool_id, arguments = excluded.arguments, status = excluded.status, mode = excluded.mode, request_id = excluded.request_id,
  timeout_ms = excluded.timeout_ms, decision = excluded.decision, updated_at = excluded.updated_at, result = null, output_valid = null, duration_ms = null`;

/** Whether `execution` was stored as never started (its key may be used again). */
export const notStarted = (execution: Pick<Execution, 'status' | 'error'>): boolean =>
  execution.status === ExecutionStatus.FAILED && execution.error?.code === ErrorCode.NOT_STARTED;

/** The id and creation time of the execution a claim wrote: its own, or those of the call it took over. */
function takenOver(call: NewCall, row: { id: string; created_at: string | Date }): Pick<Execution, 'id' | 'createdAt'> {
  return row.id === call.id ? { id: call.id, createdAt: call.createdAt } : { id: row.id, createdAt: new Date(row.created_at) };
}

/** A JSON value as a jsonb parameter (the ORM expands arrays and would send a string as text). */
const jsonb = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const iso = (at: Date | null | undefined): string | null => (at ? at.toISOString() : null);

function auditOutcomeOf(status: ExecutionStatus): AuditOutcome {
  return status === ExecutionStatus.SUCCEEDED ? AuditOutcome.SUCCESS : status === ExecutionStatus.DENIED ? AuditOutcome.DENIED : AuditOutcome.FAILURE;
}

/** The audit record of a call's outcome. */
function executionAudit(actor: Actor, ending: Ending, outcome: Outcome, durationMs: number | null): AuditRecord {
  return {
    ...auditActor(actor),
    action: 'tool.execute',
    targetType: 'tool',
    targetId: ending.toolId,
    outcome: auditOutcomeOf(outcome.status),
    details: {
      executionId: ending.id,
      tool: ending.toolName,
      status: outcome.status,
      ...(outcome.error ? { code: outcome.error.code } : {}),
      // The upstream echoed a credential (or the caller's argument equalled one): worth a look.
      ...(outcome.scrubbed ? { secretsScrubbed: true } : {}),
      durationMs,
    },
  };
}

/**
 * Runs the data-modifying `with` list `ctes` and appends `record` to the audit log in ONE autocommit
 * statement; the entry is appended only when the CTE named `guard` returned a row. Resolves whether
 * it did (so a change that matched nothing leaves no entry).
 */
async function withAudit(db: Database, ctes: string, params: unknown[], record: AuditRecord, guard: string): Promise<boolean> {
  const tail = AuditService.appendSql(record, { guard });
  const rows = await db.statement(`with ${ctes}${tail.sql}`, [...params, ...tail.params]);
  return rows.length > 0;
}

/**
 * The SQL of executions: each write is one autocommit statement, and every outcome commits with its
 * audit entry in the same statement, so the record and its entry exist together or not at all. No
 * write reads back what it wrote: the execution returned is built from the values written.
 */
export class ExecutionRecords {
  constructor(
    private readonly db: Database,
    /** The process whose lease a claimed call carries. */
    private readonly runner: string,
  ) {}

  /**
   * Stores an admitted call already `running` under this process's lease (claim and start in one
   * statement; an idempotency key is claimed by the same insert). A key held by a call of the same
   * tool that was never started ({@link NOT_STARTED_SQL}) is taken over: that execution is claimed
   * again as its next attempt, under its own id. Returns the execution, or null when the key was
   * already claimed otherwise (read that one with {@link existing}) or `guard` did not hold.
   */
  async claim(call: NewCall, decision: Record<string, unknown>, guard?: Guard): Promise<Execution | null> {
    const at = call.createdAt;
    const stamp = iso(at);
    const values = [call.id, stamp, stamp, call.toolId, call.toolName, call.principalId, jsonb(call.args), ExecutionStatus.RUNNING, call.mode, call.key, call.requestId, call.timeoutMs, this.runner, stamp, stamp, jsonb(decision)];
    const rows = await this.db.statement<{ id: string; created_at: string | Date; attempts: number }>(
      guard
        ? `insert into execution (${CLAIM_COLUMNS})
           select ?::uuid, ?::timestamptz, ?::timestamptz, ?::uuid, ?::text, ?::uuid, ?::jsonb, ?::text, ?::text, ?::text, ?::text, ?::int, ?::text, ?::timestamptz, 1, ?::timestamptz, ?::jsonb
           where ${guard.sql} returning id, created_at, attempts`
        : `insert into execution (${CLAIM_COLUMNS})
       values (?, ?::timestamptz, ?::timestamptz, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?::timestamptz, 1, ?::timestamptz, ?::jsonb)
       on conflict (principal_id, idempotency_key) do update set ${TAKE_OVER}, runner = excluded.runner, heartbeat_at = excluded.heartbeat_at,
         started_at = excluded.started_at, attempts = execution.attempts + 1, error = null, finished_at = null
       where ${NOT_STARTED_SQL} and execution.tool_name = excluded.tool_name returning id, created_at, attempts`,
      guard ? [...values, ...guard.params] : values,
    );
    const row = rows[0];
    if (!row) return null;
    return executionOf(call, { ...takenOver(call, row), status: ExecutionStatus.RUNNING, startedAt: at, runner: this.runner, heartbeatAt: at, attempts: Number(row.attempts), decision });
  }

  /**
   * Stores a call refused before it ran (tool state, policy, arguments, limits) with its audit entry,
   * in one statement. Returns the execution, or null when its idempotency key was already claimed
   * or `guard` did not hold.
   */
  async refuse(call: NewCall, outcome: Outcome, actor: Actor, guard?: Guard): Promise<Execution | null> {
    const error = storable(outcome.error ?? null);
    const decision = outcome.decision ?? null;
    const record = executionAudit(actor, { id: call.id, toolId: call.toolId, toolName: call.toolName, startedAt: null }, outcome, null);
    const stamp = iso(call.createdAt);
    const values = [call.id, stamp, stamp, call.toolId, call.toolName, call.principalId, jsonb(call.args), outcome.status, call.mode, call.key, call.requestId, call.timeoutMs, jsonb(error), jsonb(decision), stamp];
    const stored = await withAudit(
      this.db,
      guard
        ? `ins as (insert into execution (${REFUSAL_COLUMNS})
           select ?::uuid, ?::timestamptz, ?::timestamptz, ?::uuid, ?::text, ?::uuid, ?::jsonb, ?::text, ?::text, ?::text, ?::text, ?::int, 0, ?::jsonb, ?::jsonb, ?::timestamptz
           where ${guard.sql} returning id)`
        : `ins as (insert into execution (${REFUSAL_COLUMNS})
       values (?, ?::timestamptz, ?::timestamptz, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, 0, ?::jsonb, ?::jsonb, ?::timestamptz)
       on conflict (principal_id, idempotency_key) do nothing returning id)`,
      guard ? [...values, ...guard.params] : values,
      record,
      'ins',
    );
    if (!stored) return null;
    return executionOf(call, { status: outcome.status, error: jsonClone(error), decision, finishedAt: call.createdAt, durationMs: null, attempts: 0 });
  }

  /**
   * Stores a refusal of `call` in the execution `held` that holds its idempotency key but was never
   * started (its next attempt, refused before it ran), with its audit entry, in one statement.
   * Returns the execution, or null when `held` is no longer a call that was never started.
   */
  async refuseHeld(held: Execution, call: NewCall, outcome: Outcome, actor: Actor): Promise<Execution | null> {
    const error = storable(outcome.error ?? null);
    const decision = outcome.decision ?? null;
    const record = executionAudit(actor, { id: held.id, toolId: call.toolId, toolName: call.toolName, startedAt: null }, outcome, null);
    const stamp = iso(call.createdAt);
    const stored = await withAudit(
      this.db,
      `upd as (update execution set tool_id = ?, arguments = ?::jsonb, status = ?, mode = ?, request_id = ?, timeout_ms = ?, error = ?::jsonb, decision = ?::jsonb,
         finished_at = ?::timestamptz, updated_at = ?::timestamptz, runner = null where id = ? and ${NOT_STARTED_SQL} returning id)`,
      [call.toolId, jsonb(call.args), outcome.status, call.mode, call.requestId, call.timeoutMs, jsonb(error), jsonb(decision), stamp, stamp, held.id],
      record,
      'upd',
    );
    if (!stored) return null;
    return executionOf(call, { id: held.id, createdAt: held.createdAt, status: outcome.status, error: jsonClone(error), decision, finishedAt: call.createdAt, durationMs: null, attempts: held.attempts });
  }

  /**
   * Ends a call that has not ended yet with `outcome` and appends its audit entry, in one statement.
   * With `runner`, only while that process still holds the call (its own outcome); without, whoever
   * holds it (a cancel, the sweep of a dead process's calls); `unstarted` for a claimed call refused
   * before it ran (it keeps no start time). Resolves the fields written, or null
   * when the call had already ended (nothing is written, nothing audited).
   */
  async finish(ending: Ending, actor: Actor, outcome: Outcome, options: { runner?: string; unstarted?: boolean } = {}): Promise<Partial<Execution> | null> {
    const finishedAt = new Date();
    // A claimed call refused before it ran (its limits) did not start.
    const startedAt = options.unstarted ? null : ending.startedAt;
    const durationMs = startedAt ? finishedAt.getTime() - startedAt.getTime() : null;
    const result = storable(outcome.result ?? null);
    const error = storable(outcome.error ?? null);
    const outputValid = outcome.outputValid ?? null;
    const withDecision = outcome.decision !== undefined;
    const finished = iso(finishedAt);
    const params: unknown[] = [outcome.status, jsonb(result), jsonb(error), outputValid, finished, durationMs, finished];
    if (withDecision) params.push(jsonb(outcome.decision));
    params.push(ending.id);
    if (options.runner) params.push(options.runner);
    const stored = await withAudit(
      this.db,
      `fin as (update execution set status = ?, result = ?::jsonb, error = ?::jsonb, output_valid = ?, finished_at = ?::timestamptz, duration_ms = ?, runner = null, updated_at = ?::timestamptz${withDecision ? ', decision = ?::jsonb' : ''}${options.unstarted ? ', started_at = null, attempts = 0' : ''}
       where id = ? and status in (${ACTIVE_SQL})${options.runner ? ' and runner = ?' : ''} returning id)`,
      params,
      executionAudit(actor, { ...ending, startedAt }, outcome, durationMs),
      'fin',
    );
    if (!stored) return null;
    return {
      status: outcome.status,
      result,
      error: jsonClone(error),
      outputValid,
      finishedAt,
      updatedAt: finishedAt,
      durationMs,
      runner: null,
      ...(withDecision ? { decision: outcome.decision } : {}),
      ...(options.unstarted ? { startedAt: null, attempts: 0 } : {}),
    };
  }

  /** The call that claimed this idempotency key of the principal (the replay path). */
  existing(principalId: string, key: string): Promise<Execution> {
    return this.db.fork().findOneOrFail(Execution, { principal: principalId, idempotencyKey: key });
  }

  /** The call as stored. */
  load(id: string): Promise<Execution> {
    return this.db.fork().findOneOrFail(Execution, { id });
  }

  /** Audits a call refused before it named a tool the caller may see (one statement). */
  async auditRefusal(actor: Actor, toolName: string, code: ErrorCode): Promise<void> {
    const record: AuditRecord = {
      ...auditActor(actor),
      action: 'tool.execute',
      targetType: 'tool',
      targetId: null,
      outcome: AuditOutcome.DENIED,
      details: { tool: storable(toolName.slice(0, 300)), code },
    };
    await AuditService.appendAlone(this.db.fork(), record);
  }
}

/** A small JSON value as it reads back from jsonb (undefined members dropped). */
function jsonClone<T>(value: T): T {
  return value === null || value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** The execution of `call` with the fields written about it, as the ORM would read it (not managed by it). */
function executionOf(call: NewCall, fields: Partial<Execution>): Execution {
  return {
    id: call.id,
    createdAt: call.createdAt,
    updatedAt: call.createdAt,
    tool: { id: call.toolId },
    toolName: call.toolName,
    principal: { id: call.principalId },
    arguments: call.args,
    mode: call.mode,
    idempotencyKey: call.key,
    requestId: call.requestId,
    timeoutMs: call.timeoutMs,
    result: null,
    error: null,
    outputValid: null,
    decision: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    runner: null,
    heartbeatAt: null,
    attempts: 0,
    ...fields,
  } as unknown as Execution;
}
