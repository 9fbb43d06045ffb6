import { type EventBus } from '../../common/event-bus.js';
import { type ExecutionStatus } from './execution.entity.js';

/** A change of an execution: its new state, or a streamed part of its result. */
export interface ExecutionUpdate {
  executionId: string;
  status: ExecutionStatus;
  /** A part of the result as it arrived (sse, streamable_http), when this update carries one. */
  chunk?: unknown;
}

/**
 * Execution updates for `executionUpdated` subscribers, on the event bus: whichever replica runs a
 * call, a subscriber connected to any replica receives its updates (when the bus is Redis).
 */
export class ExecutionEvents {
  constructor(private readonly bus: EventBus) {}

  publish(update: ExecutionUpdate): void {
    this.bus.publish(`execution:${update.executionId}`, update);
  }

  /**
   * The updates of one execution (id as stored: a lower-case UUID) until `signal` aborts; resolves
   * once listening, so no update published afterwards is missed. Throws EVENTS_UNAVAILABLE.
   */
  listen(executionId: string, signal: AbortSignal): Promise<AsyncIterable<ExecutionUpdate>> {
    return this.bus.listen(`execution:${executionId}`, signal) as Promise<AsyncIterable<ExecutionUpdate>>;
  }
}
