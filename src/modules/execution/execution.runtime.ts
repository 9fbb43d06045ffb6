import { randomUUID } from 'node:crypto';
import { isUuid } from '../../common/ids.js';
import { storable } from '../../common/json-values.js';
import { type Database } from '../../db/database.js';
import { isDatabaseUnavailable } from '../../db/unavailable.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Executor } from '../../executors/index.js';
import { type Logger } from '../../logger.js';
import { type EgressPolicy } from '../../security/egress.js';
import { type RequestSigner } from '../../security/request-signing.js';
import { type Actor } from '../audit/index.js';
import { type CredentialVault } from '../credential/index.js';
import { type Viewer } from '../principal/viewer.js';
import { type AppliedLimits } from '../policy/index.js';
import { admit, callableGuard, type CallableTool, charge, type CheckedInput, checkInput, findCallable, type StoredDecision } from './execution.admit.js';
import { CallableTools } from './execution.callables.js';
import { callTool } from './execution.call.js';
import { recordTlsPinFailure } from '../provider/provider-pins.js';
import { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { type ExecutionEvents } from './execution.events.js';
import { type ExecutionLimiter } from './execution.limits.js';
import { type AbortReason, type ExecuteInput, type ExecutionCaller, type Outcome, TERMINAL } from './execution.model.js';
import { ExecutionLeases } from './execution.recover.js';
import { type Ending, ExecutionRecords, type Guard, type NewCall, notStarted } from './execution.record.js';
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
  requestSigner: RequestSigner;
  cliAllow: readonly string[];
  fileRoot?: string;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxResponseBytes: number;
  leaseSeconds: number;
  /**
   * Told of every call as it is decided, on the answer path (the security monitor): it must only
   * queue. `tool` is null when the name matched no tool the caller may read.
   */
  onCall?: (call: CallObservation) => void;
}

/** A decided call, as the security monitor sees it. */
export interface CallObservation {
  kind: 'call';
  principalId: string;
  tool: string | null;
  denied: boolean;
  args: Record<string, unknown>;
  inputs: unknown;
}

/** The outcome recorded for a stored call whose tool was never called. */
const NOT_STARTED: Outcome = {
  status: ExecutionStatus.FAILED,
  error: {
    code: ErrorCode.NOT_STARTED,
    message: 'not started: the registry lost its database before it could call the tool, so the tool was not called; retry with the same idempotency key to run it',
    details: { reason: 'not_started' },
  },
};

interface Running {
  controller: AbortController;
  done: Promise<Execution | null>;
}

/**
 * Runs tool calls: one pipeline for every caller, composed of its stages. Admission
 * (execution.admit.ts) reads the tool with everything a call needs in one query (a keyless call
 * takes it as this process last read it, execution.callables.ts) and decides the call in memory;
 * the record (execution.record.ts) stores it in one statement, refused with its audit entry or
 * claimed `running` under this process's lease (for a remembered tool, only while it is unchanged);
 * the call (execution.call.ts) runs with no transaction open; its outcome and audit entry are
 * written by one more statement. Leases (execution.recover.ts) let any replica end the calls of a
 * dead process as `failed: interrupted`.
 */
export class ExecutionRuntime {
  readonly instanceId = randomUUID();
  private readonly running = new Map<string, Running>();
  /**
   * Calls this process launched whose outcome it could not store (the database stayed away): the
   * sweep records them interrupted. Any other call it holds but is not running was never started.
   */
  private readonly unstored = new Set<string>();
  /** Calls possibly stored but never started, by id, until they are recorded {@link NOT_STARTED}. */
  private readonly unstarted = new Map<string, Ending>();
  private readonly records: ExecutionRecords;
  private readonly leases: ExecutionLeases;
  /** Tools as calls last read them, for keyless calls' first statements to check and use. */
  private readonly callables = new CallableTools();
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
      unstored: this.unstored,
      notStarted: NOT_STARTED,
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
   * statements: the tool read, the claim, the finish (with its audit entry); two when it has no
   * idempotency key and this process remembers the tool unchanged (see {@link CallableTools}).
   */
  async execute(caller: ExecutionCaller, input: ExecuteInput): Promise<Execution> {
    const checked = checkInput(input, this.deps);
    if (this.stopping) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, 'The registry is shutting down; try again on another instance');
    const visibility = await caller.tools.visibility();
    // A keyless call starts from the tool as this process last read it, when it did: its first
    // statement stores it only while nothing the tool was read from has changed (execution.callables.ts).
    const remembered = checked.key === null ? this.callables.get(input.tool, visibility) : undefined;
    let charged = false;
    if (remembered) {
      const decided = await this.decide(caller, checked, remembered, { guard: callableGuard(remembered), observed: false });
      metrics.callableTool(decided.execution ? 'hit' : 'stale');
      if (decided.execution) return decided.execution;
      this.callables.forget(input.tool, visibility);
      charged = decided.charged;
    } else {
      metrics.callableTool('read');
    }
    const tool = await dbSpan('tool.read', () => findCallable(this.deps.db, input.tool, visibility));
    // The security monitor heard of the call already when it was first decided on a remembered tool.
    const observed = remembered !== undefined;
    if (!tool) {
      if (!observed) this.deps.onCall?.({ kind: 'call', principalId: caller.viewer.principalId, tool: null, denied: true, args: checked.args, inputs: null });
      await this.records.auditRefusal(caller.actor, input.tool, ErrorCode.NOT_FOUND);
      throw new RegistryError(ErrorCode.NOT_FOUND, `No tool named ${input.tool}`, { argument: 'input.tool' });
    }
    // Only a keyless call can use it: a keyed one reads its tool every time, and would pay for
    // sizing and freezing the tool on every call for nothing.
    if (checked.key === null) this.callables.remember(input.tool, visibility, tool);
    return (await this.decide(caller, checked, tool, { charged, observed })).execution!;
  }

  /**
   * Decides a call of `tool` and stores it: refused, or claimed and run (SYNC) or started (ASYNC).
   * With `guard` (a keyless call of a remembered tool), the first statement stores nothing when the
   * tool changed since it was read: then `execution` is null, and `charged` tells whether the call's
   * limits were charged already (a second decision does not charge them again). `observed`: the
   * security monitor was told of this call already (by its first decision).
   */
  private async decide(
    caller: ExecutionCaller,
    { args, timeoutMs, key, mode }: CheckedInput,
    tool: CallableTool,
    options: { guard?: Guard; charged?: boolean; observed: boolean },
  ): Promise<{ execution: Execution | null; charged: boolean }> {
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
    const chargeFirst = 'decision' in admission && key === null && !options.charged;
    const limited = chargeFirst ? await charge(this.deps.limiter, caller.viewer.principalId, tool.id, admission.limits, admission.decision) : null;
    const charged = options.charged === true || (chargeFirst && limited === null);
    const refusal = 'refusal' in admission ? admission.refusal : limited;
    if (!options.observed) {
      this.deps.onCall?.({ kind: 'call', principalId: caller.viewer.principalId, tool: tool.name, denied: refusal?.status === ExecutionStatus.DENIED, args, inputs: tool.inputs });
    }
    if (refusal) {
      const refused = await dbSpan('execution.refuse', () => this.records.refuse(call, refusal, caller.actor, options.guard));
      if (!refused && options.guard) return { execution: null, charged };
      if (refused) {
        metrics.execution(call.toolName, refusal.status, refusal.error?.code, null);
        this.deps.events.publish({ executionId: refused.id, status: refused.status });
        return { execution: refused, charged };
      }
      const held = await this.held(call);
      if (!notStarted(held)) return { execution: held, charged };
      // The key's call never started: this refusal is its next attempt.
      const again = await dbSpan('execution.refuse', () => this.records.refuseHeld(held, call, refusal, caller.actor));
      if (again) metrics.execution(call.toolName, refusal.status, refusal.error?.code, null);
      if (again) this.deps.events.publish({ executionId: again.id, status: again.status });
      return { execution: again ?? (await this.records.load(held.id)), charged };
    }
    const { decision, limits } = admission as Exclude<typeof admission, { refusal: unknown }>;
    // A key whose call was never started is claimed again (once) as that call's next attempt.
    for (let round = 0; ; round++) {
      const claimed = await this.claim(call, decision, options.guard);
      if (!claimed && options.guard) return { execution: null, charged };
      if (claimed) return { execution: await this.begin(claimed, caller, tool, args, limits, decision), charged };
      const held = await this.held(call);
      if (round > 0 || !notStarted(held)) return { execution: held, charged };
    }
  }

  /**
   * Claims `call`. When the database goes away during the claim, the insert may have committed
   * without this process knowing: the call is then recorded as never started once it is back.
   */
  private async claim(call: NewCall, decision: Record<string, unknown>, guard?: Guard): Promise<Execution | null> {
    try {
      return await dbSpan('execution.claim', () => this.records.claim(call, decision, guard));
    } catch (error) {
      if (isDatabaseUnavailable(error)) this.notStarted({ id: call.id, toolId: call.toolId, toolName: call.toolName, startedAt: null });
      throw error;
    }
  }

  /** Charges the limits of a claimed call with a key and runs it (SYNC) or starts it (ASYNC). */
  private async begin(claimed: Execution, caller: ExecutionCaller, tool: CallableTool, args: Record<string, unknown>, limits: readonly AppliedLimits[], decision: StoredDecision): Promise<Execution> {
    const { id } = claimed;
    try {
      if (claimed.idempotencyKey != null) {
        const over = await charge(this.deps.limiter, caller.viewer.principalId, tool.id, limits, decision);
        if (over) return (await this.finish(claimed, caller.actor, over, this.instanceId, { unstarted: true })) ?? (await this.records.load(id));
      }
    } catch (error) {
      // Nothing called the tool: the call is recorded as never started, and its key stays usable.
      this.notStarted({ id, toolId: tool.id, toolName: tool.name, startedAt: null });
      throw error;
    }
    this.deps.events.publish({ executionId: id, status: ExecutionStatus.RUNNING });
    const work = this.launch(claimed, tool, args, claimed.timeoutMs ?? this.deps.defaultTimeoutMs, caller.actor);
    if (claimed.mode === ExecutionMode.ASYNC) return claimed;
    return (await work) ?? this.records.load(id);
  }

  /**
   * Records a call this process stored (or may have stored) but never started as {@link NOT_STARTED},
   * in the background as soon as the database answers (retrying for up to a minute or a lease; the
   * sweep records what is left). Nothing is written when the call was not stored after all.
   */
  private notStarted(ending: Ending): void {
    if (this.unstarted.has(ending.id)) return;
    this.unstarted.set(ending.id, ending);
    const until = Date.now() + Math.max(60, this.deps.leaseSeconds) * 1000;
    void (async () => {
      for (let wait = 100; this.unstarted.has(ending.id) && !this.stopping; wait = Math.min(wait * 2, 1000)) {
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
        try {
          await this.release(ending.id);
        } catch {
          // Left to the lease sweep, which ends this process's calls it does not run as never started.
          if (Date.now() > until) this.unstarted.delete(ending.id);
        }
      }
    })();
  }

  /** Stores a call of {@link unstarted} as never started (when it is stored at all); throws when the database is away. */
  private async release(id: string): Promise<void> {
    const ending = this.unstarted.get(id);
    if (!ending) return;
    const written = await this.records.finish(ending, { principalId: null }, NOT_STARTED, { runner: this.instanceId, unstarted: true });
    this.unstarted.delete(id);
    if (written) this.deps.events.publish({ executionId: id, status: ExecutionStatus.FAILED });
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

  /**
   * The call that holds `call`'s idempotency key, as an idempotent retry repeats it: once it ended
   * (SYNC), or as it is (ASYNC). One this process stored but never started is recorded as such first.
   */
  private async held(call: NewCall): Promise<Execution> {
    let existing = await this.records.existing(call.principalId, call.key!);
    if (existing.toolName !== call.toolName) {
      throw new RegistryError(ErrorCode.CONFLICT, 'This idempotency key was already used for a call of another tool', { argument: 'input.idempotencyKey' });
    }
    if (this.unstarted.has(existing.id)) {
      await this.release(existing.id);
      existing = await this.records.load(existing.id);
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
        return this.finish(execution, actor, failed, this.instanceId).catch(() => {
          // The sweep records it interrupted: it was started.
          this.unstored.add(id);
          return null;
        });
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
    if (outcome.error?.code === ErrorCode.TLS_PIN_MISMATCH) {
      const host = typeof outcome.error.details?.host === 'string' ? outcome.error.details.host : 'unknown';
      await recordTlsPinFailure(this.deps.db.fork(), { providerId: tool.providerId, providerName: tool.providerName, toolName: tool.name, host }, actor).catch(
        (error: unknown) => this.deps.logger.warn({ err: error, executionId: id }, 'could not record a TLS pin failure'),
      );
    }
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
        // An unavailable database is logged once per outage, not once per call.
        if (!isDatabaseUnavailable(error)) this.deps.logger.warn({ err: error, executionId: execution.id }, 'could not store the outcome of a call yet; retrying');
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
