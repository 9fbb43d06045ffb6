import { type GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { withUserErrors } from '../../common/user-errors.js';
import { type ProviderChange } from './provider-registration.service.js';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.types.js';
import { type Tool } from '../tool/tool.entity.js';
import { projectionOf } from '../tool/tool.projection.js';
import { ToolConnection, ToolFilter } from '../tool/tool.types.js';
import { type Provider } from './provider.entity.js';
import {
  ProviderChangePayload,
  ProviderConnection,
  ProviderCredentialNode,
  ProviderIdInput,
  ProviderNode,
  ProviderPayload,
  RegisterProviderInput,
  ReleaseProviderNameInput,
  ReleaseProviderNamePayload,
  SetProviderTransportSecurityInput,
  TlsPinFailureNode,
} from './provider.types.js';

/** The payload of a registration or refresh; a failed refresh is a user error beside the provider. */
function changePayload(change: ProviderChange) {
  const { sync } = change;
  return {
    provider: change.provider,
    created: sync?.created ?? [],
    updated: sync?.updated ?? [],
    quarantined: sync?.quarantined ?? [],
    removed: sync?.removed ?? [],
    restored: sync?.restored ?? [],
    warnings: change.warnings,
    discoveryErrors: change.discoveryError
      ? [{ field: ['callTemplate'], message: change.discoveryError.message, code: change.discoveryError.code }]
      : [],
  };
}

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

  @Mutation(() => ProviderChangePayload, { description: 'Registers a provider and discovers its tools (providers:write).' })
  async registerProvider(@Arg('input') input: RegisterProviderInput, @Ctx() ctx: RegistryContext) {
    const result = await withUserErrors(async () => changePayload(await ctx.registration.register(input, ctx.actor)));
    return withDiscoveryErrors(result);
  }

  @Mutation(() => ProviderChangePayload, {
    description: 'Discovers the provider’s tools again; changed tools are quarantined (owner or admin).',
  })
  async refreshProvider(@Arg('input') input: ProviderIdInput, @Ctx() ctx: RegistryContext) {
    const result = await withUserErrors(async () => changePayload(await ctx.registration.refresh(input.id, ctx.viewer, ctx.actor)));
    return withDiscoveryErrors(result);
  }

  @Mutation(() => ProviderPayload, { description: 'Retires a provider: its tools are removed, its credentials deleted (owner or admin).' })
  removeProvider(@Arg('input') input: ProviderIdInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(async () => ({ provider: await ctx.registration.remove(input.id, ctx.viewer, ctx.actor) }));
  }

  @Mutation(() => ReleaseProviderNamePayload, {
    description:
      'Releases the name of a removed provider (admin). Until then only its former owner may register the name again; ' +
      'after it, the next registration replaces the old provider and its tools start quarantined.',
  })
  async releaseProviderName(@Arg('input') input: ReleaseProviderNameInput, @Ctx() ctx: RegistryContext) {
    return { policies: [], ...(await withUserErrors(() => ctx.registration.releaseName(input.name, ctx.viewer, ctx.actor))) };
  }

  @Mutation(() => ProviderPayload, {
    description: 'Sets a provider’s TLS pins and request signing (providers:write; owner or admin).',
  })
  setProviderTransportSecurity(@Arg('input') input: SetProviderTransportSecurityInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(async () => ({ provider: await ctx.registration.setTransportSecurity(input, ctx.viewer, ctx.actor) }));
  }

  @FieldResolver(() => TlsPinFailureNode, {
    nullable: true,
    description: 'The last connection (call or discovery) whose TLS chain held none of the pinned keys; cleared when the pins are set again.',
  })
  tlsPinFailure(@Root() provider: Provider): TlsPinFailureNode | null {
    return provider.tlsPinFailureAt && provider.tlsPinFailureHost ? { at: provider.tlsPinFailureAt, host: provider.tlsPinFailureHost } : null;
  }

  @FieldResolver(() => ProviderCredentialNode, { nullable: true, description: 'The stored auth, redacted (providers:write).' })
  async credential(@Root() provider: Provider, @Ctx() ctx: RegistryContext): Promise<ProviderCredentialNode | null> {
    // Another publisher's provider: as if it had none, like everything a caller may not see.
    if (!ctx.viewer || (!ctx.viewer.isAdmin && provider.owner?.id !== ctx.viewer.principalId)) return null;
    const stored = await ctx.providers.credentialOf(provider.id);
    if (!stored) return null;
    const view = ctx.credentials.redacted(stored);
    return {
      reference: view.reference,
      authType: view.authType,
      varName: typeof view.settings.var_name === 'string' ? view.settings.var_name : null,
      location: typeof view.settings.location === 'string' ? view.settings.location : null,
      hint: view.hint,
      createdAt: view.createdAt,
      rotatedAt: view.rotatedAt,
    };
  }

  @FieldResolver(() => ToolConnection, { description: "This provider's tools." })
  tools(
    @Root() provider: Provider,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => ToolFilter, { nullable: true }) filter: ToolFilter | null,
    @Ctx() ctx: RegistryContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Page<Tool>> {
    return ctx.tools.list({ first, after, filter: { ...filter, provider: provider.name }, projection: projectionOf(info) });
  }
}

/** Merges a failed discovery into the payload's user errors. */
function withDiscoveryErrors<T extends { userErrors: unknown[]; discoveryErrors?: unknown[] }>(result: T) {
  const { discoveryErrors = [], ...rest } = result;
  return { created: [], updated: [], quarantined: [], removed: [], restored: [], warnings: [], ...rest, userErrors: [...result.userErrors, ...discoveryErrors] };
}
