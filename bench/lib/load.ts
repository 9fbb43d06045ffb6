import { ask, type Helper, startHelper } from './child.ts';
import { type LatencySummary } from './stats.ts';

/** One request of a load run; runs cycle through their requests in order, per connection. */
export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A bounded load run: always `connections` closed-loop connections, pipelining 1. */
export interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  requests: RequestSpec[];
  connections: number;
  /** Seconds to run; or `amount` requests in all. */
  durationS?: number;
  amount?: number;
  /** Cap on the requests per second over all connections (legitimate background traffic). */
  overallRate?: number;
  timeoutS?: number;
  /** Return every latency too (for percentiles pooled over several runs). */
  keepSamples?: boolean;
  /**
   * Replace each `[<id>]` (DISTINCT) in every request sent with an id unique to that request (autocannon's
   * `idReplacement`), so that no two requests of the run are alike (e.g. to miss a response cache).
   */
  distinct?: boolean;
}

/** Placeholder replaced with a unique id in each request of a `distinct` run. */
export const DISTINCT = '[<id>]';

/** What a load run measured, from the client's side. */
export interface LoadResult {
  requests: number;
  durationS: number;
  /** Responses per second over the run. */
  rps: number;
  /** Latency of every response (any status), exact, from hrtime. */
  latency: LatencySummary;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Mean response size (bytes, headers included). */
  bytesPerResponse: number;
  /** Every latency (ms), when asked for with `keepSamples`. */
  samples?: number[];
}

/**
 * A load generator (autocannon) in a process of its own, so the harness, the servers under test and
 * other generators never share its event loop. One run at a time per generator.
 */
export class LoadGenerator {
  private readonly helper: Helper<{ ready: true }>;

  private constructor(helper: Helper<{ ready: true }>) {
    this.helper = helper;
  }

  static async start(): Promise<LoadGenerator> {
    return new LoadGenerator(await startHelper<{ ready: true }>(new URL('./load.worker.ts', import.meta.url)));
  }

  /** Runs one bounded load; rejects on a connection error storm or a run that cannot start. */
  run(options: LoadOptions): Promise<LoadResult> {
    return ask<LoadResult>(this.helper.child, options);
  }

  close(): Promise<void> {
    return this.helper.stop();
  }
}

/** Throws unless every response of `result` had status `expected` and none failed or timed out. */
export function expectAll(result: LoadResult, expected: number, what: string): void {
  const others = Object.entries(result.statuses).filter(([status]) => Number(status) !== expected);
  if (result.errors || result.timeouts || others.length || result.requests === 0) {
    throw new Error(
      `${what}: expected only HTTP ${expected}, got ${JSON.stringify(result.statuses)}, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
}
