import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Principal } from './principal.entity.js';
import {
  CreatePrincipalInput,
  MeNode,
  RateLimitNode,
  PrincipalConnection,
  PrincipalFilter,
  PrincipalIdInput,
  PrincipalSecretPayload,
  RevokeTokensPayload,
  SetPrincipalStatusInput,
  SetPrincipalStatusPayload,
} from './principal.types.js';

@Resolver()
export class PrincipalResolver {
  @Query(() => MeNode, { description: 'The caller.' })
  async me(@Ctx() ctx: RegistryContext): Promise<MeNode> {
    const principal = ctx.viewer && (await ctx.principals.findById(ctx.viewer.principalId));
    if (!principal) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
    return { principal, scopes: [...ctx.viewer!.scopes].sort() };
  }

  @Query(() => RateLimitNode, { description: "The caller's hourly query budget after this operation was charged (the `x-ratelimit-*` headers, as data)." })
  async rateLimit(@Ctx() ctx: RegistryContext): Promise<RateLimitNode> {
    await ctx.usage.charging;
    const budget = ctx.usage.budget ?? (await ctx.peekBudget());
    if (!budget) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
    return { limit: budget.limit, cost: ctx.queryCharge ?? 1, remaining: budget.remaining, used: budget.used, resetAt: budget.resetAt };
  }

  @Query(() => PrincipalConnection, { description: 'Every principal, ordered by name, a page at a time (admin).' })
  principals(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => PrincipalFilter, { nullable: true }) filter: PrincipalFilter | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<Principal>> {
    return ctx.principals.list({ first, after, filter });
  }

  @Mutation(() => PrincipalSecretPayload, { description: 'Creates a principal with client credentials (admin).' })
  createPrincipal(@Arg('input') input: CreatePrincipalInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(() => ctx.principals.create(input, ctx.actor));
  }

  @Mutation(() => PrincipalSecretPayload, { description: "Replaces a principal's client secret (admin)." })
  rotatePrincipalSecret(@Arg('input') input: PrincipalIdInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(() => ctx.principals.rotateSecret(input.principalId, ctx.actor));
  }

  @Mutation(() => RevokeTokensPayload, {
    description: "Revokes all of a principal's tokens at once: an admin for anyone, others for themselves.",
  })
  revokeTokens(@Arg('input') input: PrincipalIdInput, @Ctx() ctx: RegistryContext) {
    const viewer = ctx.viewer!;
    if (!viewer.isAdmin && viewer.principalId !== input.principalId) {
      throw new RegistryError(ErrorCode.FORBIDDEN, "Only an admin may revoke another principal's tokens");
    }
    return withUserErrors(() => ctx.principals.revokeTokens(input.principalId, ctx.actor));
  }

  @Mutation(() => SetPrincipalStatusPayload, {
    description: 'Disables a principal (its tokens and client credentials are refused at once, on every replica) or enables it again (admin).',
  })
  setPrincipalStatus(@Arg('input') input: SetPrincipalStatusInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(() => ctx.principals.setStatus(input.principalId, input.status, ctx.actor));
  }
}
