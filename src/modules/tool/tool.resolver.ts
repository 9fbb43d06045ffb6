import { type GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, Info, Int, Mutation, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { withUserErrors } from '../../common/user-errors.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.types.js';
import { ProviderNode } from '../provider/provider.types.js';
import { CallTemplateType, type Provider } from '../provider/provider.entity.js';
import { type Tool, ToolStatus } from './tool.entity.js';
import { type ToolVersion } from './tool-version.entity.js';
import { projectionOf } from './tool.projection.js';
import { callTemplateTypeOf, joinedProvider } from './tool.service.js';
import {
  ApproveToolVersionInput,
  CatalogChangeNode,
  SetToolEnabledInput,
  ToolConnection,
  ToolFilter,
  ToolNode,
  ToolPayload,
  ToolVersionNode,
} from './tool.types.js';

/**
 * Administering a tool needs, besides the mutation's scope and ownership, an `admin` policy decision
 * on it. Throws POLICY_DENIED (audited) naming the decision; an unknown tool is left to the service (NOT_FOUND).
 */
async function assertAdministers(ctx: RegistryContext, toolId: string, field: string): Promise<void> {
  const tool = await ctx.tools.findById(toolId);
  if (!tool) return;
  const provider = await ctx.providers.load(tool.provider.id);
  const viewer = ctx.viewer!;
  const decision = await ctx.policies.decide({
    principal: { id: viewer.principalId, roles: viewer.roles },
    action: 'admin',
    tool: { name: tool.name, tags: tool.tags, provider: provider?.name ?? '' },
    sourceIp: ctx.sourceIp,
  });
  if (decision.allowed) return;
  await ctx.recordDenial(field, ErrorCode.POLICY_DENIED);
  throw new RegistryError(ErrorCode.POLICY_DENIED, `Administering ${tool.name} is not allowed: ${decision.reason}`);
}

/**
 * Every catalog change the subscriber may read, as it is committed on any replica. Each batch is
 * checked against the subscriber's current `read` policies with fresh services, so a policy change
 * applies to open subscriptions too.
 */
async function* catalogChanges({ context: ctx }: SubscribeResolverData<unknown, object, RegistryContext>): AsyncGenerator<CatalogChangeNode> {
  const stop = new AbortController();
  try {
    const batches = await ctx.catalogEvents.listen(stop.signal);
    for await (const batch of batches) {
      ctx.refresh();
      const readable = new Map((await ctx.tools.findReadableByNames(batch.map((change) => change.tool))).map((tool) => [tool.name, tool]));
      for (const change of batch) {
        const tool = readable.get(change.tool);
        if (tool) yield { kind: change.kind, toolName: tool.name, tool: tool as unknown as ToolNode };
      }
    }
  } finally {
    stop.abort();
  }
}

@Resolver(() => ToolNode)
export class ToolResolver {
  @Query(() => ToolNode, { nullable: true, description: 'The tool with this name (`provider.tool`), if any.' })
  tool(@Arg('name') name: string, @Ctx() ctx: RegistryContext): Promise<Tool | null> {
    return ctx.tools.findReadableByName(name);
  }

  @Query(() => ToolConnection, { description: 'The catalog, a page at a time (at most 100 per page).' })
  tools(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => ToolFilter, { nullable: true }) filter: ToolFilter | null,
    @Ctx() ctx: RegistryContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Page<Tool>> {
    return ctx.tools.list({ first, after, filter, projection: projectionOf(info) });
  }

  @Subscription(() => CatalogChangeNode, {
    description: 'Tools added, changed, quarantined or removed, on any replica, as far as the caller may read them (tools:read).',
    subscribe: catalogChanges as never,
  })
  catalogChanged(@Root() change: CatalogChangeNode): CatalogChangeNode {
    return change;
  }

  @FieldResolver(() => CallTemplateType, { description: 'The protocol the registry uses to call this tool.' })
  callTemplateType(@Root() tool: Tool): CallTemplateType {
    return callTemplateTypeOf(tool);
  }

  @FieldResolver(() => Boolean, { description: 'A changed definition awaits approval; the tool may not be called.' })
  quarantined(@Root() tool: Tool): boolean {
    return tool.status === ToolStatus.QUARANTINED;
  }

  @FieldResolver(() => [ToolVersionNode], { description: 'Every definition the tool has had, newest first.' })
  versions(@Root() tool: Tool, @Ctx() ctx: RegistryContext): Promise<ToolVersion[]> {
    return ctx.tools.versionsOf(tool.id);
  }

  @Mutation(() => ToolPayload, { description: 'Releases a quarantined tool’s pending version (admin, and an `admin` policy on the tool).' })
  async approveToolVersion(@Arg('input') input: ApproveToolVersionInput, @Ctx() ctx: RegistryContext) {
    await assertAdministers(ctx, input.toolId, 'Mutation.approveToolVersion');
    return withUserErrors(async () => ({ tool: await ctx.registration.approveToolVersion(input.toolId, input.version, ctx.actor) }));
  }

  @Mutation(() => ToolPayload, { description: 'Enables or disables a tool (its provider’s owner, or an admin; and an `admin` policy on the tool).' })
  async setToolEnabled(@Arg('input') input: SetToolEnabledInput, @Ctx() ctx: RegistryContext) {
    await assertAdministers(ctx, input.toolId, 'Mutation.setToolEnabled');
    return withUserErrors(async () => ({
      tool: await ctx.registration.setToolEnabled(input.toolId, input.enabled, ctx.viewer, ctx.actor),
    }));
  }

  /**
   * From the listing's own query when the tool came from one (synchronously, so a page's tools
   * complete without a promise each), else batched by id.
   */
  @FieldResolver(() => ProviderNode)
  provider(@Root() tool: Tool, @Ctx() ctx: RegistryContext): Provider | Promise<Provider> {
    return joinedProvider(tool) ?? ctx.providers.load(tool.provider.id).then((provider) => {
      if (!provider) throw new Error(`Tool ${tool.id} refers to a missing provider`);
      return provider;
    });
  }
}
