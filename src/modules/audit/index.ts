export { AuditEntry, AuditOutcome } from './audit-entry.entity.js';
export {
  AuditService,
  GENESIS_HASH,
  type AuditLogFilterInput,
  type AuditRecord,
  type AuditVerification,
} from './audit.service.js';
export { AuditEntryConnectionResolver, AuditResolver } from './audit.resolver.js';
export { auditRules } from './audit.rules.js';
