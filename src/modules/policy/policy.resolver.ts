import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Policy, PolicyAction } from './policy.entity.js';
import {
  AccessExplanationNode,
  DeletePolicyInput,
  PolicyConnection,
  PolicyFieldsInput,
  PolicyNode,
  PolicyPayload,
  UpdatePolicyInput,
} from './policy.types.js';
import { type PolicyFields } from './policy.service.js';

@Resolver(() => PolicyNode)
export class PolicyResolver {
  @Query(() => PolicyNode, { nullable: true, description: 'The policy with this id (policies:write).' })
  policy(@Arg('id', () => ID) id: string, @Ctx() ctx: RegistryContext): Promise<Policy | null> {
    return ctx.policies.findById(id);
  }

  @Query(() => PolicyConnection, { description: 'Every policy, highest priority first (policies:write).' })
  policies(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<Policy>> {
    return ctx.policies.list({ first, after });
  }

  @Query(() => AccessExplanationNode, {
    description:
      'Would this principal (default: the caller) be allowed this action on this tool, with these arguments, now and from the ' +
      "caller's address (or `sourceIp`)? Names the deciding policy and why each policy matched or not. Admins may ask for " +
      'any principal, others only for themselves.',
  })
  async explainAccess(
    @Arg('tool') toolName: string,
    @Arg('action', () => PolicyAction) action: PolicyAction,
    @Arg('arguments', () => GraphQLJSON, { nullable: true }) args: Record<string, unknown> | null,
    @Arg('principal', () => ID, { nullable: true }) principalId: string | null,
    @Arg('sourceIp', () => String, { nullable: true }) sourceIp: string | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<AccessExplanationNode> {
    const viewer = ctx.viewer!;
    const asked = principalId ?? viewer.principalId;
    if (asked !== viewer.principalId && !viewer.isAdmin) {
      throw new RegistryError(ErrorCode.FORBIDDEN, 'Only an admin may ask about another principal');
    }
    if (args !== null && (typeof args !== 'object' || Array.isArray(args))) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`arguments` must be a JSON object', { argument: 'arguments' });
    }
    const principal = await ctx.principals.findById(asked);
    if (!principal) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such principal', { argument: 'principal' });
    // A tool the caller may not read does not exist for them.
    const tool = await ctx.tools.findReadableByName(toolName);
    if (!tool) throw new RegistryError(ErrorCode.NOT_FOUND, `No tool named ${toolName}`, { argument: 'tool' });
    const provider = await ctx.providers.load(tool.provider.id);
    const decision = await ctx.policies.decide({
      principal: { id: principal.id, roles: principal.roles },
      action,
      tool: { name: tool.name, tags: tool.tags, provider: provider?.name ?? '' },
      arguments: args ?? (action === PolicyAction.EXECUTE ? {} : undefined),
      sourceIp: sourceIp ?? ctx.sourceIp,
    });
    const deciding = decision.decidingPolicy ? await ctx.policies.findById(decision.decidingPolicy.id) : null;
    return { allowed: decision.allowed, reason: decision.reason, decidingPolicy: deciding, evaluations: decision.evaluations };
  }

  @Mutation(() => PolicyPayload, { description: 'Creates a policy (policies:write).' })
  createPolicy(@Arg('input') input: PolicyFieldsInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(async () => ({ policy: await ctx.policies.create(input as PolicyFields, ctx.actor) }));
  }

  @Mutation(() => PolicyPayload, { description: "Replaces a policy's fields (policies:write)." })
  updatePolicy(@Arg('input') input: UpdatePolicyInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(async () => ({ policy: await ctx.policies.update(input.id, input.policy as PolicyFields, ctx.actor) }));
  }

  @Mutation(() => PolicyPayload, { description: 'Deletes a policy no other policy inherits from (policies:write).' })
  deletePolicy(@Arg('input') input: DeletePolicyInput, @Ctx() ctx: RegistryContext) {
    return withUserErrors(async () => ({ policy: await ctx.policies.delete(input.id, ctx.actor) }));
  }
}
