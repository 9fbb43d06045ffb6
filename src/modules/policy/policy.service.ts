import { type EntityManager, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { type Viewer } from '../principal/viewer.js';
import {
  type AccessDecision,
  type AccessRequest,
  applicableRules,
  compilePolicies,
  type CompiledPolicies,
  decide,
  type PolicyInput,
  type ResourceRule,
} from './policy.engine.js';
import { type PolicyCache } from './policy.cache.js';
import { Policy, type PolicyAction, type PolicyConditions, type PolicyEffect, type PolicyLimits, type PolicyResources, type PolicySubjects } from './policy.entity.js';
import { metrics } from '../../observability/metrics.js';
import { inSpan } from '../../observability/tracing.js';

/** The fields of a policy a caller writes; an update replaces them all (absent optional fields take their defaults). */
export interface PolicyFields {
  name: string;
  description?: string | null;
  effect: PolicyEffect;
  priority?: number | null;
  parentId?: string | null;
  subjects?: PolicySubjects | null;
  resources?: PolicyResources | null;
  actions: PolicyAction[];
  conditions?: PolicyConditions | null;
  limits?: PolicyLimits | null;
  active?: boolean | null;
}

/** Who asks, from where and when: what a decision needs besides the tool. */
export interface AccessCaller {
  principal: { id: string; roles: readonly string[] };
  sourceIp?: string;
  at?: Date;
}

const MAX_LIMIT_CALLS = 1_000_000_000;
const MAX_WINDOW_SECONDS = 366 * 24 * 3600;

/** The engine's view of a stored policy. */
export function policyInput(policy: Policy): PolicyInput {
  return {
    id: policy.id,
    name: policy.name,
    effect: policy.effect,
    priority: policy.priority,
    parentId: policy.parent?.id ?? null,
    subjects: policy.subjects,
    resources: policy.resources,
    actions: policy.actions,
    conditions: policy.conditions,
    limits: policy.limits,
    active: policy.active,
    updatedAt: policy.updatedAt,
  };
}

/** Checks rate and quota limits; throws BAD_USER_INPUT naming the field. */
function checkLimits(limits: PolicyLimits): void {
  const calls = (value: unknown, field: string) => {
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_LIMIT_CALLS) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`${field}\` must be a whole number from 1 to ${MAX_LIMIT_CALLS}`, { field });
    }
  };
  if (limits.rate) {
    calls(limits.rate.calls, 'limits.rate.calls');
    const window = limits.rate.windowSeconds;
    if (!Number.isInteger(window) || window < 1 || window > MAX_WINDOW_SECONDS) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`limits.rate.windowSeconds\` must be a whole number from 1 to ${MAX_WINDOW_SECONDS}`, {
        field: 'limits.rate.windowSeconds',
      });
    }
  }
  if (limits.quota) {
    calls(limits.quota.calls, 'limits.quota.calls');
    if (limits.quota.period !== 'day' && limits.quota.period !== 'month') {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`limits.quota.period` must be day or month', { field: 'limits.quota.period' });
    }
  }
}

/** Drops empty lists and absent limits so stored policies stay comparable. */
function compact<T extends object>(value: T | null | undefined): T {
  if (!value) return {} as T;
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0)),
  ) as T;
}

/**
 * Stores policies and answers access questions with them. The compiled policy set comes from the
 * process's {@link PolicyCache} (no SQL while it is current; every change is announced to it once
 * committed), or without one is read once per service (one request); compiled forms are reused by
 * id and `updatedAt` either way.
 */
export class PolicyService {
  private loaded?: Promise<CompiledPolicies>;

  constructor(
    private readonly em: EntityManager,
    private readonly cache?: PolicyCache,
  ) {}

  /** Every policy, active or not, compiled; at most one read per service. */
  private load(): Promise<CompiledPolicies> {
    const read = async () => {
      const policies = await this.em.find(Policy, {}, { orderBy: { priority: 'desc', name: 'asc' } });
      return compilePolicies(policies.map(policyInput));
    };
    this.loaded ??= this.cache ? this.cache.compiled(read) : read();
    return this.loaded;
  }

  /** Decides one access question with the stored policies. */
  async decide(request: AccessRequest): Promise<AccessDecision> {
    return inSpan('policy.decide', { 'policy.action': request.action }, async (span) => {
      const decision = decide(await this.load(), request);
      const effect = decision.allowed ? 'allow' : 'deny';
      metrics.policyDecisions.inc({ action: request.action, effect });
      span.setAttribute('policy.effect', effect);
      return decision;
    });
  }

  /** The policies that hold for this caller and action whatever the tool (see {@link applicableRules}). */
  async rulesFor(caller: AccessCaller, action: AccessRequest['action']): Promise<ResourceRule[]> {
    return applicableRules(await this.load(), { ...caller, action });
  }

  async findById(id: string): Promise<Policy | null> {
    return isUuid(id) ? this.em.findOne(Policy, { id }) : null;
  }

  /** One page of policies, highest priority first, then by name. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async list(args: { first?: number | null; after?: string | null }): Promise<Page<Policy>> {
    const size = pageSize(args.first);
    const where = args.after
      ? (() => {
          const [priority, name] = decodeCursor<[number, string]>('policies', args.after, ['number', 'string']);
          return { $or: [{ priority: { $lt: priority } }, { priority, name: { $gt: name } }] };
        })()
      : {};
    const rows = await this.em.find(Policy, where, { orderBy: { priority: 'desc', name: 'asc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (p) => encodeCursor('policies', [p.priority, p.name]), () => this.em.count(Policy));
  }

  /** Creates a policy. Throws BAD_USER_INPUT (invalid field, unknown parent, cycle) or CONFLICT (name in use). */
  create(fields: PolicyFields, actor: Actor = {}): Promise<Policy> {
    return this.write('policy.create', actor, async (em) => {
      const policy = em.create(Policy, { name: fields.name, effect: fields.effect, actions: fields.actions });
      await this.assign(em, policy, fields);
      return policy;
    });
  }

  /** Replaces a policy's fields. Throws NOT_FOUND, BAD_USER_INPUT or CONFLICT like {@link create}. */
  update(id: string, fields: PolicyFields, actor: Actor = {}): Promise<Policy> {
    return this.write('policy.update', actor, async (em) => {
      const policy = isUuid(id) ? await em.findOne(Policy, { id }) : null;
      if (!policy) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such policy', { field: 'id' });
      await this.assign(em, policy, fields);
      return policy;
    });
  }

  /** Deletes a policy. Throws NOT_FOUND, or CONFLICT while other policies inherit from it. */
  delete(id: string, actor: Actor = {}): Promise<Policy> {
    return this.write('policy.delete', actor, async (em) => {
      const policy = isUuid(id) ? await em.findOne(Policy, { id }) : null;
      if (!policy) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such policy', { field: 'id' });
      const children = await em.count(Policy, { parent: policy });
      if (children > 0) {
        throw new RegistryError(ErrorCode.CONFLICT, `${children} policies inherit from this one; change their parent first`, { field: 'id' });
      }
      em.remove(policy);
      return policy;
    });
  }

  /**
   * Runs a change and its audit entry in one transaction, after checking the whole policy graph
   * still compiles; announces the change to the policy caches once committed.
   */
  private async write(action: string, actor: Actor, change: (em: EntityManager) => Promise<Policy>): Promise<Policy> {
    try {
      const written = await this.em.transactional(async (em) => {
        // One writer at a time: the graph check below must see every other change.
        await em.execute('select pg_advisory_xact_lock(hashtext(?))', ['registry.policies']);
        const policy = await change(em);
        const snapshot = { ...policyInput(policy), updatedAt: undefined };
        await em.flush();
        const all = await em.find(Policy, {});
        try {
          compilePolicies(all.map((p) => ({ ...policyInput(p), updatedAt: undefined })));
        } catch (error) {
          throw new RegistryError(ErrorCode.BAD_USER_INPUT, (error as Error).message);
        }
        await new AuditService(em).append({
          ...auditActor(actor),
          action,
          targetType: 'policy',
          targetId: snapshot.id,
          outcome: AuditOutcome.SUCCESS,
          details: { name: snapshot.name, effect: snapshot.effect, priority: snapshot.priority, actions: snapshot.actions, active: snapshot.active },
        });
        return policy;
      });
      this.loaded = undefined;
      await this.cache?.changed();
      return written;
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        throw new RegistryError(ErrorCode.CONFLICT, 'A policy with this name already exists', { field: 'name' });
      }
      throw error;
    }
  }

  private async assign(em: EntityManager, policy: Policy, fields: PolicyFields): Promise<void> {
    const name = fields.name.trim();
    if (!name || name.length > 200) throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'A policy name is 1 to 200 characters', { field: 'name' });
    if (fields.actions.length === 0) throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'Name at least one action', { field: 'actions' });
    const priority = fields.priority ?? 0;
    if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`priority` must be a whole number from -1000000 to 1000000', { field: 'priority' });
    }
    const limits = compact(fields.limits);
    checkLimits(limits);
    const conditions = compact(fields.conditions);
    // A window read back through the API has explicit nulls (`from: null`); they mean absent.
    if (conditions.timeWindows) conditions.timeWindows = conditions.timeWindows.map((window) => compact(window));
    let parent: Policy | null = null;
    if (fields.parentId) {
      parent = isUuid(fields.parentId) ? await em.findOne(Policy, { id: fields.parentId }) : null;
      if (!parent) throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'The parent policy does not exist', { field: 'parentId' });
    }
    em.assign(policy, {
      name,
      description: fields.description ?? '',
      effect: fields.effect,
      priority,
      parent,
      subjects: compact(fields.subjects),
      resources: compact(fields.resources),
      actions: [...new Set(fields.actions)],
      conditions,
      limits,
      active: fields.active ?? true,
    });
    // The policy's own parts must compile (time zones, CIDRs, argument schema) before the graph check.
    try {
      compilePolicies([{ ...policyInput(policy), id: policy.id ?? 'new', parentId: null, updatedAt: undefined }]);
    } catch (error) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, (error as Error).message);
    }
  }
}

/** The access caller of a viewer. */
export function callerOf(viewer: Viewer, sourceIp: string): AccessCaller {
  return { principal: { id: viewer.principalId, roles: viewer.roles }, sourceIp };
}
