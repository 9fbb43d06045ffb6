import { Arg, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Execution, ExecutionStatus } from './execution.entity.js';
import { executionCallerOf } from './execution.runtime.js';
import {
  ExecuteToolInput,
  ExecutionConnection,
  ExecutionFilter,
  ExecutionNode,
  ExecutionUpdateNode,
} from './execution.types.js';

const ENDED = new Set<ExecutionStatus>([
  ExecutionStatus.SUCCEEDED,
  ExecutionStatus.FAILED,
  ExecutionStatus.DENIED,
  ExecutionStatus.TIMED_OUT,
  ExecutionStatus.CANCELLED,
]);

/** The execution's current state, then every change and streamed chunk, until it ends or the client leaves. */
async function* executionUpdates({ args, context }: SubscribeResolverData<unknown, { id: string }, RegistryContext>): AsyncGenerator<ExecutionUpdateNode> {
  const ctx = context;
  if (!ctx.viewer) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
  const visible = () => ctx.executions.findVisible(args.id, ctx.viewer);
  const stop = new AbortController();
  // Updates are published under the id as stored: a UUID in lower case.
  const updates = ctx.runtime.events.updates(args.id.toLowerCase(), stop.signal);
  // An async generator runs nothing until it is pulled: pull now, so its listener is registered before
  // the current state is read and no change falls between the two (nor while that state is being sent).
  const pull = () => {
    const next = updates.next();
    next.catch(() => {});
    return next;
  };
  let pending = pull();
  try {
    const first = await visible();
    if (!first) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such execution', { argument: 'id' });
    yield { execution: first };
    if (ENDED.has(first.status)) return;
    for (;;) {
      const step = await pending;
      if (step.done) return;
      pending = pull();
      ctx.em.clear();
      const execution = (await visible())!;
      yield { execution, chunk: step.value.chunk ?? null };
      if (ENDED.has(execution.status)) return;
    }
  } finally {
    stop.abort();
  }
}

@Resolver(() => ExecutionNode)
export class ExecutionResolver {
  @Mutation(() => ExecutionNode, {
    description:
      'Calls a tool (tools:execute): policy, argument validation, limits, the provider call and the record of it. SYNC answers when the call ended; ASYNC at once.',
  })
  executeTool(@Arg('input') input: ExecuteToolInput, @Ctx() ctx: RegistryContext): Promise<Execution> {
    return ctx.runtime.execute(executionCallerOf(ctx), input);
  }

  @Mutation(() => ExecutionNode, { description: 'Stops a queued or running call (its principal, or an admin).' })
  cancelExecution(@Arg('id', () => ID) id: string, @Ctx() ctx: RegistryContext): Promise<Execution> {
    return ctx.runtime.cancel(id, ctx.viewer!, ctx.actor);
  }

  @Query(() => ExecutionNode, { nullable: true, description: 'An execution of the caller (any, with audit:read).' })
  execution(@Arg('id', () => ID) id: string, @Ctx() ctx: RegistryContext): Promise<Execution | null> {
    return ctx.executions.findVisible(id, ctx.viewer);
  }

  @Query(() => ExecutionConnection, { description: "The caller's executions, newest first (everyone's, with audit:read)." })
  executions(
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => ExecutionFilter, { nullable: true }) filter: ExecutionFilter | null,
    @Ctx() ctx: RegistryContext,
  ): Promise<Page<Execution>> {
    return ctx.executions.list(ctx.viewer!, { first, after, filter });
  }

  @Subscription(() => ExecutionUpdateNode, {
    description: "Follows an execution (its principal's, or any with audit:read): its state now, then each change and streamed chunk until it ends.",
    subscribe: executionUpdates as never,
  })
  executionUpdated(@Root() update: ExecutionUpdateNode, @Arg('id', () => ID) _id: string): ExecutionUpdateNode {
    return update;
  }
}
