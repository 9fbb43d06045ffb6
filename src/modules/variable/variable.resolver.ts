import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
import { type Provider } from '../provider/provider.entity.js';
import { ProviderNode } from '../provider/provider.types.js';
import { ProviderVariableService } from './variable.service.js';
import { ProviderVariableNode, SetProviderVariablesInput, SetProviderVariablesPayload } from './variable.types.js';

/** `setProviderVariables`, and a provider's `variables` and `missingVariables` (its owner or an admin; others see none). */
@Resolver(() => ProviderNode)
export class ProviderVariableResolver {
  @Mutation(() => SetProviderVariablesPayload, {
    description: 'Sets and removes values of the variables a provider’s manual refers to; secret ones go into the vault (owner or admin).',
  })
  async setProviderVariables(@Arg('input') input: SetProviderVariablesInput, @Ctx() ctx: RegistryContext) {
    const result = await withUserErrors(async () => {
      const { provider, variables } = await ctx.variables.set(input, ctx.viewer, ctx.actor);
      return { provider, variables: variables.map((v) => ctx.variables.view(v)) };
    });
    // A dotted field (`variables.0.value`) is a path.
    return { ...result, userErrors: result.userErrors.map((e) => ({ ...e, field: e.field.flatMap((f) => f.split('.')) })) };
  }

  @FieldResolver(() => [ProviderVariableNode], {
    description: 'The values set for the manual’s variables, secret ones without their value (providers:write; empty unless owner or admin).',
  })
  async variables(@Root() provider: Provider, @Ctx() ctx: RegistryContext): Promise<ProviderVariableNode[]> {
    if (!ProviderVariableService.manages(ctx.viewer, provider)) return [];
    return (await ctx.variables.list(provider.id)).map((v) => ctx.variables.view(v));
  }

  @FieldResolver(() => [String], {
    description: 'Variables its tools refer to that no variable or credential provides yet: calls of those tools fail with VARIABLE_MISSING (providers:write; empty unless owner or admin).',
  })
  async missingVariables(@Root() provider: Provider, @Ctx() ctx: RegistryContext): Promise<string[]> {
    if (!ProviderVariableService.manages(ctx.viewer, provider)) return [];
    return ctx.variables.missing(provider.id);
  }
}
