import cluster from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCode } from '../errors.js';

/** Seconds buckets for request, operation and call latencies: 5 ms to 60 s. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The label every value outside a bounded set is reported under. */
export const OTHER = 'other';

/**
 * Names of the operations the registry itself sends (the catalog console's, console/src/operations);
 * a GraphQL request is counted under its operation name only when it is one of these or of
 * `REGISTRY_METRICS_OPERATIONS`, else under `other`, so no client can add series by naming operations.
 */
export const CONSOLE_OPERATIONS: readonly string[] = [
  'ConsoleAdminTools',
  'ConsoleApprove',
  'ConsoleAudit',
  'ConsoleAuditEntry',
  'ConsoleCancelExecution',
  'ConsoleCreatePolicy',
  'ConsoleCreatePrincipal',
  'ConsoleDeletePolicy',
  'ConsoleExecute',
  'ConsoleExecution',
  'ConsoleExecutionUpdated',
  'ConsoleExecutions',
  'ConsoleExplainAccess',
  'ConsoleExplorerSchema',
  'ConsoleMe',
  'ConsolePolicies',
  'ConsolePolicy',
  'ConsolePrincipals',
  'ConsoleProvider',
  'ConsoleProviderVariables',
  'ConsoleProviders',
  'ConsoleQuarantined',
  'ConsoleRefreshProvider',
  'ConsoleRegisterProvider',
  'ConsoleRemoveProvider',
  'ConsoleRevokeTokens',
  'ConsoleRotatePrincipalSecret',
  'ConsoleSetPrincipalStatus',
  'ConsoleSetProviderVariables',
  'ConsoleSetToolEnabled',
  'ConsoleTool',
  'ConsoleTools',
  'ConsoleUpdatePolicy',
  'ConsoleVerifyAudit',
];

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** An error code as a label: one of the registry's codes, else `other`. */
export function codeLabel(code: unknown): string {
  return typeof code === 'string' && ERROR_CODES.has(code) ? code : OTHER;
}

/** Why an authentication was refused; the label values of `registry_authentication_failures_total`. */
export type AuthFailureReason = 'missing_token' | 'malformed_header' | 'invalid_token' | 'wrong_audience' | 'revoked' | 'invalid_client' | 'invalid_grant' | 'throttled';

/** Which limit refused work; the label values of `registry_limit_refusals_total`. */
export type LimitRefusal = 'rate_limited' | 'quota_exceeded' | 'limiter_unavailable' | 'cost_budget' | 'query_limits';

/** What the gauges read when Prometheus scrapes (never on a request's path). */
export interface ScrapeSources {
  /** Whether the event bus delivers (Redis subscribed, or in-process). */
  eventBusConnected(): boolean;
  /** The database pool now; null for the embedded database (one session). */
  pool(): { total: number; idle: number; waiting: number; max: number } | null;
  /** Entries in the audit log's chains, and when the newest checkpoint was signed (null: none yet). */
  audit(): Promise<{ entries: number; newestCheckpoint: Date | null }>;
}

/**
 * The registry's Prometheus metrics: one set per process in a registry of its own (never
 * prom-client's global one). Counting is in memory and costs a label lookup; whatever needs the
 * database or another component is read through {@link ScrapeSources} when scraped. Every label
 * takes values from a bounded set: route patterns, known operation names, error codes, and at
 * most `maxToolLabels` tool names (the rest is `other`).
 */
export class RegistryMetrics {
  readonly registry = new Registry();
  private knownOperations = new Set(CONSOLE_OPERATIONS);
  private maxToolLabels = 200;
  private readonly toolLabels = new Set<string>();
  private readonly sources = new Set<ScrapeSources>();

  readonly httpRequests = new Counter({
    name: 'registry_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly graphqlOperations = new Counter({
    name: 'registry_graphql_operations_total',
    help: 'GraphQL operations, by operation name (known names only, else other), type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly graphqlDuration = new Histogram({
    name: 'registry_graphql_operation_duration_seconds',
    help: 'Time to answer a GraphQL operation, by operation name, type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly graphqlExecutions = new Counter({
    name: 'registry_graphql_executions_total',
    help: 'GraphQL operations executed through the compiled executor, by what ran them: compiled (graphql-jit) or graphql-js',
    labelNames: ['executor'] as const,
    registers: [this.registry],
  });
  /** {@link graphqlExecutions} of compiled operations (bound once: it counts on every catalog read). */
  readonly compiledExecutions = this.graphqlExecutions.labels('compiled');
  /** {@link graphqlExecutions} of operations graphql-js ran. */
  readonly interpretedExecutions = this.graphqlExecutions.labels('graphql-js');
  readonly callableTools = new Counter({
    name: 'registry_callable_tool_reads_total',
    help: 'How executeTool found the tool it calls: hit (remembered, and unchanged when the call was stored), stale (remembered but changed since: read again) or read (from the database)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** {@link callableTools}, bound once per result (counted on every call). */
  private readonly callableToolResults = { hit: this.callableTools.labels('hit'), stale: this.callableTools.labels('stale'), read: this.callableTools.labels('read') };
  readonly executions = new Counter({
    name: 'registry_tool_executions_total',
    help: 'Tool calls that ended, by tool, status and error code (none when it succeeded)',
    labelNames: ['tool', 'status', 'code'] as const,
    registers: [this.registry],
  });
  readonly executionDuration = new Histogram({
    name: 'registry_tool_execution_duration_seconds',
    help: 'Time from start to end of a tool call that ran, by tool and status',
    labelNames: ['tool', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly policyDecisions = new Counter({
    name: 'registry_policy_decisions_total',
    help: 'Policy decisions, by action and effect (allow or deny)',
    labelNames: ['action', 'effect'] as const,
    registers: [this.registry],
  });
  readonly limitRefusals = new Counter({
    name: 'registry_limit_refusals_total',
    help: 'Work refused by a limit: rate limits, quotas, the limit store unavailable, cost budgets, query limits',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'registry_authentication_failures_total',
    help: 'Refused authentications, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly catalogCache = new Counter({
    name: 'registry_catalog_cache_requests_total',
    help: 'Catalog reads answered from the cache (hit) or by running the query (miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    const sources = this.sources;
    new Gauge({
      name: 'registry_event_bus_connected',
      help: '1 while the event bus delivers (Redis subscribed, or in-process), else 0',
      registers: [this.registry],
      aggregator: 'min',
      collect() {
        if (sources.size) this.set([...sources].every((s) => s.eventBusConnected()) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'registry_db_pool_connections',
      help: 'Database pool connections by state (idle, busy), with the pool size limit (max) and callers waiting (waiting)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const source of sources) {
          const pool = source.pool();
          if (!pool) continue;
          this.inc({ state: 'idle' }, pool.idle);
          this.inc({ state: 'busy' }, pool.total - pool.idle);
          this.inc({ state: 'waiting' }, pool.waiting);
          this.inc({ state: 'max' }, pool.max);
        }
      },
    });
    // Both read the database (two small indexed queries) once per scrape; every worker reads the
    // same log, so the cluster keeps the largest value rather than a sum.
    let auditRead: Promise<{ entries: number; newestCheckpoint: Date | null } | null> | null = null;
    const readAudit = () => {
      const first = [...sources][0];
      if (!first) return Promise.resolve(null);
      // One read serves both gauges of a scrape (prom-client collects them together) and scrapes that
      // overlap it; it is not kept once done, so the next scrape sees what changed since.
      // A database out of reach leaves both gauges out of the scrape instead of failing it.
      if (!auditRead) {
        const read = first.audit().catch(() => null);
        auditRead = read;
        void read.finally(() => {
          if (auditRead === read) auditRead = null;
        });
      }
      return auditRead;
    };
    new Gauge({
      name: 'registry_audit_chain_entries',
      help: 'Entries in the audit log (all chains)',
      registers: [this.registry],
      aggregator: 'max',
      async collect() {
        const audit = await readAudit();
        // A gauge without labels reads 0 after a reset: removed instead, it is left out of the scrape.
        if (audit) this.set(audit.entries);
        else this.remove();
      },
    });
    new Gauge({
      name: 'registry_audit_checkpoint_age_seconds',
      help: 'Seconds since the newest signed audit checkpoint (absent before the first one)',
      registers: [this.registry],
      aggregator: 'min',
      async collect() {
        const newest = (await readAudit())?.newestCheckpoint;
        if (newest) this.set(Math.max(0, (Date.now() - newest.getTime()) / 1000));
        else this.remove();
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Sets the bounds of the labels: extra known operation names, the most distinct tool labels. */
  configure(options: { operations: readonly string[]; maxToolLabels: number }): void {
    this.knownOperations = new Set([...CONSOLE_OPERATIONS, ...options.operations]);
    this.maxToolLabels = options.maxToolLabels;
  }

  /** Adds what the gauges read at scrape time; returns the function that removes it again. */
  observe(sources: ScrapeSources): () => void {
    this.sources.add(sources);
    return () => this.sources.delete(sources);
  }

  /** An operation name as a label: a known one, else `other`. */
  operationLabel(name: unknown): string {
    return typeof name === 'string' && this.knownOperations.has(name) ? name : OTHER;
  }

  /** A tool name as a label: the first `maxToolLabels` distinct names seen keep theirs, the rest are `other`. */
  toolLabel(name: string): string {
    if (this.toolLabels.has(name)) return name;
    if (this.toolLabels.size >= this.maxToolLabels) return OTHER;
    this.toolLabels.add(name);
    return name;
  }

  /** Counts a GraphQL operation that was answered. */
  graphqlOperation(name: unknown, type: string, outcome: 'success' | 'error', seconds: number): void {
    const labels = { operation: this.operationLabel(name), type, outcome };
    this.graphqlOperations.inc(labels);
    this.graphqlDuration.observe(labels, seconds);
  }

  /** Counts a tool call that ended; `seconds` when it ran (a refused call never started). */
  execution(toolName: string, status: string, code: string | undefined, seconds: number | null): void {
    const tool = this.toolLabel(toolName);
    this.executions.inc({ tool, status, code: code ? codeLabel(code) : 'none' });
    if (seconds !== null) this.executionDuration.observe({ tool, status }, seconds);
  }

  /** Counts how a call found its tool (see {@link callableTools}). */
  callableTool(result: 'hit' | 'stale' | 'read'): void {
    this.callableToolResults[result].inc();
  }

  /** Counts a refusal by a limit store's error code (RATE_LIMITED, QUOTA_EXCEEDED, LIMITER_UNAVAILABLE). */
  limitRefused(code: string): void {
    const limit: LimitRefusal = code === ErrorCode.QUOTA_EXCEEDED ? 'quota_exceeded' : code === ErrorCode.RATE_LIMITED ? 'rate_limited' : 'limiter_unavailable';
    this.limitRefusals.inc({ limit });
  }

  /** The metrics of this process in Prometheus's text format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** This process's metrics. */
export const metrics = new RegistryMetrics();

/**
 * In a cluster worker: answers the primary's requests for this worker's metrics (prom-client's
 * cluster protocol over the IPC channel). A no-op elsewhere.
 */
export function shareMetricsWithPrimary(): void {
  if (!cluster.isWorker) return;
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
}

/** In the cluster's primary: the metrics of every worker, summed (gauges of shared state: their max or min). */
export function clusterMetrics(): () => Promise<{ contentType: string; body: string }> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
