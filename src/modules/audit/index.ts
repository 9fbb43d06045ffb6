export { AuditEntry, AuditOutcome } from './audit-entry.entity.js';
export { AuditService, GENESIS_HASH, type AuditRecord, type AuditVerification } from './audit.service.js';
