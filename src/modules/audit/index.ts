export { AuditEntry, AuditOutcome } from './audit-entry.entity.js';
export {
  auditActor,
  AuditService,
  type Actor,
  GENESIS_HASH,
  type AuditLogFilterInput,
  type AuditRecord,
  type AuditVerification,
} from './audit.service.js';
export { AuditResolver } from './audit.resolver.js';
export { AuditEntryConnectionResolver } from './audit.types.js';
export { auditRules } from './audit.rules.js';
