import { parseAddress } from '../../common/ip.js';
import { clientAddress, compileConditions, evaluateConditions, type CompiledConditions, type ConditionContext } from './policy.conditions.js';
import type { PolicyAction, PolicyConditions, PolicyEffect, PolicyLimits, PolicyResources, PolicySubjects } from './policy.entity.js';

export { clientAddress };

export type PolicyActionName = `${PolicyAction}`;
export type PolicyEffectName = `${PolicyEffect}`;

/** One access question: may this principal perform this action on this tool, now, from here, with these arguments? */
export interface AccessRequest {
  principal: { id: string; roles: readonly string[] };
  action: PolicyActionName;
  tool: { name: string; tags: readonly string[]; provider: string };
  /** For execute; when absent, argument constraints are not evaluated (read decisions ignore them). */
  arguments?: Record<string, unknown>;
  /** The client address (see {@link clientAddress}); when absent, CIDR conditions fail closed. */
  sourceIp?: string;
  /** Default: now. */
  at?: Date;
}

/** A policy as the engine sees it: plain data, no entity references. */
export interface PolicyInput {
  id: string;
  name: string;
  effect: PolicyEffectName;
  priority: number;
  parentId?: string | null;
  subjects: PolicySubjects;
  resources: PolicyResources;
  actions: readonly PolicyActionName[];
  conditions: PolicyConditions;
  limits: PolicyLimits;
  active: boolean;
  /** When given, compiled forms are cached by id and this stamp; without it the policy is compiled afresh. */
  updatedAt?: Date | null;
}

/** Why one policy matched (subjects, resources, actions) and applied (its own and inherited conditions), or not. */
export interface PolicyEvaluation {
  policyId: string;
  name: string;
  matched: boolean;
  applied: boolean;
  reasons: string[];
}

/** The limits of one applied allow policy, with its id so the caller can key its counters. */
export interface AppliedLimits extends PolicyLimits {
  policyId: string;
}

/** The answer to an {@link AccessRequest}, with the evaluations that explain it. */
export interface AccessDecision {
  allowed: boolean;
  decidingPolicy: { id: string; name: string; effect: PolicyEffectName; priority: number } | null;
  /** When allowed: the non-empty limits of every allow policy that applied; all bind the call. Empty when denied. */
  limits: AppliedLimits[];
  evaluations: PolicyEvaluation[];
  reason: string;
}

/** A policy's own parts, compiled; cached by id and updatedAt. */
interface CompiledParts {
  principals: ReadonlySet<string> | null;
  roles: ReadonlySet<string> | null;
  tools: { glob: string; pattern: RegExp }[] | null;
  tags: ReadonlySet<string> | null;
  providers: ReadonlySet<string> | null;
  actions: ReadonlySet<string>;
  own: CompiledConditions;
  /** Texts for the reasons, built once. */
  subjectsText: string;
  toolsText: string;
  tagsText: string;
  providersText: string;
  actionsText: string;
}

interface CompiledPolicy {
  input: PolicyInput;
  label: string;
  parts: CompiledParts;
  /** Own conditions first, then each ancestor's, nearest first; `from` is null for the policy's own. */
  conditions: { from: string | null; compiled: CompiledConditions }[];
}

/** Policies compiled by {@link compilePolicies}; pass to {@link decide} to skip recompilation. */
export interface CompiledPolicies {
  readonly kind: 'compiled-policies';
  readonly policies: readonly CompiledPolicy[];
}

/**
 * Checks that every parent exists and that no inheritance chain loops. Throws an Error naming the
 * missing parent or the cycle (`policy cycle: "a" → "b" → "a"`), or a duplicated id. Pass every
 * policy, active or not: inactive parents still lend their conditions.
 */
export function validatePolicyGraph(policies: readonly PolicyInput[]): void {
  const byId = indexById(policies);
  const done = new Set<string>();
  for (const policy of policies) {
    const path: PolicyInput[] = [];
    const onPath = new Set<string>();
    let current: PolicyInput | undefined = policy;
    while (current && !done.has(current.id)) {
      if (onPath.has(current.id)) {
        const start = path.findIndex((p) => p.id === current!.id);
        const cycle = [...path.slice(start), current].map((p) => `"${p.name}"`).join(' → ');
        throw new Error(`policy cycle: ${cycle}`);
      }
      onPath.add(current.id);
      path.push(current);
      const parentId: string | null | undefined = current.parentId;
      if (parentId === null || parentId === undefined) break;
      const parent = byId.get(parentId);
      if (!parent) throw new Error(`policy "${current.name}" (${current.id}) names parent ${parentId}, which does not exist`);
      current = parent;
    }
    for (const p of path) done.add(p.id);
  }
}

/**
 * Validates the graph ({@link validatePolicyGraph}) and compiles every policy: globs to RegExps,
 * subjects, tags, providers and actions to Sets, conditions parsed and argument schemas compiled (ajv
 * validators are shared by identical schemas). A policy with `updatedAt` is compiled once per id and
 * stamp and reused by later calls. Throws an Error naming the policy and the bad value.
 */
export function compilePolicies(policies: readonly PolicyInput[]): CompiledPolicies {
  validatePolicyGraph(policies);
  const byId = indexById(policies);
  const parts = new Map<string, CompiledParts>();
  const partsOf = (policy: PolicyInput) => {
    let compiled = parts.get(policy.id);
    if (!compiled) parts.set(policy.id, (compiled = cachedParts(policy)));
    return compiled;
  };
  const compiled = policies.map((policy): CompiledPolicy => {
    const own = partsOf(policy);
    const conditions: CompiledPolicy['conditions'] = [{ from: null, compiled: own.own }];
    for (let parent = parentOf(policy, byId); parent; parent = parentOf(parent, byId)) {
      conditions.push({ from: `"${parent.name}"`, compiled: partsOf(parent).own });
    }
    return { input: policy, label: `"${policy.name}"`, parts: own, conditions };
  });
  return { kind: 'compiled-policies', policies: compiled };
}

/**
 * Decides a request. A policy matches when its subjects, resources and actions match; it applies when
 * it matches, is active, and its own and inherited conditions hold. The applying policy with the
 * highest priority decides, deny winning ties; with none, or with no allow, the answer is deny.
 * Throws what {@link compilePolicies} throws when given uncompiled policies.
 */
export function decide(policies: readonly PolicyInput[] | CompiledPolicies, request: AccessRequest): AccessDecision {
  const compiled = isCompiled(policies) ? policies : compilePolicies(policies);
  const context: ConditionContext = {
    at: request.at ?? new Date(),
    sourceIp: request.sourceIp,
    source: request.sourceIp === undefined ? null : parseAddress(request.sourceIp),
    arguments: request.arguments,
    localTimes: new Map(),
  };
  const roles = request.principal.roles;
  const evaluations: PolicyEvaluation[] = [];
  const applied: CompiledPolicy[] = [];
  let decider: CompiledPolicy | null = null;
  for (const policy of compiled.policies) {
    const input = policy.input;
    const reasons: string[] = [];
    const evaluation: PolicyEvaluation = { policyId: input.id, name: input.name, matched: false, applied: false, reasons };
    evaluations.push(evaluation);
    if (!input.active) {
      reasons.push('inactive: ignored');
      continue;
    }
    const subject = matchSubject(policy.parts, request.principal.id, roles, reasons);
    const resource = matchResource(policy.parts, request.tool, reasons);
    const action = policy.parts.actions.has(request.action);
    reasons.push(action ? `action: ${request.action} is covered` : `action: ${request.action} not in [${policy.parts.actionsText}]`);
    if (!(subject && resource && action)) continue;
    evaluation.matched = true;
    let holds = true;
    for (const { from, compiled: conditions } of policy.conditions) {
      // Evaluate all of them (no short-circuit) so the explanation is complete.
      holds = evaluateConditions(conditions, context, input.effect, from, reasons) && holds;
    }
    if (!holds) continue;
    evaluation.applied = true;
    applied.push(policy);
    if (
      decider === null ||
      input.priority > decider.input.priority ||
      (input.priority === decider.input.priority && input.effect === 'deny' && decider.input.effect === 'allow')
    ) {
      decider = policy;
    }
  }
  if (decider === null) {
    return { allowed: false, decidingPolicy: null, limits: [], evaluations, reason: 'denied: no policy applies (default deny)' };
  }
  const d = decider.input;
  const decidingPolicy = { id: d.id, name: d.name, effect: d.effect, priority: d.priority };
  if (d.effect === 'deny') {
    return { allowed: false, decidingPolicy, limits: [], evaluations, reason: `denied by ${decider.label} (deny, priority ${d.priority})` };
  }
  const limits: AppliedLimits[] = [];
  for (const policy of applied) {
    const { effect, limits: own, id } = policy.input;
    if (effect !== 'allow' || !own || (own.rate === undefined && own.quota === undefined)) continue;
    limits.push({ policyId: id, ...(own.rate ? { rate: own.rate } : {}), ...(own.quota ? { quota: own.quota } : {}) });
  }
  return { allowed: true, decidingPolicy, limits, evaluations, reason: `allowed by ${decider.label} (allow, priority ${d.priority})` };
}

/** A policy that applies to a principal and action regardless of the tool, with the tool resources it covers. */
export interface ResourceRule {
  policyId: string;
  effect: PolicyEffectName;
  priority: number;
  /** Tool name globs, tags and provider names; null: any. */
  tools: readonly string[] | null;
  tags: readonly string[] | null;
  providers: readonly string[] | null;
}

/**
 * The active policies whose subjects, action and conditions hold for this principal, now, from this
 * address — everything {@link decide} checks except the tool. Argument constraints are not evaluated
 * (pass no arguments). A catalog filter is built from these: a tool is readable when the highest-priority
 * rule covering it is an allow (deny winning ties), exactly as `decide` would answer for it.
 */
export function applicableRules(policies: readonly PolicyInput[] | CompiledPolicies, request: Omit<AccessRequest, 'tool' | 'arguments'>): ResourceRule[] {
  const compiled = isCompiled(policies) ? policies : compilePolicies(policies);
  const context: ConditionContext = {
    at: request.at ?? new Date(),
    sourceIp: request.sourceIp,
    source: request.sourceIp === undefined ? null : parseAddress(request.sourceIp),
    arguments: undefined,
    localTimes: new Map(),
  };
  const rules: ResourceRule[] = [];
  const reasons: string[] = [];
  for (const policy of compiled.policies) {
    const { input, parts } = policy;
    reasons.length = 0;
    if (!input.active || !parts.actions.has(request.action)) continue;
    if (!matchSubject(parts, request.principal.id, request.principal.roles, reasons)) continue;
    if (!policy.conditions.every(({ from, compiled: conditions }) => evaluateConditions(conditions, context, input.effect, from, reasons))) continue;
    rules.push({
      policyId: input.id,
      effect: input.effect,
      priority: input.priority,
      tools: parts.tools ? parts.tools.map((t) => t.glob) : null,
      tags: parts.tags ? [...parts.tags] : null,
      providers: parts.providers ? [...parts.providers] : null,
    });
  }
  return rules;
}

const partsCache = new Map<string, { stamp: number; parts: CompiledParts }>();

function cachedParts(policy: PolicyInput): CompiledParts {
  const stamp = policy.updatedAt?.getTime();
  if (stamp === undefined || Number.isNaN(stamp)) return compileParts(policy);
  const hit = partsCache.get(policy.id);
  if (hit && hit.stamp === stamp) return hit.parts;
  const parts = compileParts(policy);
  if (partsCache.size >= 10_000) partsCache.clear();
  partsCache.set(policy.id, { stamp, parts });
  return parts;
}

function compileParts(policy: PolicyInput): CompiledParts {
  const { subjects = {}, resources = {} } = policy;
  const principals = nonEmptySet(subjects.principals);
  const roles = nonEmptySet(subjects.roles);
  const tools = resources.tools?.length ? resources.tools.map((glob) => ({ glob, pattern: globPattern(glob) })) : null;
  const tags = nonEmptySet(resources.tags);
  const providers = nonEmptySet(resources.providers);
  const subjectsText = [
    ...(principals ? [`principals [${[...principals].join(', ')}]`] : []),
    ...(roles ? [`roles [${[...roles].join(', ')}]`] : []),
  ].join(' or ');
  return {
    principals,
    roles,
    tools,
    tags,
    providers,
    actions: new Set(policy.actions),
    own: compileConditions(policy.conditions ?? {}, `"${policy.name}"`),
    subjectsText,
    toolsText: tools ? tools.map((t) => t.glob).join(', ') : '',
    tagsText: tags ? [...tags].join(', ') : '',
    providersText: providers ? [...providers].join(', ') : '',
    actionsText: policy.actions.join(', '),
  };
}

function matchSubject(policy: CompiledParts, principalId: string, roles: readonly string[], reasons: string[]): boolean {
  if (policy.principals === null && policy.roles === null) {
    reasons.push('subject: any principal');
    return true;
  }
  if (policy.principals?.has(principalId)) {
    reasons.push(`subject: principal ${principalId} matches`);
    return true;
  }
  if (policy.roles) {
    for (const role of roles) {
      if (policy.roles.has(role)) {
        reasons.push(`subject: role ${role} matches`);
        return true;
      }
    }
  }
  reasons.push(`subject: principal ${principalId} with roles [${roles.join(', ')}] is not among ${policy.subjectsText}`);
  return false;
}

function matchResource(policy: CompiledParts, tool: AccessRequest['tool'], reasons: string[]): boolean {
  let matches = true;
  if (policy.tools) {
    const hit = policy.tools.find(({ pattern }) => pattern.test(tool.name));
    reasons.push(
      hit
        ? `resource: tool ${tool.name} matches ${hit.glob}`
        : `resource: tool ${tool.name} matches none of [${policy.toolsText}]`,
    );
    matches &&= hit !== undefined;
  }
  if (policy.tags) {
    const hit = tool.tags.find((tag) => policy.tags!.has(tag));
    reasons.push(hit !== undefined ? `resource: tag ${hit} matches` : `resource: tags [${tool.tags.join(', ')}] include none of [${policy.tagsText}]`);
    matches &&= hit !== undefined;
  }
  if (policy.providers) {
    const hit = policy.providers.has(tool.provider);
    reasons.push(hit ? `resource: provider ${tool.provider} matches` : `resource: provider ${tool.provider} not in [${policy.providersText}]`);
    matches &&= hit;
  }
  if (!policy.tools && !policy.tags && !policy.providers) reasons.push('resource: any tool');
  return matches;
}

/**
 * Whether policy resources single out this provider: they list it among `providers`, or a tool glob
 * other than a match-all (`*`, `**`) begins with `provider.` or matches one of `toolNames`. These are
 * the policies that would apply to whoever registers the name next.
 */
export function resourcesName(resources: PolicyResources, provider: string, toolNames: readonly string[]): boolean {
  if (resources.providers?.includes(provider)) return true;
  return (resources.tools ?? []).some(
    (glob) => !/^\*+$/.test(glob) && (glob.startsWith(`${provider}.`) || toolNames.some((name) => globPattern(glob).test(name))),
  );
}

const globs = new Map<string, RegExp>();

/** `*` matches any run of characters (dots included), `?` one character; everything else literally; case-sensitive. */
function globPattern(glob: string): RegExp {
  let pattern = globs.get(glob);
  if (!pattern) {
    const source = glob.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
    pattern = new RegExp(`^${source}$`, 's');
    if (globs.size >= 10_000) globs.clear();
    globs.set(glob, pattern);
  }
  return pattern;
}

function nonEmptySet(values: readonly string[] | undefined): ReadonlySet<string> | null {
  return values?.length ? new Set(values) : null;
}

function indexById(policies: readonly PolicyInput[]): Map<string, PolicyInput> {
  const byId = new Map<string, PolicyInput>();
  for (const policy of policies) {
    if (byId.has(policy.id)) throw new Error(`policy id ${policy.id} appears twice`);
    byId.set(policy.id, policy);
  }
  return byId;
}

function parentOf(policy: PolicyInput, byId: ReadonlyMap<string, PolicyInput>): PolicyInput | undefined {
  return policy.parentId === null || policy.parentId === undefined ? undefined : byId.get(policy.parentId);
}

function isCompiled(policies: readonly PolicyInput[] | CompiledPolicies): policies is CompiledPolicies {
  return !Array.isArray(policies);
}
