import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { UserError } from '../../common/user-error.types.js';
import { PolicyAction, type PolicyDay, PolicyEffect } from './policy.entity.js';

registerEnumType(PolicyEffect, { name: 'PolicyEffect' });
registerEnumType(PolicyAction, { name: 'PolicyAction', description: 'What a policy governs: seeing a tool, calling it, or administering it.' });

export enum QuotaPeriod {
  DAY = 'day',
  MONTH = 'month',
}
registerEnumType(QuotaPeriod, { name: 'QuotaPeriod' });

@ObjectType('PolicySubjects', { description: 'Principal ids and role names; either matches. Both empty: everyone.' })
@InputType('PolicySubjectsInput')
export class PolicySubjectsNode {
  @Field(() => [ID], { nullable: true })
  principals?: string[];

  @Field(() => [String], { nullable: true })
  roles?: string[];
}

@ObjectType('PolicyResources', { description: 'Tool name globs (`github.*`), tags and provider names; each given kind must match.' })
@InputType('PolicyResourcesInput')
export class PolicyResourcesNode {
  @Field(() => [String], { nullable: true })
  tools?: string[];

  @Field(() => [String], { nullable: true })
  tags?: string[];

  @Field(() => [String], { nullable: true })
  providers?: string[];
}

@ObjectType('PolicyTimeWindow', { description: 'A weekly window: days, "HH:MM" from (inclusive) and to (exclusive), in an IANA time zone.' })
@InputType('PolicyTimeWindowInput')
export class PolicyTimeWindowNode {
  @Field(() => [String], { nullable: true, description: 'Day names or their three-letter abbreviations (sunday, mon). Absent: every day.' })
  days?: PolicyDay[];

  @Field(() => String, { nullable: true })
  from?: string;

  @Field(() => String, { nullable: true })
  to?: string;

  @Field()
  timeZone!: string;
}

@ObjectType('PolicyConditions', { description: 'When the policy applies; every given condition must hold.' })
@InputType('PolicyConditionsInput')
export class PolicyConditionsNode {
  @Field(() => [PolicyTimeWindowNode], { nullable: true })
  timeWindows?: PolicyTimeWindowNode[];

  @Field(() => [String], { nullable: true, description: 'Client address in any of these CIDRs.' })
  sourceCidrs?: string[];

  @Field(() => GraphQLJSON, { nullable: true, description: "A JSON Schema the call's arguments must satisfy." })
  arguments?: Record<string, unknown>;
}

@ObjectType('PolicyRateLimit')
@InputType('PolicyRateLimitInput')
export class PolicyRateLimitNode {
  @Field(() => Int)
  calls!: number;

  @Field(() => Int)
  windowSeconds!: number;
}

@ObjectType('PolicyQuota')
@InputType('PolicyQuotaInput')
export class PolicyQuotaNode {
  @Field(() => Int)
  calls!: number;

  @Field(() => QuotaPeriod)
  period!: `${QuotaPeriod}`;
}

@ObjectType('PolicyLimits', { description: 'Calls per principal and tool: a rate per window and a quota per day or month.' })
@InputType('PolicyLimitsInput')
export class PolicyLimitsNode {
  @Field(() => PolicyRateLimitNode, { nullable: true })
  rate?: PolicyRateLimitNode;

  @Field(() => PolicyQuotaNode, { nullable: true })
  quota?: PolicyQuotaNode;
}

@ObjectType('Policy', { description: 'An access rule: the highest priority applying policy decides, deny wins ties.' })
export class PolicyNode {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field()
  description!: string;

  @Field(() => PolicyEffect)
  effect!: PolicyEffect;

  @Field(() => Int)
  priority!: number;

  @Field(() => PolicySubjectsNode)
  subjects!: PolicySubjectsNode;

  @Field(() => PolicyResourcesNode)
  resources!: PolicyResourcesNode;

  @Field(() => [PolicyAction])
  actions!: PolicyAction[];

  @Field(() => PolicyConditionsNode)
  conditions!: PolicyConditionsNode;

  @Field(() => PolicyLimitsNode)
  limits!: PolicyLimitsNode;

  @Field()
  active!: boolean;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

export const { Connection: PolicyConnection, ConnectionResolver: PolicyConnectionResolver } = connectionTypes(PolicyNode, 'Policy');

@InputType('PolicyInput', { description: 'Every field of a policy; an update replaces them all.' })
export class PolicyFieldsInput {
  @Field()
  name!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => PolicyEffect)
  effect!: PolicyEffect;

  @Field(() => Int, { nullable: true, description: 'Higher wins; default 0.' })
  priority?: number | null;

  @Field(() => ID, { nullable: true, description: 'A policy whose conditions this one inherits.' })
  parentId?: string | null;

  @Field(() => PolicySubjectsNode, { nullable: true })
  subjects?: PolicySubjectsNode | null;

  @Field(() => PolicyResourcesNode, { nullable: true })
  resources?: PolicyResourcesNode | null;

  @Field(() => [PolicyAction])
  actions!: PolicyAction[];

  @Field(() => PolicyConditionsNode, { nullable: true })
  conditions?: PolicyConditionsNode | null;

  @Field(() => PolicyLimitsNode, { nullable: true })
  limits?: PolicyLimitsNode | null;

  @Field(() => Boolean, { nullable: true, description: 'Default true.' })
  active?: boolean | null;
}

@InputType('UpdatePolicyInput')
export class UpdatePolicyInput {
  @Field(() => ID)
  id!: string;

  @Field(() => PolicyFieldsInput)
  policy!: PolicyFieldsInput;
}

@InputType('DeletePolicyInput')
export class DeletePolicyInput {
  @Field(() => ID)
  id!: string;
}

@ObjectType('PolicyPayload')
export class PolicyPayload {
  @Field(() => PolicyNode, { nullable: true })
  policy?: PolicyNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType('PolicyEvaluation', { description: 'How one policy fared: whether it matched (subjects, resources, action), applied (conditions held), and why.' })
export class PolicyEvaluationNode {
  @Field(() => ID)
  policyId!: string;

  @Field()
  name!: string;

  @Field()
  matched!: boolean;

  @Field()
  applied!: boolean;

  @Field(() => [String])
  reasons!: string[];
}

@ObjectType('AccessExplanation')
export class AccessExplanationNode {
  @Field()
  allowed!: boolean;

  @Field({ description: 'One sentence: the outcome and the policy that decided it.' })
  reason!: string;

  @Field(() => PolicyNode, { nullable: true, description: 'The policy that decided; null under the default deny.' })
  decidingPolicy?: PolicyNode | null;

  @Field(() => [PolicyEvaluationNode], { description: 'Every policy considered, highest priority first.' })
  evaluations!: PolicyEvaluationNode[];

}
