export {
  Policy,
  PolicyAction,
  PolicyEffect,
  type PolicyConditions,
  type PolicyLimits,
  type PolicyResources,
  type PolicySubjects,
} from './policy.entity.js';
export {
  type AccessDecision,
  type AccessRequest,
  type AppliedLimits,
  type CompiledPolicies,
  type PolicyEvaluation,
  type PolicyInput,
  type ResourceRule,
  applicableRules,
  clientAddress,
  compilePolicies,
  decide,
  resourcesName,
  validatePolicyGraph,
} from './policy.engine.js';
export { type AccessCaller, callerOf, type PolicyFields, PolicyService } from './policy.service.js';
export { POLICY_TOPIC, PolicyCache } from './policy.cache.js';
export { PolicyResolver } from './policy.resolver.js';
export { PolicyConnectionResolver } from './policy.types.js';
export { policyRules } from './policy.rules.js';
