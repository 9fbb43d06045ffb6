import { type Database } from '../../db/database.js';
import { isDatabaseUnavailable } from '../../db/unavailable.js';
import { ErrorCode } from '../../errors.js';
import { type Logger } from '../../logger.js';
import { ToolStatus } from '../tool/index.js';
import { type CallableTool, findCallableById, retryable } from './execution.admit.js';
import { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { ACTIVE, type AbortReason, type Outcome } from './execution.model.js';
import { type ExecutionRecords } from './execution.record.js';

/** How many times an interrupted idempotent ASYNC call is started in all. */
const MAX_ATTEMPTS = 3;

/** What the leases need of the process's runtime. */
export interface LeaseDependencies {
  db: Database;
  logger: Logger;
  records: ExecutionRecords;
  /** This process, as the `runner` of the calls it holds. */
  instanceId: string;
  leaseSeconds: number;
  /** The calls this process is running now, by id, with the controller that aborts each. */
  running: ReadonlyMap<string, { controller: AbortController }>;
  /** Calls this process started whose outcome it could not store; the sweep takes them out. */
  unstored: Set<string>;
  /** The outcome of a call this process holds but never started. */
  notStarted: Outcome;
  /** Runs again a call restarted under this process's lease (already `running`, its attempt counted). */
  relaunch: (execution: Execution, tool: CallableTool) => void;
}

/**
 * Leases of running calls and the sweep that recovers the calls of dead processes. Every running
 * call carries its runner and a heartbeat, renewed every third of a lease while it runs; a call whose
 * heartbeat is older than a lease was abandoned (its process died, or its outcome could not be
 * stored) and is ended as `failed: interrupted` by whichever replica finds it, or, when it is an
 * ASYNC call of an idempotent tool started fewer than three times, started again here. A call this
 * process holds, does not run and did not start (its request lost the database between storing it and
 * calling the tool) is ended as `failed: not started`, which leaves its idempotency key usable.
 */
export class ExecutionLeases {
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: LeaseDependencies) {}

  /** Recovers abandoned calls now, then renews this process's leases and looks for abandoned calls every third of a lease. */
  async start(): Promise<void> {
    await this.recover();
    const every = Math.max(200, (this.deps.leaseSeconds * 1000) / 3);
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  /** Stops renewing and sweeping (the running calls are the runtime's to end). */
  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Marks calls whose runner stopped renewing its lease as failed (interrupted), retrying idempotent
   * ASYNC ones: another process's, and this process's own that it no longer runs (their outcome could
   * not be stored, or their request failed before the call started, while the database was away).
   * Returns how many it found. Throws when the database is unreachable.
   */
  async recover(): Promise<number> {
    const em = this.deps.db.fork();
    const me = this.deps.instanceId;
    const stale = new Date(Date.now() - this.deps.leaseSeconds * 1000);
    const running = [...this.deps.running.keys()];
    const abandoned = await em.find(
      Execution,
      {
        status: { $in: [...ACTIVE] },
        $and: [
          { $or: [{ runner: { $ne: me } }, { runner: null }, running.length ? { runner: me, id: { $nin: running } } : { runner: me }] },
          { $or: [{ heartbeatAt: { $lt: stale } }, { heartbeatAt: null, createdAt: { $lt: stale } }] },
        ],
      },
      { limit: 500 },
    );
    for (const execution of abandoned) {
      const ending = { id: execution.id, toolId: execution.tool?.id ?? null, toolName: execution.toolName, startedAt: execution.startedAt ?? null };
      if (execution.runner === me && !this.deps.unstored.has(execution.id)) {
        await this.deps.records.finish(ending, { principalId: null }, this.deps.notStarted, { runner: me, unstarted: true });
        continue;
      }
      if (await this.retry(execution)) {
        this.deps.unstored.delete(execution.id);
        continue;
      }
      await this.deps.records.finish(ending, { principalId: null }, {
        status: ExecutionStatus.FAILED,
        error: {
          code: ErrorCode.INTERRUPTED,
          message: 'interrupted: the registry process running this call stopped renewing its lease before the call finished (it stopped, or lost its database)',
          details: { reason: 'interrupted' },
        },
      });
      this.deps.unstored.delete(execution.id);
    }
    return abandoned.length;
  }

  /** Starts an abandoned call again under this process's lease when it may run again; whether it did. */
  private async retry(execution: Execution): Promise<boolean> {
    if (execution.mode !== ExecutionMode.ASYNC || !execution.tool || execution.attempts >= MAX_ATTEMPTS) return false;
    const em = this.deps.db.fork();
    const tool = await findCallableById(this.deps.db, execution.tool.id);
    if (!tool || !retryable(tool) || tool.status !== ToolStatus.ACTIVE || !tool.enabled) return false;
    const now = new Date();
    // Only if nobody renewed or took it since it was read: one replica restarts it.
    const restarted = await em.execute<{ attempts: number }[]>(
      `update execution set status = ?, runner = ?, heartbeat_at = ?::timestamptz, started_at = ?::timestamptz, updated_at = ?::timestamptz, attempts = attempts + 1
       where id = ? and status in (?) and heartbeat_at is not distinct from ?::timestamptz returning attempts`,
      [ExecutionStatus.RUNNING, this.deps.instanceId, now.toISOString(), now.toISOString(), now.toISOString(), execution.id, [...ACTIVE], execution.heartbeatAt?.toISOString() ?? null],
    );
    if (restarted.length !== 1) return false;
    this.deps.logger.warn({ executionId: execution.id }, 'retrying an interrupted idempotent execution');
    Object.assign(execution, { status: ExecutionStatus.RUNNING, runner: this.deps.instanceId, heartbeatAt: now, startedAt: now, attempts: Number(restarted[0]!.attempts) });
    this.deps.relaunch(execution, tool);
    return true;
  }

  private async tick(): Promise<void> {
    try {
      const ids = [...this.deps.running.keys()];
      if (ids.length) {
        const em = this.deps.db.fork();
        await em.nativeUpdate(Execution, { id: { $in: ids }, status: { $in: [...ACTIVE] } }, { heartbeatAt: new Date() });
        // A call cancelled through another replica stops here.
        const cancelled = await em.find(Execution, { id: { $in: ids }, status: ExecutionStatus.CANCELLED }, { fields: ['id'] });
        for (const { id } of cancelled) this.deps.running.get(id)?.controller.abort('cancelled' satisfies AbortReason);
      }
      await this.recover();
    } catch (error) {
      // An unavailable database is logged once per outage (by whoever answers requests), not once per tick.
      if (!isDatabaseUnavailable(error)) this.deps.logger.warn({ err: error }, 'execution lease renewal failed');
    }
  }
}
