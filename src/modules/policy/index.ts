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
  clientAddress,
  compilePolicies,
  decide,
  validatePolicyGraph,
} from './policy.engine.js';
