import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { UserError } from '../../common/user-error.types.js';
import { AuditOutcome } from './audit-entry.entity.js';
import { AuditProblemKind } from './audit.service.js';

registerEnumType(AuditOutcome, { name: 'AuditOutcome' });
registerEnumType(AuditProblemKind, {
  name: 'AuditProblemKind',
  description: 'What kind of damage `verifyAuditLog` found.',
  valuesConfig: {
    BROKEN_LINK: { description: "An entry's content no longer matches its hash, or it does not link to the entry before it." },
    MISSING_ENTRIES: { description: 'Entries were removed from the middle of the log, or the entry a checkpoint names is gone.' },
    TRUNCATED: { description: 'The newest entries are gone: a checkpoint covers sequence numbers past the last entry left.' },
    CHECKPOINT_MISMATCH: { description: "The entry at a checkpoint's sequence number is not the one it signed, or the count differs." },
    CHECKPOINT_INVALID: { description: "A stored checkpoint's signature does not verify, or its row does not say what it signed." },
  },
});

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

/**
 * A signed statement of the audit chain's head, verifiable with the keys at /.well-known/jwks.json.
 * Keep `jws` outside the database: passed to `verifyAuditLog(checkpoint:)` it reveals a truncation
 * even when the stored checkpoints were deleted too.
 */
@ObjectType('AuditCheckpoint')
export class AuditCheckpointNode {
  @Field(() => ID, { description: 'Sequence number of the newest entry when it was taken.' })
  seq!: string;

  @Field({ description: "That entry's hash." })
  hash!: string;

  @Field(() => Int, { description: 'Entries up to `seq`.' })
  count!: number;

  @Field({ description: 'When it was signed.' })
  at!: Date;

  @Field({ description: '`kid` of the signing key.' })
  keyId!: string;

  @Field({ description: 'The checkpoint as a compact JWS (`typ: audit-checkpoint+jwt`; claims `iss`, `iat`, `seq`, `hash`, `count`).' })
  jws!: string;
}

export const {
  Edge: AuditCheckpointEdge,
  Connection: AuditCheckpointConnection,
  ConnectionResolver: AuditCheckpointConnectionResolver,
} = connectionTypes(AuditCheckpointNode, 'AuditCheckpoint');

@ObjectType('CreateAuditCheckpointPayload')
export class CreateAuditCheckpointPayload {
  @Field(() => AuditCheckpointNode, { nullable: true })
  checkpoint?: AuditCheckpointNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

/** One thing `verifyAuditLog` found wrong. */
@ObjectType('AuditProblem')
export class AuditProblemNode {
  @Field(() => AuditProblemKind)
  kind!: AuditProblemKind;

  @Field(() => ID, { nullable: true, description: 'Where: the first missing, broken or truncated-after sequence number.' })
  seq!: string | null;

  @Field()
  message!: string;
}

/** The result of recomputing the chain and checking it against the checkpoints. */
@ObjectType('AuditVerification')
export class AuditVerificationNode {
  @Field({ description: 'No problem found.' })
  valid!: boolean;

  @Field(() => Int, { description: 'Entries checked before the first broken one (or all).' })
  checked!: number;

  @Field(() => ID, { nullable: true, description: 'Sequence number of the first entry whose hashes do not match.' })
  firstBrokenSeq!: string | null;

  @Field(() => Int, { description: 'Entries read.' })
  entries!: number;

  @Field(() => ID, { nullable: true, description: 'Sequence number of the newest entry.' })
  lastSeq!: string | null;

  @Field(() => ID, {
    nullable: true,
    description: 'The first sequence number missing between entries. A gap the chain links across intact is an append rolled back before sequence numbers were gapless, not a deletion.',
  })
  firstMissingSeq!: string | null;

  @Field({ description: 'A checkpoint covers entries past the newest one left: the newest entries were removed.' })
  truncated!: boolean;

  @Field(() => ID, { nullable: true, description: 'When truncated: the last entry left; the entries after it are missing.' })
  truncatedAfterSeq!: string | null;

  @Field(() => AuditCheckpointNode, { nullable: true, description: 'The newest checkpoint the log still matches (stored, or the one passed in); null when none.' })
  checkpoint!: AuditCheckpointNode | null;

  @Field(() => Int, { nullable: true, description: "Seconds since `checkpoint` was signed." })
  checkpointAgeSeconds!: number | null;

  @Field(() => Int, { description: 'Entries newer than `checkpoint` (all of them without one): what a truncation could remove unnoticed.' })
  unanchoredEntries!: number;

  @Field(() => Int, { description: 'Stored checkpoints checked.' })
  checkpointsChecked!: number;

  @Field(() => [AuditProblemNode], { description: 'Every problem found, in sequence order.' })
  problems!: AuditProblemNode[];

  @Field({ description: 'The verdict in a sentence: what is wrong, or how much of the log is anchored.' })
  summary!: string;
}
