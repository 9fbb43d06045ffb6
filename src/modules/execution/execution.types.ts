import { GraphQLJSON } from 'graphql-scalars';
import { Directive, Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ExecutionMode, ExecutionStatus } from './execution.entity.js';

registerEnumType(ExecutionStatus, { name: 'ExecutionStatus' });
registerEnumType(ExecutionMode, { name: 'ExecutionMode' });

/** The error of a call that did not succeed. */
@ObjectType('ExecutionError')
export class ExecutionErrorNode {
  @Field()
  code!: string;

  @Field()
  message!: string;
}

/** One call of a tool, visible to the principal that made it and to admins. */
@Directive('@key(fields: "id")')
@ObjectType('Execution', { description: 'One call of a tool through the registry.' })
export class ExecutionNode {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'Name of the tool at the time of the call.' })
  toolName!: string;

  @Field(() => ExecutionStatus)
  status!: ExecutionStatus;

  @Field(() => ExecutionMode)
  mode!: ExecutionMode;

  @Field(() => GraphQLJSON, { description: 'Arguments of the call, with secret values redacted.' })
  arguments!: Record<string, unknown>;

  @Field(() => GraphQLJSON, { nullable: true })
  result?: unknown;

  @Field(() => ExecutionErrorNode, { nullable: true })
  error?: ExecutionErrorNode | null;

  @Field(() => Boolean, { nullable: true, description: "Whether the result matched the tool's output schema." })
  outputValid?: boolean | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  startedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  finishedAt?: Date | null;

  @Field(() => Int, { nullable: true })
  durationMs?: number | null;
}
