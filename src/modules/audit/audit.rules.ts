import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading the log needs `audit:read`; verifying it is an admin's job. */
export const auditRules = {
  Query: { auditLog: requireScope(Scope.AUDIT_READ), verifyAuditLog: requireScope(Scope.ADMIN) },
  AuditEntry: allow,
  AuditEntryConnection: allow,
  AuditEntryEdge: allow,
  AuditVerification: allow,
};
