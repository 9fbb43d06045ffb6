import { GraphQLJSON } from 'graphql-scalars';
import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
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

  @Field(() => GraphQLJSON, { nullable: true, description: 'Structured details: `errors` (with JSON paths) for invalid arguments, `retryAfterSeconds` for limits, `reason`.' })
  details?: Record<string, unknown> | null;
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

  @Field(() => String, { nullable: true })
  idempotencyKey?: string | null;

  @Field(() => Int, { description: 'How many times the call was started (an interrupted idempotent ASYNC call is retried).' })
  attempts!: number;

  @Field(() => GraphQLJSON, { nullable: true, description: 'The policy decision: `allowed`, `reason` and the deciding `policy`.' })
  decision?: Record<string, unknown> | null;
}

export const { Connection: ExecutionConnection, ConnectionResolver: ExecutionConnectionResolver } = connectionTypes(ExecutionNode, 'Execution');

@InputType('ExecuteToolInput')
export class ExecuteToolInput {
  @Field({ description: 'The tool, by name (`provider.tool`).' })
  tool!: string;

  @Field(() => GraphQLJSON, { description: "The call's arguments: a JSON object matching the tool's input schema." })
  arguments!: unknown;

  @Field(() => String, { nullable: true, description: 'Retries with the same key (from the same principal) return the first execution instead of calling again.' })
  idempotencyKey?: string | null;

  @Field(() => ExecutionMode, { nullable: true, description: 'SYNC (default) answers when the call ended; ASYNC answers at once with the execution, already claimed and running (follow it with `execution` or `executionUpdated`).' })
  mode?: ExecutionMode | null;

  @Field(() => Int, { nullable: true, description: 'Deadline of the call in milliseconds (default and maximum are configured).' })
  timeoutMs?: number | null;
}

@InputType('ExecutionFilter')
export class ExecutionFilter {
  @Field(() => [ExecutionStatus], { nullable: true })
  status?: ExecutionStatus[] | null;

  @Field(() => String, { nullable: true, description: 'Tool name.' })
  tool?: string | null;

  @Field(() => ID, { nullable: true, description: 'Principal id (audit:read only; others always see their own).' })
  principal?: string | null;
}

@ObjectType('ExecutionUpdate', { description: 'A change of an execution: its state, and a streamed part of its result when one arrived.' })
export class ExecutionUpdateNode {
  @Field(() => ExecutionNode)
  execution!: ExecutionNode;

  @Field(() => GraphQLJSON, { nullable: true })
  chunk?: unknown;
}
