import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading and following alerts needs `audit:read` (admins hold it); reading and tuning the rules is an admin's job. */
export const alertRules = {
  Query: { securityAlerts: requireScope(Scope.AUDIT_READ), alertRules: requireScope(Scope.ADMIN) },
  Mutation: { updateAlertRule: requireScope(Scope.ADMIN) },
  Subscription: { securityAlertRaised: requireScope(Scope.AUDIT_READ) },
  SecurityAlert: allow,
  SecurityAlertConnection: allow,
  SecurityAlertEdge: allow,
  AlertRule: allow,
  UpdateAlertRulePayload: allow,
};
