import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { withUserErrors } from '../../common/user-errors.js';
import { type RegistryContext } from '../../context.types.js';
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
import { viewerOf } from '../principal/principal.service.js';
import { type Tool, ToolStatus } from '../tool/index.js';

/** Why a tool refuses every call whatever the policies say, or null when it may be called. */
function unavailableBecause(tool: Tool): string | null {
  switch (tool.status) {
    case ToolStatus.QUARANTINED:
      return 'quarantined: a definition awaits an admin’s approval';
    case ToolStatus.REMOVED:
      return 'removed by its provider';
    case ToolStatus.ACTIVE:
      return tool.enabled ? null : 'disabled';
    default: {
      const never: never = tool.status;
      return never;
    }
  }
}

@Resolver(() => PolicyNode)
export class PolicyResolver {
  // Without it a client cannot read the parent back, and an update (which replaces every field) drops it.
  @FieldResolver(() => ID, { nullable: true, description: 'The policy whose conditions this one inherits.' })
  parentId(@Root() policy: Policy): string | null {
    return policy.parent?.id ?? null;
  }

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
    // An omitted argument arrives as undefined, not null.
    if (args !== null && args !== undefined && (typeof args !== 'object' || Array.isArray(args))) {
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
      // Reads are decided without arguments (the catalog cannot know them); only an execute question evaluates them.
      arguments: action === PolicyAction.EXECUTE ? (args ?? {}) : undefined,
      sourceIp: sourceIp ?? ctx.sourceIp,
    });
    const deciding = decision.decidingPolicy ? await ctx.policies.findById(decision.decidingPolicy.id) : null;
    const explanation = { allowed: decision.allowed, reason: decision.reason, decidingPolicy: deciding, evaluations: decision.evaluations };
    // Policies alone do not make a call possible: a quarantined, removed or disabled tool refuses every call.
    const unavailable = action === PolicyAction.EXECUTE ? unavailableBecause(tool) : null;
    if (decision.allowed && unavailable) return { ...explanation, allowed: false, reason: `denied: the tool is ${unavailable} (policies: ${decision.reason})` };
    // Calling needs seeing: a principal (other than an admin) that may not read the tool cannot call it.
    if (decision.allowed && action !== PolicyAction.READ && !viewerOf(principal).isAdmin) {
      const read = await ctx.policies.decide({
        principal: { id: principal.id, roles: principal.roles },
        action: PolicyAction.READ,
        tool: { name: tool.name, tags: tool.tags, provider: provider?.name ?? '' },
        sourceIp: sourceIp ?? ctx.sourceIp,
      });
      if (!read.allowed) return { ...explanation, allowed: false, reason: `denied: the principal may not read this tool (${read.reason})` };
    }
    return explanation;
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
