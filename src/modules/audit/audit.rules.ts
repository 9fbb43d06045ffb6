import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading the log and exporting its checkpoints needs `audit:read`; verifying it and taking a checkpoint is an admin's job. */
export const auditRules = {
  Query: { auditLog: requireScope(Scope.AUDIT_READ), auditEntry: requireScope(Scope.AUDIT_READ), auditCheckpoints: requireScope(Scope.AUDIT_READ), verifyAuditLog: requireScope(Scope.ADMIN) },
  Mutation: { createAuditCheckpoint: requireScope(Scope.ADMIN) },
  AuditCheckpoint: allow,
  AuditCheckpointConnection: allow,
  AuditCheckpointEdge: allow,
  CreateAuditCheckpointPayload: allow,
  AuditProblem: allow,
  AuditEntry: allow,
  AuditEntryConnection: allow,
  AuditEntryEdge: allow,
  AuditVerification: allow,
};
