import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { setTimeout as delay } from 'node:timers/promises';
import { isUuid } from '../../common/ids.js';
import { type Page } from '../../common/pagination.js';
import { type RegistryContext } from '../../context.types.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Principal, PrincipalNode } from '../principal/index.js';
import { type Execution, ExecutionStatus } from './execution.entity.js';
import { executionCallerOf } from './execution.runtime.js';
import {
  ExecuteToolInput,
  ExecutionConnection,
  ExecutionFilter,
  ExecutionNode,
  ExecutionUpdateNode,
} from './execution.types.js';

/** How often a follower re-reads the stored state while no update arrives. */
const RECHECK_MS = 10_000;

const ENDED = new Set<ExecutionStatus>([
  ExecutionStatus.SUCCEEDED,
  ExecutionStatus.FAILED,
  ExecutionStatus.DENIED,
  ExecutionStatus.TIMED_OUT,
  ExecutionStatus.CANCELLED,
]);

/** What `promise` settles to, or null when it has not within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise, delay(ms, null, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/** The execution's current state, then every change and streamed chunk, until it ends or the client leaves. */
async function* executionUpdates({ args, context }: SubscribeResolverData<unknown, { id: string }, RegistryContext>): AsyncGenerator<ExecutionUpdateNode> {
  const ctx = context;
  if (!ctx.viewer) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
  if (!isUuid(args.id)) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such execution', { argument: 'id' });
  const visible = () => ctx.executions.findVisible(args.id, ctx.viewer);
  const stop = new AbortController();
  try {
    // Listen before reading the current state, so no change falls between the two. Updates are
    // published under the id as stored: a UUID in lower case.
    const updates = (await ctx.runtime.events.listen(args.id.toLowerCase(), stop.signal))[Symbol.asyncIterator]();
    let current = await visible();
    if (!current) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such execution', { argument: 'id' });
    yield { execution: current };
    let pending = updates.next();
    while (!ENDED.has(current.status)) {
      // Events are best effort (a Redis outage drops them): while waiting, the stored state is
      // checked now and then, so a subscriber never waits forever for an end it missed.
      const step = await within(pending, RECHECK_MS);
      if (step?.done) return;
      if (step) pending = updates.next();
      ctx.em.clear();
      const stored = (await visible())!;
      if (!step && stored.status === current.status) continue;
      const chunk = step?.value.chunk ?? null;
      // A chunk sent while the call ran can arrive after its outcome was stored: it is shown in the
      // state it was sent in, and the update of the stored end follows it.
      const execution: Execution =
        chunk !== null && ENDED.has(stored.status) && !ENDED.has(step!.value.status)
          ? ({ ...stored, status: step!.value.status, result: null, error: null, outputValid: null, finishedAt: null, durationMs: null } as Execution)
          : stored;
      current = execution;
      yield { execution, chunk };
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

  @FieldResolver(() => PrincipalNode, { nullable: true, description: 'Who made the call.' })
  principal(@Root() execution: Execution, @Ctx() ctx: RegistryContext): Promise<Principal | null> {
    return ctx.principals.findVisible(execution.principal.id, ctx.viewer);
  }

  @Subscription(() => ExecutionUpdateNode, {
    description: "Follows an execution (its principal's, or any with audit:read): its state now, then each change and streamed chunk until it ends.",
    subscribe: executionUpdates as never,
  })
  executionUpdated(@Root() update: ExecutionUpdateNode, @Arg('id', () => ID) _id: string): ExecutionUpdateNode {
    return update;
  }
}
