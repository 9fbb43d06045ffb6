import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading and writing policies needs `policies:write`; anyone who reads the catalog may ask for an explanation of their own access. */
export const policyRules = {
  Query: {
    policy: requireScope(Scope.POLICIES_WRITE),
    policies: requireScope(Scope.POLICIES_WRITE),
    explainAccess: requireScope(Scope.TOOLS_READ),
  },
  Mutation: {
    createPolicy: requireScope(Scope.POLICIES_WRITE),
    updatePolicy: requireScope(Scope.POLICIES_WRITE),
    deletePolicy: requireScope(Scope.POLICIES_WRITE),
  },
  Policy: allow,
  PolicySubjects: allow,
  PolicyResources: allow,
  PolicyTimeWindow: allow,
  PolicyConditions: allow,
  PolicyRateLimit: allow,
  PolicyQuota: allow,
  PolicyLimits: allow,
  PolicyConnection: allow,
  PolicyEdge: allow,
  PolicyPayload: allow,
  PolicyEvaluation: allow,
  AccessExplanation: allow,
};
