import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { UserError } from '../../common/user-error.types.js';
import { PrincipalKind, PrincipalStatus } from './principal.entity.js';

registerEnumType(PrincipalKind, { name: 'PrincipalKind' });
registerEnumType(PrincipalStatus, { name: 'PrincipalStatus' });

/** An agent, user or service known to the registry; an entity other subgraphs may extend. */
@Directive('@key(fields: "id")')
@ObjectType('Principal', { description: 'An agent, user or service known to the registry (itself, admins and audit:read see it).' })
export class PrincipalNode {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => PrincipalKind)
  kind!: PrincipalKind;

  @Field(() => [String])
  roles!: string[];

  @Field(() => [String], { description: 'Scopes granted directly, besides those of the roles.' })
  scopes!: string[];

  @Field(() => String, { nullable: true, description: 'OAuth 2 client id for the client-credentials grant.' })
  clientId?: string | null;

  @Field(() => PrincipalStatus)
  status!: PrincipalStatus;

  @Field(() => Int, { nullable: true, description: "Query-cost points per hour; null means the registry's default." })
  costBudgetPerHour?: number | null;

  @Field()
  createdAt!: Date;
}

/** The caller, with the scopes this request actually carries. */
@ObjectType('Me')
export class MeNode {
  @Field(() => PrincipalNode)
  principal!: PrincipalNode;

  @Field(() => [String], { description: 'Scopes of this request: the token’s, within what the principal holds.' })
  scopes!: string[];
}

/** The caller's hourly query budget after this operation was charged (GitHub's `rateLimit`). */
@ObjectType('RateLimit', { description: "The caller's hourly query budget, after this operation was charged." })
export class RateLimitNode {
  @Field(() => Int, { description: 'Points per hour.' })
  limit!: number;

  @Field(() => Int, { description: 'Points this operation was charged.' })
  cost!: number;

  @Field(() => Int, { description: 'Points left in the current hour.' })
  remaining!: number;

  @Field(() => Int, { description: 'Points spent in the current hour, this operation included.' })
  used!: number;

  @Field({ description: 'When the current hour ends and the budget is full again.' })
  resetAt!: Date;
}

@InputType()
export class CreatePrincipalInput {
  @Field()
  name!: string;

  @Field(() => PrincipalKind)
  kind!: PrincipalKind;

  @Field(() => [String], { nullable: true, description: 'viewer, agent, publisher, policy_admin, admin' })
  roles?: string[];

  @Field(() => [String], { nullable: true })
  scopes?: string[];
}

@InputType()
export class PrincipalIdInput {
  @Field(() => ID)
  principalId!: string;
}

/** A principal and its new client secret, shown this once. */
@ObjectType()
export class PrincipalSecretPayload {
  @Field(() => PrincipalNode, { nullable: true })
  principal?: PrincipalNode | null;

  @Field(() => String, { nullable: true, description: 'Shown once; store it now. Only its hash is kept.' })
  clientSecret?: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType()
export class SetPrincipalStatusInput {
  @Field(() => ID)
  principalId!: string;

  @Field(() => PrincipalStatus, { description: 'DISABLED refuses its tokens and client credentials at once; ACTIVE accepts them again.' })
  status!: PrincipalStatus;
}

@ObjectType()
export class SetPrincipalStatusPayload {
  @Field(() => PrincipalNode, { nullable: true })
  principal?: PrincipalNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class RevokeTokensPayload {
  @Field(() => PrincipalNode, { nullable: true })
  principal?: PrincipalNode | null;

  @Field(() => Date, { nullable: true, description: 'Tokens issued up to this instant no longer work.' })
  revokedAt?: Date | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

export const { Edge: PrincipalEdge, Connection: PrincipalConnection, ConnectionResolver: PrincipalConnectionResolver } = connectionTypes(PrincipalNode, 'Principal');

@InputType('PrincipalFilter')
export class PrincipalFilter {
  @Field(() => String, { nullable: true, description: 'A part of the name or client id, case-insensitive.' })
  search?: string | null;

  @Field(() => PrincipalStatus, { nullable: true })
  status?: PrincipalStatus | null;
}
