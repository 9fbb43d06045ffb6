import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
import { type AuditCheckpoint } from './audit-checkpoint.entity.js';
import { type AuditEntry } from './audit-entry.entity.js';
import { type AuditVerification } from './audit.service.js';
import {
  AuditCheckpointConnection,
  AuditEntryConnection,
  AuditLogFilter,
  AuditVerificationNode,
  CreateAuditCheckpointPayload,
} from './audit.types.js';

@Resolver()
export class AuditResolver {
  @Query(() => AuditEntryConnection, { description: 'The audit log, newest first (audit:read).' })
  auditLog(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => AuditLogFilter, { nullable: true }) filter: AuditLogFilter | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<AuditEntry>> {
    return ctx.audit.list({ first, after, filter });
  }

  @Query(() => AuditVerificationNode, {
    description:
      'Recomputes the hash chain and checks it against every stored checkpoint and, when given, a checkpoint JWS kept outside the database: names broken links, gaps, truncation and rewrites (admin).',
  })
  verifyAuditLog(
    @Arg('checkpoint', () => String, { nullable: true, description: 'A checkpoint JWS exported earlier (`AuditCheckpoint.jws`).' }) checkpoint: string | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<AuditVerification> {
    return ctx.audit.verify(undefined, { checkpoint });
  }

  @Query(() => AuditCheckpointConnection, { description: 'Signed checkpoints of the audit chain, newest first, to export (audit:read).' })
  auditCheckpoints(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<AuditCheckpoint>> {
    return ctx.audit.listCheckpoints({ first, after });
  }

  @Mutation(() => CreateAuditCheckpointPayload, { description: "Signs a checkpoint of the audit chain's head now, stores it and logs it (admin)." })
  createAuditCheckpoint(@Ctx() ctx: RegistryContext) {
    return withUserErrors(() => ctx.audit.createCheckpoint(ctx.actor));
  }
}
