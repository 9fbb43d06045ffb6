import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { UserError } from '../../common/user-error.types.js';
import { AlertRuleName } from './alert.entity.js';

registerEnumType(AlertRuleName, {
  name: 'AlertRuleName',
  description: 'A behaviour the registry watches for (see README "Security alerts").',
  valuesConfig: {
    CALL_RATE: { description: 'Tool calls of one principal in a window, against its own usual rate once it has one.' },
    DENIAL_RATE: { description: 'Refusals of one principal (policy denials, limits, missing scopes, unknown tools) in a window, against its own usual rate once it has one.' },
    NEW_TOOLS: { description: 'Tools one principal called for the first time, in a window.' },
    OFF_HOURS: { description: 'Calls at an hour of the day (UTC) at which the principal has not been calling, in a window.' },
    AUTH_FAILURES: { description: 'Failed authentications per source address and per client id, in a window.' },
    SECRET_ARGUMENT: { description: 'Tool calls whose arguments carry a secret-shaped string (API key, JWT, private key, AWS key), in a window.' },
  },
});

/** An alert: a rule's threshold was reached in one of its windows (one alert per rule, subject and window). */
@ObjectType('SecurityAlert')
export class SecurityAlertNode {
  @Field(() => ID)
  id!: string;

  @Field(() => AlertRuleName)
  rule!: AlertRuleName;

  @Field({ description: 'Who: `principal:<id>`, `address:<ip>` or `client:<client id>`.' })
  subject!: string;

  @Field(() => ID, { nullable: true, description: 'The principal, when the subject is one.' })
  principalId?: string | null;

  @Field({ description: 'Start of the window the events were counted in.' })
  windowStart!: Date;

  @Field()
  raisedAt!: Date;

  @Field(() => Int, { description: 'Events counted in the window when the alert was raised.' })
  count!: number;

  @Field(() => Int)
  threshold!: number;

  @Field(() => Int)
  windowSeconds!: number;

  @Field(() => GraphQLJSON, { description: 'What was seen (tool names, kinds of secret, hours); never an argument value.' })
  details!: Record<string, unknown>;
}

export const {
  Edge: SecurityAlertEdge,
  Connection: SecurityAlertConnection,
  ConnectionResolver: SecurityAlertConnectionResolver,
} = connectionTypes(SecurityAlertNode, 'SecurityAlert');

@InputType({ description: 'Narrows `securityAlerts`; all given criteria must hold.' })
export class SecurityAlertFilter {
  @Field(() => ID, { nullable: true })
  principal?: string;

  @Field(() => AlertRuleName, { nullable: true })
  rule?: AlertRuleName;

  @Field({ nullable: true, description: 'Only alerts raised at or after this time.' })
  since?: Date;
}

/** A tunable alert rule. */
@ObjectType('AlertRule')
export class AlertRuleNode {
  @Field(() => AlertRuleName)
  name!: AlertRuleName;

  @Field()
  enabled!: boolean;

  @Field(() => Int, { description: 'Events in one window that raise the alert (for a rate rule: until the principal has a usual rate).' })
  threshold!: number;

  @Field(() => Int)
  windowSeconds!: number;

  @Field(() => Float, {
    nullable: true,
    description: 'Rate rules: once a principal has a usual rate, the alert is raised at this multiple of it (or at `baselineFloor`, whichever is higher). Null for the other rules.',
  })
  baselineMultiple?: number | null;

  @Field(() => Int, { nullable: true, description: 'Rate rules: the lowest alert level a usual rate can set.' })
  baselineFloor?: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Rate rules: windows a principal must have been seen in (of the latest 30 kept) before its usual rate replaces `threshold`.',
  })
  baselineMinWindows?: number | null;

  @Field()
  updatedAt!: Date;
}

@InputType({ description: 'Changes one alert rule; fields left out keep their value.' })
export class UpdateAlertRuleInput {
  @Field(() => AlertRuleName)
  name!: AlertRuleName;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean | null;

  @Field(() => Int, { nullable: true })
  threshold?: number | null;

  @Field(() => Int, { nullable: true, description: 'A new window restarts the learning of usual rates.' })
  windowSeconds?: number | null;

  @Field(() => Float, { nullable: true, description: 'Rate rules only: from 1 to 1000.' })
  baselineMultiple?: number | null;

  @Field(() => Int, { nullable: true, description: 'Rate rules only.' })
  baselineFloor?: number | null;

  @Field(() => Int, { nullable: true, description: 'Rate rules only: from 1 to 30.' })
  baselineMinWindows?: number | null;
}

@ObjectType('UpdateAlertRulePayload')
export class UpdateAlertRulePayload {
  @Field(() => AlertRuleNode, { nullable: true })
  rule?: AlertRuleNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
