import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.js';
import { type Tool } from '../tool/tool.entity.js';
import { ToolConnection, ToolFilter } from '../tool/tool.types.js';
import { type Provider } from './provider.entity.js';
import { ProviderConnection, ProviderNode } from './provider.types.js';

@Resolver(() => ProviderNode)
export class ProviderResolver {
  @Query(() => ProviderNode, { nullable: true })
  provider(@Arg('id', () => ID) id: string, @Ctx() ctx: RegistryContext): Promise<Provider | null> {
    return ctx.providers.load(id);
  }

  @Query(() => ProviderConnection, { description: 'Providers ordered by name, a page at a time.' })
  providers(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<Provider>> {
    return ctx.providers.list({ first, after });
  }

  @FieldResolver(() => ToolConnection, { description: "This provider's tools." })
  tools(
    @Root() provider: Provider,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => ToolFilter, { nullable: true }) filter: ToolFilter | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<Tool>> {
    return ctx.tools.list({ first, after, filter: { ...filter, provider: provider.name } });
  }
}
