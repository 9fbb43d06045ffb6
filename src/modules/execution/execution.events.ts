import { EventEmitter, on } from 'node:events';
import { type ExecutionStatus } from './execution.entity.js';

/** A change of an execution: its new state, or a streamed part of its result. */
export interface ExecutionUpdate {
  executionId: string;
  status: ExecutionStatus;
  /** A part of the result as it arrived (sse, streamable_http), when this update carries one. */
  chunk?: unknown;
}

/** Execution updates within this process, for `executionUpdated` subscribers. */
export class ExecutionEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(update: ExecutionUpdate): void {
    this.emitter.emit(update.executionId, update);
  }

  /** The updates of one execution until `signal` aborts. */
  async *updates(executionId: string, signal: AbortSignal): AsyncGenerator<ExecutionUpdate> {
    try {
      for await (const [update] of on(this.emitter, executionId, { signal })) yield update as ExecutionUpdate;
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }
}
