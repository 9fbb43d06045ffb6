import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
import { type AuditCheckpoint } from './audit-checkpoint.entity.js';
import { type AuditEntry } from './audit-entry.entity.js';
import { type AuditVerification } from './audit.service.js';
import {
  AuditCheckpointConnection,
  AuditEntryConnection,
  AuditEntryNode,
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

  @Query(() => AuditEntryNode, { nullable: true, description: 'The entry with this sequence number (audit:read).' })
  auditEntry(@Arg('seq', () => ID) seq: string, @Ctx() ctx: RegistryContext): Promise<AuditEntry | null> {
    return ctx.audit.findBySeq(seq);
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

/** Names for an entry's ids, so people read who did what to what. */
@Resolver(() => AuditEntryNode)
export class AuditEntryResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The name of the principal that acted; null for the registry itself or a principal since deleted.' })
  async actorName(@Root() entry: AuditEntry, @Ctx() ctx: RegistryContext): Promise<string | null> {
    return entry.actorId ? ((await ctx.principals.findById(entry.actorId))?.name ?? null) : null;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'The name of the target when it is a tool, provider, policy or principal that still exists (a tool call names its tool even after); else null.',
  })
  async targetName(@Root() entry: AuditEntry, @Ctx() ctx: RegistryContext): Promise<string | null> {
    const id = entry.targetId;
    const recorded = typeof entry.details?.tool === 'string' ? entry.details.tool : null;
    if (!id) return null;
    switch (entry.targetType) {
      case 'tool':
        return (await ctx.tools.findById(id))?.name ?? recorded;
      case 'provider':
        return (await ctx.providers.load(id))?.name ?? null;
      case 'policy':
        return (await ctx.policies.findById(id))?.name ?? null;
      case 'principal':
        return (await ctx.principals.findById(id))?.name ?? null;
      default:
        return null;
    }
  }
}
