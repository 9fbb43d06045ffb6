import { randomUUID } from 'node:crypto';
import { isUuid } from '../../common/ids.js';
import { storable } from '../../common/json-values.js';
import { type Database } from '../../db/database.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Executor } from '../../executors/index.js';
import { type Logger } from '../../logger.js';
import { type EgressPolicy } from '../../security/egress.js';
import { type Actor } from '../audit/index.js';
import { type CredentialVault } from '../credential/index.js';
import { type Viewer } from '../principal/viewer.js';
import { admit, type CallableTool, charge, checkInput, findCallable } from './execution.admit.js';
import { callTool } from './execution.call.js';
import { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { type ExecutionEvents } from './execution.events.js';
import { type ExecutionLimiter } from './execution.limits.js';
import { type AbortReason, type ExecuteInput, type ExecutionCaller, type Outcome, TERMINAL } from './execution.model.js';
import { ExecutionLeases } from './execution.recover.js';
import { ExecutionRecords, type NewCall } from './execution.record.js';
import { redactBySchema } from './execution.redaction.js';
import { metrics } from '../../observability/metrics.js';
import { inSpan } from '../../observability/tracing.js';

/** A span for one database statement of the call path (named by what it does, never its parameters). */
const dbSpan = <T>(operation: string, work: () => Promise<T>) => inSpan(`db ${operation}`, { 'db.system.name': 'postgresql', 'db.operation.name': operation }, work);

export { type ExecuteInput, type ExecutionCaller, executionCallerOf } from './execution.model.js';

/** What the runtime is built from; one per process. */
export interface ExecutionRuntimeDependencies {
  db: Database;
  vault: CredentialVault;
  logger: Logger;
  limiter: ExecutionLimiter;
  events: ExecutionEvents;
  executors: Readonly<Partial<Record<string, Executor>>>;
  egress: EgressPolicy;
  cliAllow: readonly string[];
  fileRoot?: string;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxResponseBytes: number;
  leaseSeconds: number;
}

interface Running {
  controller: AbortController;
  done: Promise<Execution | null>;
}

/**
 * Runs tool calls: one pipeline for every caller, composed of its stages. Admission
 * (execution.admit.ts) reads the tool with everything a call needs in one query and decides the call
 * in memory; the record (execution.record.ts) stores it in one statement, refused with its audit
 * entry or claimed `running` under this process's lease; the call (execution.call.ts) runs with no
 * transaction open; its outcome and audit entry are written by one more statement. Leases
 * (execution.recover.ts) let any replica end the calls of a dead process as `failed: interrupted`.
 */
export class ExecutionRuntime {
  readonly instanceId = randomUUID();
  private readonly running = new Map<string, Running>();
  private readonly records: ExecutionRecords;
  private readonly leases: ExecutionLeases;
  private stopping = false;

  constructor(private readonly deps: ExecutionRuntimeDependencies) {
    this.records = new ExecutionRecords(deps.db, this.instanceId);
    this.leases = new ExecutionLeases({
      db: deps.db,
      logger: deps.logger,
      records: this.records,
      instanceId: this.instanceId,
      leaseSeconds: deps.leaseSeconds,
      running: this.running,
      relaunch: (execution, tool) =>
        void this.launch(execution, tool, execution.arguments, execution.timeoutMs ?? deps.defaultTimeoutMs, { principalId: execution.principal.id }),
    });
  }

  /** Changes of executions run by this process. */
  get events(): ExecutionEvents {
    return this.deps.events;
  }

  /**
   * Runs (SYNC) or starts (ASYNC) a call and returns its execution. Throws, storing nothing but an audit
   * entry, for input that names no call: BAD_USER_INPUT (arguments not an object, bad timeout or key),
   * NOT_FOUND (no tool of that name the caller may read); CONFLICT when the idempotency key was used
   * for another tool. Every other outcome is an execution. A SYNC call that succeeds costs three
   * statements: the tool read, the claim, the finish (with its audit entry).
   */
  async execute(caller: ExecutionCaller, input: ExecuteInput): Promise<Execution> {
    const { args, timeoutMs, key, mode } = checkInput(input, this.deps);
    if (this.stopping) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, 'The registry is shutting down; try again on another instance');
    const visibility = await caller.tools.visibility();
    const tool = await dbSpan('tool.read', () => findCallable(this.deps.db.fork(), input.tool, visibility));
    if (!tool) {
      await this.records.auditRefusal(caller.actor, input.tool, ErrorCode.NOT_FOUND);
      throw new RegistryError(ErrorCode.NOT_FOUND, `No tool named ${input.tool}`, { argument: 'input.tool' });
    }
    const call: NewCall = {
      id: randomUUID(),
      createdAt: new Date(),
      toolId: tool.id,
      toolName: tool.name,
      principalId: caller.actor.principalId,
      requestId: caller.actor.requestId ?? null,
      args: storable(redactBySchema(args, tool.inputs) as Record<string, unknown>),
      mode,
      key,
      timeoutMs,
    };
    const admission = await admit(tool, caller, args);
    // Without a key the claim cannot turn out to be a replay, so the limits are charged first and a
    // refusal is stored in one statement; with one, only the call that wins the key is charged.
    const limited = 'decision' in admission && key === null ? await charge(this.deps.limiter, caller.viewer.principalId, tool.id, admission.limits, admission.decision) : null;
    const refusal = 'refusal' in admission ? admission.refusal : limited;
    if (refusal) {
      const refused = await dbSpan('execution.refuse', () => this.records.refuse(call, refusal, caller.actor));
      if (refused) {
        metrics.execution(call.toolName, refusal.status, refusal.error?.code, null);
        this.deps.events.publish({ executionId: call.id, status: refused.status });
      }
      return refused ?? this.replay(call);
    }
    const { decision, limits } = admission as Exclude<typeof admission, { refusal: unknown }>;
    const claimed = await dbSpan('execution.claim', () => this.records.claim(call, decision));
    if (!claimed) return this.replay(call);
    if (key !== null) {
      const over = await charge(this.deps.limiter, caller.viewer.principalId, tool.id, limits, decision);
      if (over) return (await this.finish(claimed, caller.actor, over, this.instanceId, { unstarted: true })) ?? this.records.load(call.id);
    }
    this.deps.events.publish({ executionId: call.id, status: ExecutionStatus.RUNNING });
    const work = this.launch(claimed, tool, args, timeoutMs, caller.actor);
    if (mode === ExecutionMode.ASYNC) return claimed;
    return (await work) ?? this.records.load(call.id);
  }

  /**
   * Cancels a queued or running call of the viewer (or any call, for admins). Returns the execution;
   * one that already ended is returned unchanged. Throws NOT_FOUND for anything else.
   */
  async cancel(id: string, viewer: Viewer, actor: Actor): Promise<Execution> {
    const execution = isUuid(id) ? await this.deps.db.fork().findOne(Execution, { id }) : null;
    if (!execution || (!viewer.isAdmin && execution.principal.id !== viewer.principalId)) {
      throw new RegistryError(ErrorCode.NOT_FOUND, 'No such execution', { argument: 'id' });
    }
    if (TERMINAL.has(execution.status)) return execution;
    const cancelled = await this.finish(execution, actor, {
      status: ExecutionStatus.CANCELLED,
      error: { code: ErrorCode.CANCELLED, message: 'Cancelled by request' },
    });
    this.running.get(id)?.controller.abort('cancelled' satisfies AbortReason);
    return cancelled ?? this.records.load(id);
  }

  /** See {@link ExecutionLeases.recover}. */
  recover(): Promise<number> {
    return this.leases.recover();
  }

  /** Recovers abandoned calls now, then keeps this process's leases and sweeps for abandoned calls. */
  start(): Promise<void> {
    return this.leases.start();
  }

  /** Waits up to `graceMs` for running calls, then interrupts the rest (each is stored as failed: interrupted). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.leases.stop();
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const waited = await Promise.race([all().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref())]);
    if (!waited) {
      for (const { controller } of this.running.values()) controller.abort('shutdown' satisfies AbortReason);
      await all();
    }
  }

  /** The call an idempotent retry repeats: once it ended (SYNC), or as it is (ASYNC). */
  private async replay(call: NewCall): Promise<Execution> {
    const existing = await this.records.existing(call.principalId, call.key!);
    if (existing.toolName !== call.toolName) {
      throw new RegistryError(ErrorCode.CONFLICT, 'This idempotency key was already used for a call of another tool', { argument: 'input.idempotencyKey' });
    }
    return call.mode === ExecutionMode.SYNC ? this.settled(existing, call.timeoutMs) : existing;
  }

  /**
   * Runs a claimed call in the background of this process. Resolves with the execution once its
   * outcome is stored, or null when it was not stored here (cancelled meanwhile, or the database
   * stayed away: the sweep ends it).
   */
  private launch(execution: Execution, tool: CallableTool, args: Record<string, unknown>, timeoutMs: number, actor: Actor): Promise<Execution | null> {
    const id = execution.id;
    const controller = new AbortController();
    const done = this.run(execution, tool, args, timeoutMs, actor, controller)
      .catch(async (error: unknown) => {
        this.deps.logger.error({ err: error, executionId: id }, 'execution could not be stored');
        // Left as it is, the call would stay running for good: its runner, this process, is alive.
        const failed = { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'The outcome of the call could not be stored' } };
        return this.finish(execution, actor, failed, this.instanceId).catch(() => null);
      })
      .finally(() => this.running.delete(id));
    this.running.set(id, { controller, done });
    return done;
  }

  private async run(execution: Execution, tool: CallableTool, args: Record<string, unknown>, timeoutMs: number, actor: Actor, controller: AbortController): Promise<Execution | null> {
    const id = execution.id;
    const outcome = await callTool(this.deps, {
      executionId: id,
      tool,
      args,
      timeoutMs,
      controller,
      onChunk: (chunk) => this.deps.events.publish({ executionId: id, status: ExecutionStatus.RUNNING, chunk }),
    });
    if (outcome.status === ExecutionStatus.CANCELLED) return null; // stored by cancel()
    return this.storeOutcome(execution, actor, outcome);
  }

  /**
   * Stores a call's outcome, retrying while the database is unreachable (a restart, a failover) for
   * up to a lease, so the outcome the tool produced is what gets recorded. Past that it throws, and
   * the call is left to the sweep, which records it as interrupted.
   */
  private async storeOutcome(execution: Execution, actor: Actor, outcome: Outcome): Promise<Execution | null> {
    const until = Date.now() + this.deps.leaseSeconds * 1000;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await this.finish(execution, actor, outcome, this.instanceId);
      } catch (error) {
        if (Date.now() + wait > until) throw error;
        this.deps.logger.warn({ err: error, executionId: execution.id }, 'could not store the outcome of a call yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Ends a call with its audit entry (only while `runner` holds it, when given); the ended execution, or null when it had ended already. */
  private async finish(execution: Execution, actor: Actor, outcome: Outcome, runner?: string, options: { unstarted?: boolean } = {}): Promise<Execution | null> {
    const ending = { id: execution.id, toolId: execution.tool?.id ?? null, toolName: execution.toolName, startedAt: execution.startedAt ?? null };
    const written = await dbSpan('execution.finish', () => this.records.finish(ending, actor, outcome, { runner, unstarted: options.unstarted }));
    if (!written) return null;
    metrics.execution(execution.toolName, outcome.status, outcome.error?.code, typeof written.durationMs === 'number' ? written.durationMs / 1000 : null);
    this.deps.events.publish({ executionId: execution.id, status: outcome.status });
    // A managed entity is not changed behind the ORM's back: the answer is a copy.
    return { ...(execution.constructor === Object ? execution : plain(execution)), ...written } as Execution;
  }

  /** The execution once it has ended (an idempotent replay of a call still running), or as it is when `timeoutMs` passes. */
  private async settled(execution: Execution, timeoutMs: number): Promise<Execution> {
    const until = Date.now() + timeoutMs + 2000;
    let wait = 25;
    for (let current = execution; ; current = await this.records.load(execution.id)) {
      if (TERMINAL.has(current.status) || Date.now() >= until) return current;
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(500, wait * 2);
    }
  }
}

/** The fields of an execution the API shows, as a plain object. */
function plain(execution: Execution): Record<string, unknown> {
  const { id, createdAt, updatedAt, tool, toolName, principal, arguments: args, status, mode, result, error, outputValid, idempotencyKey, decision, requestId, startedAt, finishedAt, durationMs, timeoutMs, runner, heartbeatAt, attempts } = execution;
  return { id, createdAt, updatedAt, tool, toolName, principal, arguments: args, status, mode, result, error, outputValid, idempotencyKey, decision, requestId, startedAt, finishedAt, durationMs, timeoutMs, runner, heartbeatAt, attempts };
}
