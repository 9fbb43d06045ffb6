import { type EntityManager } from '@mikro-orm/postgresql';
import { type ContextDependencies, type RegistryContext } from './context.types.js';
import { ErrorCode, RegistryError } from './errors.js';
import { budgetExhausted } from './security/budgets.js';
import { AlertService } from './modules/alert/index.js';
import { auditActor, AuditOutcome, AuditService } from './modules/audit/index.js';
import { ExecutionService } from './modules/execution/index.js';
import { PrincipalService, type Viewer } from './modules/principal/index.js';
import { CredentialService } from './modules/credential/index.js';
import { ProviderRegistrationService, ProviderService } from './modules/provider/index.js';
import { ProviderVariableService } from './modules/variable/index.js';
import { callerOf, PolicyService } from './modules/policy/index.js';
import { NOTHING_READABLE, type ReadFilter, readFilterOf, ToolService } from './modules/tool/index.js';

/**
 * Which tools `viewer` may read from `sourceIp` now: admins manage the catalog and see all of it
 * (null); everyone else what their `read` policies allow; anonymous callers nothing.
 */
export function catalogVisibility(policies: PolicyService, viewer: Viewer | null, sourceIp: string): Promise<ReadFilter> {
  if (!viewer) return Promise.resolve(NOTHING_READABLE);
  if (viewer.isAdmin) return Promise.resolve(null);
  return policies.rulesFor(callerOf(viewer, sourceIp), 'read').then(readFilterOf);
}

/** Builds the context of one request around a fresh EntityManager fork. */
export function createContext(
  deps: ContextDependencies,
  request: { requestId: string; sourceIp: string; origin: string; viewer: Viewer | null; em?: EntityManager },
): RegistryContext {
  const em = request.em ?? deps.db.fork();
  const denied = new Set<string>();
  let charge: Promise<true | RegistryError> | undefined;
  const actor = { principalId: request.viewer?.principalId ?? null, requestId: request.requestId, sourceIp: request.sourceIp };

  const recordDenial = async (field: string, code: string): Promise<void> => {
    if (denied.has(field)) return;
    denied.add(field);
    if (request.viewer) deps.securityMonitor.observe({ kind: 'denial', principalId: request.viewer.principalId });
    else if (field === '(authentication)') deps.securityMonitor.observe({ kind: 'auth_failure', sourceIp: request.sourceIp, clientId: null });
    try {
      await AuditService.appendAlone(deps.db.fork(), {
        ...auditActor(actor),
        action: 'authorization.denied',
        targetType: 'field',
        targetId: field,
        outcome: AuditOutcome.DENIED,
        details: { code },
      });
    } catch (error) {
      // The refusal stands either way; a missing audit entry must be visible in the logs.
      deps.logger.error({ err: error, requestId: request.requestId, field }, 'could not audit a denial');
    }
  };

  /** The request's services around one EntityManager; policies are read once per set. */
  const services = (em: EntityManager) => {
    const policies = new PolicyService(em, deps.policyCache);
    let readFilter: Promise<ReadFilter> | undefined;
    const readable = (): Promise<ReadFilter> => (readFilter ??= catalogVisibility(policies, request.viewer, request.sourceIp));
    return {
      em,
      tools: new ToolService(em, readable, deps.db),
      policies,
      providers: new ProviderService(em),
      executions: new ExecutionService(em),
      principals: new PrincipalService(em, deps.principalChanges),
      audit: new AuditService(em, deps.auditSigner),
      registration: new ProviderRegistrationService(em, deps.registration),
      credentials: new CredentialService(em, deps.registration.vault, deps.registration.discovery.egress),
      variables: new ProviderVariableService(em, deps.registration.vault),
      alerts: new AlertService(em),
    };
  };

  const usage: RegistryContext['usage'] = {};
  const context: RegistryContext = {
    requestId: request.requestId,
    sourceIp: request.sourceIp,
    origin: request.origin,
    viewer: request.viewer,
    ...services(em),
    runtime: deps.runtime,
    securityMonitor: deps.securityMonitor,
    catalogEvents: deps.registration.catalogEvents,
    refresh() {
      Object.assign(context, services(deps.db.fork()));
    },
    actor,
    usage,
    recordDenial,
    chargeBudget(cost: number) {
      charge ??= (async () => {
        const { viewer } = request;
        if (!viewer) return new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
        const state = await deps.budgets.charge(viewer.principalId, cost, viewer.costBudgetPerHour ?? deps.defaultBudgetPerHour);
        usage.budget = state;
        if (state.allowed) return true;
        await recordDenial('(operation)', ErrorCode.RATE_LIMITED);
        return budgetExhausted(state, cost);
      })();
      usage.charging = charge;
      return charge;
    },
    async peekBudget() {
      const { viewer } = request;
      if (!viewer) return null;
      return deps.budgets.peek(viewer.principalId, viewer.costBudgetPerHour ?? deps.defaultBudgetPerHour);
    },
  };
  return context;
}
