/**
 * The per-request context's types, apart from the module that builds them (`context.ts`), so that
 * resolvers, rules and routes depend on a type only: nothing here exists at run time.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Database } from './db/database.js';
import type { RegistryError } from './errors.js';
import type { Logger } from './logger.js';
import type { AlertService, SecurityMonitor } from './modules/alert/index.js';
import type { AuditCheckpointSigner, AuditService } from './modules/audit/index.js';
import type { ExecutionRuntime, ExecutionService } from './modules/execution/index.js';
import type { PrincipalChanges, PrincipalService, Viewer } from './modules/principal/index.js';
import type { CredentialService } from './modules/credential/index.js';
import type { ProviderRegistrationService, ProviderService, RegistrationDependencies } from './modules/provider/index.js';
import type { ProviderVariableService } from './modules/variable/index.js';
import type { PolicyCache, PolicyService } from './modules/policy/index.js';
import type { CatalogEvents, ToolService } from './modules/tool/index.js';
import type { BudgetState, CostBudgets } from './security/budgets.js';

/** What every request's context is built from. */
export interface ContextDependencies {
  db: Database;
  budgets: CostBudgets;
  /** Query-cost points per hour for principals without their own budget. */
  defaultBudgetPerHour: number;
  logger: Logger;
  /** The vault and discovery settings provider registration works with. */
  registration: RegistrationDependencies;
  /** Runs tool calls; one per process. */
  runtime: ExecutionRuntime;
  /** Signs and verifies the audit log's checkpoints. */
  auditSigner: AuditCheckpointSigner;
  /** The process's compiled policy set (kept current over the event bus). */
  policyCache?: PolicyCache;
  /** Where principal changes are announced (the token holder caches of every replica). */
  principalChanges?: PrincipalChanges;
  /** Anomaly detection: told of denials; raises and announces security alerts. */
  securityMonitor: SecurityMonitor;
}

/** Everything a resolver may use for one request. */
export interface RegistryContext {
  requestId: string;
  sourceIp: string;
  /** The registry's base URL as this caller reaches it (`https://registry.example`), for links it hands out. */
  origin: string;
  /** The authenticated caller; null for anonymous requests. */
  viewer: Viewer | null;
  /** This request's own EntityManager fork. */
  em: EntityManager;
  /** The catalog, as far as the caller may read it. */
  tools: ToolService;
  policies: PolicyService;
  providers: ProviderService;
  executions: ExecutionService;
  runtime: ExecutionRuntime;
  /** Catalog changes, for `catalogChanged`. */
  catalogEvents: CatalogEvents;
  /**
   * Replaces the EntityManager and services with fresh ones (no cached rows, policies read anew):
   * a long-lived subscription calls it before handling each event.
   */
  refresh(): void;
  principals: PrincipalService;
  audit: AuditService;
  registration: ProviderRegistrationService;
  credentials: CredentialService;
  /** Provider variables (setProviderVariables, Provider.variables). */
  variables: ProviderVariableService;
  /** Security alerts and their rules. */
  alerts: AlertService;
  /** The process's anomaly detection (alert subscriptions, rule announcements). */
  securityMonitor: SecurityMonitor;
  /** The operation's cost, set by the query-limits plugin once the operation is known. */
  queryCost?: number;
  /** The operation's charge to the hourly budget (points), set by the query-limits plugin with `queryCost`. */
  queryCharge?: number;
  /**
   * State shared by every copy of this context (Apollo copies the context object per operation):
   * the caller's budget after this operation was charged.
   */
  /** What this request was charged: `charging` settles once the charge (started by a rule) is done. */
  usage: { budget?: BudgetState; charging?: Promise<unknown> };
  /** Charges `cost` to the caller once per request; a RATE_LIMITED error when the budget is spent. */
  chargeBudget(cost: number): Promise<true | RegistryError>;
  /** The caller's budget as it stands, charging nothing; null without a caller. */
  peekBudget(): Promise<BudgetState | null>;
  /** Appends one `authorization.denied` audit entry per refused field (own transaction). */
  recordDenial(field: string, code: string): Promise<void>;
  /** `{ principalId, requestId, sourceIp }` for services that audit. */
  actor: { principalId: string | null; requestId: string; sourceIp: string };
}
