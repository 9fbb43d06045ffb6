import { randomUUID } from 'node:crypto';
import { LockMode, raw } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { SecretScrubber } from '../../common/secret-scrubber.js';
import { storable } from '../../common/json-values.js';
import { type RegistryContext } from '../../context.types.js';
import { type Database } from '../../db/database.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Executor } from '../../executors/index.js';
import { type Logger } from '../../logger.js';
import { type EgressPolicy } from '../../security/egress.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { type CredentialVault } from '../credential/index.js';
import { type PolicyService } from '../policy/index.js';
import { type Viewer } from '../principal/viewer.js';
import { Provider } from '../provider/provider.entity.js';
import { Tool, ToolStatus, type ToolService } from '../tool/index.js';
import { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { type ExecutionEvents } from './execution.events.js';
import { type ExecutionLimiter } from './execution.limits.js';
import { redactBySchema, schemaHasSecrets, secretsBySchema } from './execution.redaction.js';
import { schemaProblems } from './execution.schemas.js';
import { resolveCallTemplate } from './execution.template.js';

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

/** `executeTool`'s input. */
export interface ExecuteInput {
  tool: string;
  arguments: unknown;
  idempotencyKey?: string | null;
  mode?: ExecutionMode | null;
  timeoutMs?: number | null;
}

/** The caller of one execution, with its request's services (they see what the caller may see). */
export interface ExecutionCaller {
  viewer: Viewer;
  actor: Actor & { principalId: string };
  sourceIp: string;
  tools: ToolService;
  policies: PolicyService;
}

/** The caller of an execution made in a request of this authenticated context (GraphQL, UTCP, MCP). */
export function executionCallerOf(ctx: RegistryContext): ExecutionCaller {
  const viewer = ctx.viewer;
  if (!viewer) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
  return { viewer, actor: { ...ctx.actor, principalId: viewer.principalId }, sourceIp: ctx.sourceIp, tools: ctx.tools, policies: ctx.policies };
}

const ACTIVE = [ExecutionStatus.QUEUED, ExecutionStatus.RUNNING];
const TERMINAL = new Set<ExecutionStatus>([
  ExecutionStatus.SUCCEEDED,
  ExecutionStatus.FAILED,
  ExecutionStatus.DENIED,
  ExecutionStatus.TIMED_OUT,
  ExecutionStatus.CANCELLED,
]);
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
/** HTTP methods whose calls may be repeated safely after an interruption. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** How a call ended, before it is stored. */
interface Outcome {
  status: ExecutionStatus;
  result?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> } | null;
  outputValid?: boolean | null;
  decision?: Record<string, unknown> | null;
  /** Whether a secret of the call was scrubbed from what it returned (audited). */
  scrubbed?: boolean;
}

/** Why a running call was aborted. */
type AbortReason = 'cancelled' | 'shutdown' | 'timeout';

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether an interrupted ASYNC call of this tool may run again: it is declared idempotent, and its arguments were stored whole. */
function retryable(tool: Tool): boolean {
  const template = tool.callTemplate as Record<string, unknown>;
  const method = typeof template.http_method === 'string' ? template.http_method.toUpperCase() : undefined;
  const idempotent = tool.tags.includes('idempotent') || (template.call_template_type === 'http' && method !== undefined && IDEMPOTENT_METHODS.has(method));
  return idempotent && !schemaHasSecrets(tool.inputs);
}

/**
 * Runs tool calls: one pipeline for every caller. A call is stored as `queued` before anything else
 * (claiming its idempotency key), then decided (tool state, policy, arguments, limits) and run by the
 * executor of its call template type with no transaction open; its outcome and audit entry are
 * written together. Running calls are leased to this process (`runner`, `heartbeatAt`), so a call
 * left behind by a dead process is found and marked `failed: interrupted` by any replica.
 */
export class ExecutionRuntime {
  readonly instanceId = randomUUID();
  private readonly running = new Map<string, Running>();
  private timer?: NodeJS.Timeout;
  private stopping = false;

  constructor(private readonly deps: ExecutionRuntimeDependencies) {}

  /** Changes of executions run by this process. */
  get events(): ExecutionEvents {
    return this.deps.events;
  }

  /**
   * Runs (SYNC) or starts (ASYNC) a call and returns its execution. Throws, storing nothing but an audit
   * entry, for input that names no call: BAD_USER_INPUT (arguments not an object, bad timeout or key),
   * NOT_FOUND (no tool of that name the caller may read). Every other outcome is an execution.
   */
  async execute(caller: ExecutionCaller, input: ExecuteInput): Promise<Execution> {
    const { args, timeoutMs, key, mode } = this.checkInput(input);
    // No tool name holds U+0000, and PostgreSQL refuses it in a query parameter.
    const tool = input.tool.includes('\0') ? null : await caller.tools.findReadableByName(input.tool);
    if (!tool) {
      await this.auditRefusal(caller.actor, input.tool, ErrorCode.NOT_FOUND);
      throw new RegistryError(ErrorCode.NOT_FOUND, `No tool named ${input.tool}`, { argument: 'input.tool' });
    }
    const em = this.deps.db.fork();
    const storedArgs = storable(redactBySchema(args, tool.inputs) as Record<string, unknown>);
    const claimed = await this.claim(em, tool, caller, storedArgs, { key, mode, timeoutMs });
    if (!claimed.created && claimed.execution.toolName !== tool.name) {
      throw new RegistryError(ErrorCode.CONFLICT, 'This idempotency key was already used for a call of another tool', { argument: 'input.idempotencyKey' });
    }
    if (!claimed.created) return mode === ExecutionMode.SYNC ? this.settled(claimed.execution.id, timeoutMs) : claimed.execution;

    const execution = claimed.execution;
    const refusal = await this.decide(em, tool, caller, args);
    if ('status' in refusal) return this.finish(execution.id, tool, caller.actor, refusal);
    const work = this.launch(execution.id, tool, args, timeoutMs, caller.actor, refusal.decision);
    if (mode === ExecutionMode.ASYNC) return execution;
    await work;
    return this.load(execution.id);
  }

  /**
   * Cancels a queued or running call of the viewer (or any call, for admins). Returns the execution;
   * one that already ended is returned unchanged. Throws NOT_FOUND for anything else.
   */
  async cancel(id: string, viewer: Viewer, actor: Actor): Promise<Execution> {
    const em = this.deps.db.fork();
    const execution = isUuid(id) ? await em.findOne(Execution, { id }, { populate: ['tool'] }) : null;
    if (!execution || (!viewer.isAdmin && execution.principal.id !== viewer.principalId)) {
      throw new RegistryError(ErrorCode.NOT_FOUND, 'No such execution', { argument: 'id' });
    }
    if (TERMINAL.has(execution.status)) return execution;
    const finished = await this.finish(id, execution.tool ?? null, actor, {
      status: ExecutionStatus.CANCELLED,
      error: { code: ErrorCode.CANCELLED, message: 'Cancelled by request' },
    });
    this.running.get(id)?.controller.abort('cancelled' satisfies AbortReason);
    return finished;
  }

  /**
   * Marks calls whose runner stopped renewing its lease as failed (interrupted), retrying idempotent
   * ASYNC ones: another process's, and this process's own that it no longer runs (their outcome could
   * not be stored, or their request failed before the call started, while the database was away).
   * Returns how many it found.
   */
  async recover(): Promise<number> {
    const em = this.deps.db.fork();
    const stale = new Date(Date.now() - this.deps.leaseSeconds * 1000);
    const running = [...this.running.keys()];
    const abandoned = await em.find(
      Execution,
      {
        status: { $in: ACTIVE },
        $and: [
          { $or: [{ runner: { $ne: this.instanceId } }, { runner: null }, running.length ? { runner: this.instanceId, id: { $nin: running } } : { runner: this.instanceId }] },
          { $or: [{ heartbeatAt: { $lt: stale } }, { heartbeatAt: null, createdAt: { $lt: stale } }] },
        ],
      },
      { populate: ['tool'], limit: 500 },
    );
    for (const execution of abandoned) {
      const tool = execution.tool ?? null;
      if (execution.mode === ExecutionMode.ASYNC && tool && retryable(tool) && tool.status === ToolStatus.ACTIVE && tool.enabled && execution.attempts < 3) {
        const requeued = await em.nativeUpdate(
          Execution,
          { id: execution.id, status: { $in: ACTIVE }, heartbeatAt: execution.heartbeatAt ?? null },
          { status: ExecutionStatus.QUEUED, runner: this.instanceId, heartbeatAt: new Date() },
        );
        if (requeued === 1) {
          this.deps.logger.warn({ executionId: execution.id }, 'retrying an interrupted idempotent execution');
          void this.launch(execution.id, tool, execution.arguments, execution.timeoutMs ?? this.deps.defaultTimeoutMs, { principalId: execution.principal.id }, execution.decision ?? null);
          continue;
        }
      }
      await this.finish(execution.id, tool, { principalId: null }, {
        status: ExecutionStatus.FAILED,
        error: { code: ErrorCode.INTERRUPTED, message: 'interrupted: the registry process running this call stopped before it finished', details: { reason: 'interrupted' } },
      });
    }
    return abandoned.length;
  }

  /** Recovers abandoned calls now, then renews this process's leases and looks for abandoned calls every third of a lease. */
  async start(): Promise<void> {
    await this.recover();
    const every = Math.max(200, (this.deps.leaseSeconds * 1000) / 3);
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  /** Waits up to `graceMs` for running calls, then interrupts the rest (each is stored as failed: interrupted). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const waited = await Promise.race([all().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref())]);
    if (!waited) {
      for (const { controller } of this.running.values()) controller.abort('shutdown' satisfies AbortReason);
      await all();
    }
  }

  private async tick(): Promise<void> {
    try {
      const ids = [...this.running.keys()];
      if (ids.length) {
        const em = this.deps.db.fork();
        await em.nativeUpdate(Execution, { id: { $in: ids }, status: { $in: ACTIVE } }, { heartbeatAt: new Date() });
        // A call cancelled through another replica stops here.
        const cancelled = await em.find(Execution, { id: { $in: ids }, status: ExecutionStatus.CANCELLED }, { fields: ['id'] });
        for (const { id } of cancelled) this.running.get(id)?.controller.abort('cancelled' satisfies AbortReason);
      }
      await this.recover();
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'execution lease renewal failed');
    }
  }

  private checkInput(input: ExecuteInput) {
    if (!isPlainObject(input.arguments)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`arguments` must be a JSON object', { argument: 'input.arguments' });
    }
    const timeoutMs = input.timeoutMs ?? this.deps.defaultTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > this.deps.maxTimeoutMs) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`timeoutMs\` must be a whole number from 1 to ${this.deps.maxTimeoutMs}`, {
        argument: 'input.timeoutMs',
      });
    }
    const key = input.idempotencyKey ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`idempotencyKey` is 1 to 200 printable ASCII characters', { argument: 'input.idempotencyKey' });
    }
    if (this.stopping) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, 'The registry is shutting down; try again on another instance');
    return { args: input.arguments, timeoutMs, key, mode: input.mode ?? ExecutionMode.SYNC };
  }

  /** Stores the call as queued, or finds the call that already claimed its idempotency key. */
  private async claim(
    em: EntityManager,
    tool: Tool,
    caller: ExecutionCaller,
    storedArgs: Record<string, unknown>,
    options: { key: string | null; mode: ExecutionMode; timeoutMs: number },
  ): Promise<{ execution: Execution; created: boolean }> {
    const id = randomUUID();
    const now = new Date();
    const data = {
      id,
      createdAt: now,
      updatedAt: now,
      tool: tool.id,
      toolName: tool.name,
      principal: caller.actor.principalId,
      arguments: storedArgs,
      status: ExecutionStatus.QUEUED,
      mode: options.mode,
      idempotencyKey: options.key,
      requestId: caller.actor.requestId ?? null,
      timeoutMs: options.timeoutMs,
      runner: this.instanceId,
      heartbeatAt: now,
      attempts: 0,
    };
    if (options.key === null) {
      await em.insert(Execution, data);
    } else {
      // Concurrent retries race on the unique (principal, key): one row wins, the others read it.
      await em.upsert(Execution, data, { onConflictFields: ['principal', 'idempotencyKey'], onConflictAction: 'ignore' });
    }
    const execution =
      options.key === null
        ? await em.findOneOrFail(Execution, { id })
        : await em.findOneOrFail(Execution, { principal: caller.actor.principalId, idempotencyKey: options.key });
    return { execution, created: execution.id === id };
  }

  /** Tool state, policy, arguments and limits: the refusal to store, or the decision that allows the call. */
  private async decide(
    em: EntityManager,
    tool: Tool,
    caller: ExecutionCaller,
    args: Record<string, unknown>,
  ): Promise<Outcome | { decision: Record<string, unknown> }> {
    if (tool.status !== ToolStatus.ACTIVE || !tool.enabled) {
      const why = tool.status === ToolStatus.QUARANTINED ? 'quarantined: a changed definition awaits approval' : tool.status === ToolStatus.REMOVED ? 'removed by its provider' : 'disabled';
      return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.TOOL_UNAVAILABLE, message: `The tool is ${why}` } };
    }
    const provider = await em.findOneOrFail(Provider, { id: tool.provider.id });
    const decision = await caller.policies.decide({
      principal: { id: caller.viewer.principalId, roles: caller.viewer.roles },
      action: 'execute',
      tool: { name: tool.name, tags: tool.tags, provider: provider.name },
      arguments: args,
      sourceIp: caller.sourceIp,
    });
    const stored = { allowed: decision.allowed, reason: decision.reason, policy: decision.decidingPolicy };
    if (!decision.allowed) {
      return { status: ExecutionStatus.DENIED, error: { code: ErrorCode.POLICY_DENIED, message: decision.reason }, decision: stored };
    }
    const problems = schemaProblems(`${tool.id}:${tool.definitionHash}:in`, tool.inputs ?? {}, args);
    if (problems === null) {
      return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.EXECUTION_FAILED, message: "The tool's input schema is not a valid JSON Schema", details: { reason: 'invalid_schema' } }, decision: stored };
    }
    if (problems.length) {
      const summary = problems.slice(0, 5).map((p) => `${p.path} ${p.message}`).join('; ');
      return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INVALID_ARGUMENTS, message: `Invalid arguments: ${summary}`, details: { errors: problems } }, decision: stored };
    }
    try {
      await this.deps.limiter.consume(caller.viewer.principalId, tool.id, decision.limits);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      return { status: ExecutionStatus.DENIED, error: { code: error.code, message: error.message, details: { ...error.extensions } }, decision: stored };
    }
    return { decision: stored };
  }

  /** Runs the call in the background of this process; resolves when it is stored. */
  private launch(id: string, tool: Tool, args: Record<string, unknown>, timeoutMs: number, actor: Actor, decision: Record<string, unknown> | null): Promise<void> {
    const controller = new AbortController();
    const done = this.run(id, tool, args, timeoutMs, actor, decision, controller)
      .catch(async (error: unknown) => {
        this.deps.logger.error({ err: error, executionId: id }, 'execution could not be stored');
        // Left as it is, the call would stay running for good: its runner, this process, is alive.
        const failed = { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'The outcome of the call could not be stored' } };
        await this.finish(id, tool, actor, failed).catch(() => {});
      })
      .finally(() => this.running.delete(id));
    this.running.set(id, { controller, done });
    return done;
  }

  private async run(
    id: string,
    tool: Tool,
    args: Record<string, unknown>,
    timeoutMs: number,
    actor: Actor,
    decision: Record<string, unknown> | null,
    controller: AbortController,
  ): Promise<void> {
    const em = this.deps.db.fork();
    const started = new Date();
    const marked = await em.nativeUpdate(
      Execution,
      { id, status: ExecutionStatus.QUEUED },
      { status: ExecutionStatus.RUNNING, startedAt: started, runner: this.instanceId, heartbeatAt: started, decision, attempts: raw('"attempts" + 1') },
    );
    if (marked !== 1) return; // cancelled meanwhile
    this.deps.events.publish({ executionId: id, status: ExecutionStatus.RUNNING });
    // The values injected into this call, and only those: executors add what they derive or fetch.
    const secrets: string[] = [];
    const scrubber = new SecretScrubber(secrets);
    const deadline = setTimeout(() => controller.abort('timeout' satisfies AbortReason), timeoutMs + 1000);
    let outcome: Outcome;
    try {
      const provider = await em.findOneOrFail(Provider, { id: tool.provider.id });
      const resolved = await resolveCallTemplate(em, this.deps.vault, provider.id, provider.name, tool.callTemplate as Record<string, unknown> & { call_template_type: string });
      // Argument values the input schema marks as secret are scrubbed like credentials when a result or error echoes them.
      // The executor adds what it derives or fetches (an encoded Basic credential, an OAuth token).
      secrets.push(...resolved.secrets, ...secretsBySchema(args, tool.inputs));
      const executor = this.deps.executors[resolved.template.call_template_type];
      if (!executor) {
        throw new RegistryError(ErrorCode.EXECUTION_FAILED, `No executor for call template type ${resolved.template.call_template_type}`, { reason: 'unsupported' });
      }
      const result = await executor({
        toolName: tool.name,
        callTemplate: resolved.template,
        arguments: args,
        timeoutMs,
        maxBytes: this.deps.maxResponseBytes,
        egress: this.deps.egress,
        cliAllow: this.deps.cliAllow,
        fileRoot: this.deps.fileRoot,
        signal: controller.signal,
        secrets,
        onChunk: (chunk) => this.deps.events.publish({ executionId: id, status: ExecutionStatus.RUNNING, chunk: scrubber.value(chunk) }),
      });
      const output = scrubber.value(result.result);
      let outputValid: boolean | null = null;
      if (tool.outputs && Object.keys(tool.outputs).length) {
        const problems = schemaProblems(`${tool.id}:${tool.definitionHash}:out`, tool.outputs, result.result);
        outputValid = problems !== null && problems.length === 0;
      }
      outcome = { status: ExecutionStatus.SUCCEEDED, result: redactBySchema(output, tool.outputs), outputValid };
    } catch (error) {
      outcome = this.failure(error, controller.signal, scrubber, id);
    } finally {
      clearTimeout(deadline);
    }
    if (outcome.status === ExecutionStatus.CANCELLED) return; // stored by cancel()
    // Executors scrub their error excerpts themselves, marking each `[redacted]`.
    if (scrubber.hits > 0 || outcome.error?.message.includes('[redacted]')) outcome.scrubbed = true;
    await this.storeOutcome(id, tool, actor, outcome);
  }

  /**
   * Stores a call's outcome, retrying while the database is unreachable (a restart, a failover) for
   * up to a lease, so the outcome the tool produced is what gets recorded. Past that it throws, and
   * the call is left to {@link recover}, which records it as interrupted.
   */
  private async storeOutcome(id: string, tool: Tool, actor: Actor, outcome: Outcome): Promise<void> {
    const until = Date.now() + this.deps.leaseSeconds * 1000;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await this.finish(id, tool, actor, outcome);
        return;
      } catch (error) {
        if (Date.now() + wait > until) throw error;
        this.deps.logger.warn({ err: error, executionId: id }, 'could not store the outcome of a call yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private failure(error: unknown, signal: AbortSignal, scrubber: SecretScrubber, id: string): Outcome {
    const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
    if (reason === 'cancelled') return { status: ExecutionStatus.CANCELLED };
    if (reason === 'shutdown') {
      return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERRUPTED, message: 'interrupted: the registry shut down before the call finished', details: { reason: 'interrupted' } } };
    }
    if (reason === 'timeout' || (error instanceof RegistryError && error.code === ErrorCode.UPSTREAM_TIMEOUT)) {
      return { status: ExecutionStatus.TIMED_OUT, error: { code: ErrorCode.UPSTREAM_TIMEOUT, message: error instanceof RegistryError ? scrubber.text(error.message) : 'The call did not finish in time' } };
    }
    if (error instanceof RegistryError) {
      const details = scrubber.value(Object.fromEntries(Object.entries(error.extensions).filter(([k]) => k !== 'http' && k !== 'code')));
      return { status: ExecutionStatus.FAILED, error: { code: error.code, message: scrubber.text(error.message), details } };
    }
    // The error's text may quote what the call carried.
    const err = error instanceof Error ? { type: error.name, message: scrubber.text(error.message), stack: scrubber.text(error.stack ?? '') } : { message: scrubber.text(String(error)) };
    this.deps.logger.error({ err, executionId: id }, 'executor failed unexpectedly');
    return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'The call failed inside the registry' } };
  }

  /** Stores the outcome of a queued or running call with its audit entry, in one transaction; returns the execution. */
  private async finish(id: string, tool: Tool | null, actor: Actor, outcome: Outcome): Promise<Execution> {
    const em = this.deps.db.fork();
    const stored = await em.transactional(async (tx) => {
      const execution = await tx.findOneOrFail(Execution, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (TERMINAL.has(execution.status)) return false;
      const finishedAt = new Date();
      tx.assign(execution, {
        status: outcome.status,
        result: storable(outcome.result ?? null),
        error: storable(outcome.error ?? null),
        outputValid: outcome.outputValid ?? null,
        finishedAt,
        durationMs: execution.startedAt ? finishedAt.getTime() - execution.startedAt.getTime() : null,
        runner: null,
        ...(outcome.decision !== undefined ? { decision: outcome.decision } : {}),
      });
      await tx.flush();
      await new AuditService(tx).append({
        ...auditActor(actor),
        action: 'tool.execute',
        targetType: 'tool',
        targetId: tool?.id ?? null,
        outcome:
          outcome.status === ExecutionStatus.SUCCEEDED ? AuditOutcome.SUCCESS : outcome.status === ExecutionStatus.DENIED ? AuditOutcome.DENIED : AuditOutcome.FAILURE,
        details: {
          executionId: id,
          tool: execution.toolName,
          status: outcome.status,
          ...(outcome.error ? { code: outcome.error.code } : {}),
          // The upstream echoed a credential (or the caller's argument equalled one): worth a look.
          ...(outcome.scrubbed ? { secretsScrubbed: true } : {}),
          durationMs: execution.durationMs,
        },
      });
      return true;
    });
    const execution = await this.load(id);
    if (stored) this.deps.events.publish({ executionId: id, status: execution.status });
    return execution;
  }

  /** Audits a call refused before it named a tool the caller may see. */
  private async auditRefusal(actor: Actor, toolName: string, code: ErrorCode): Promise<void> {
    await AuditService.appendAlone(this.deps.db.fork(), {
      ...auditActor(actor),
      action: 'tool.execute',
      targetType: 'tool',
      targetId: null,
      outcome: AuditOutcome.DENIED,
      details: { tool: storable(toolName.slice(0, 300)), code },
    });
  }

  private load(id: string): Promise<Execution> {
    return this.deps.db.fork().findOneOrFail(Execution, { id });
  }

  /** The execution once it has ended (an idempotent replay of a call still running), or as it is when `timeoutMs` passes. */
  private async settled(id: string, timeoutMs: number): Promise<Execution> {
    const until = Date.now() + timeoutMs + 2000;
    let wait = 25;
    for (;;) {
      const execution = await this.load(id);
      if (TERMINAL.has(execution.status) || Date.now() >= until) return execution;
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(500, wait * 2);
    }
  }
}
