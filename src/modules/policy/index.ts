export {
  Policy,
  PolicyAction,
  PolicyEffect,
  type PolicyConditions,
  type PolicyLimits,
  type PolicyResources,
  type PolicySubjects,
} from './policy.entity.js';
