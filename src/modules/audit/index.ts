export { AuditEntry, AuditOutcome } from './audit-entry.entity.js';
export { AuditCheckpoint } from './audit-checkpoint.entity.js';
export { AuditCheckpointSigner, CHECKPOINT_TYP, type CheckpointClaims } from './audit.checkpoints.js';
export { AuditCheckpointer } from './audit.checkpointer.js';
export {
  auditActor,
  AuditService,
  type Actor,
  GENESIS_HASH,
  type AuditLogFilterInput,
  type AuditRecord,
  type AuditVerification,
  type AuditProblem,
  AuditProblemKind,
  type ExportedEntry,
  MAX_EXPORT_LIMIT,
} from './audit.service.js';
export { AuditEntryResolver, AuditResolver } from './audit.resolver.js';
export { AuditCheckpointConnectionResolver, AuditEntryConnectionResolver } from './audit.types.js';
export { auditRules } from './audit.rules.js';
