import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { AuditOutcome } from './audit-entry.entity.js';

registerEnumType(AuditOutcome, { name: 'AuditOutcome' });

/** One entry of the append-only, hash-chained audit log. */
@ObjectType('AuditEntry')
export class AuditEntryNode {
  @Field(() => ID, { description: 'Sequence number: the order of the chain.' })
  seq!: string;

  @Field()
  at!: Date;

  @Field(() => String, { nullable: true, description: 'Principal id; null for the registry itself.' })
  actorId?: string | null;

  @Field()
  action!: string;

  @Field()
  targetType!: string;

  @Field(() => String, { nullable: true })
  targetId?: string | null;

  @Field(() => AuditOutcome)
  outcome!: AuditOutcome;

  @Field(() => String, { nullable: true })
  requestId?: string | null;

  @Field(() => String, { nullable: true })
  sourceIp?: string | null;

  @Field(() => GraphQLJSON)
  details!: Record<string, unknown>;

  @Field()
  prevHash!: string;

  @Field()
  hash!: string;
}

export const {
  Edge: AuditEntryEdge,
  Connection: AuditEntryConnection,
  ConnectionResolver: AuditEntryConnectionResolver,
} = connectionTypes(AuditEntryNode, 'AuditEntry');

@InputType({ description: 'Narrows the audit log; all given criteria must hold.' })
export class AuditLogFilter {
  @Field({ nullable: true })
  action?: string;

  @Field({ nullable: true })
  actorId?: string;

  @Field({ nullable: true })
  targetType?: string;

  @Field({ nullable: true })
  targetId?: string;

  @Field(() => AuditOutcome, { nullable: true })
  outcome?: AuditOutcome;
}

/** The result of recomputing the chain. */
@ObjectType('AuditVerification')
export class AuditVerificationNode {
  @Field()
  valid!: boolean;

  @Field(() => Int, { description: 'Entries checked before the first broken one (or all).' })
  checked!: number;

  @Field(() => ID, { nullable: true, description: 'Sequence number of the first entry whose hashes do not match.' })
  firstBrokenSeq!: string | null;
}
