import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.js';
import { type AuditEntry } from './audit-entry.entity.js';
import { type AuditVerification } from './audit.service.js';
import { AuditEntryConnection, AuditLogFilter, AuditVerificationNode } from './audit.types.js';

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

  @Query(() => AuditVerificationNode, { description: 'Recomputes the hash chain and names the first broken entry (admin).' })
  verifyAuditLog(@Ctx() ctx: RegistryContext): Promise<AuditVerification> {
    return ctx.audit.verify();
  }
}
