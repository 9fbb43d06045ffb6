import type { BenchContext } from './lib/context.ts';
import type { LoadResult, RequestSpec } from './lib/load.ts';
import type { RegistryProcess } from './lib/registry.ts';
import { residentMemory } from './lib/registry.ts';

export interface MemoryResult {
  catalogSize: number;
  /** Resident set of the registry now (VmRSS; with its worker processes, if any), MB. */
  rssMb: number;
  /** Processes counted (the registry and its workers). */
  processes: number;
  /** Its peak resident set (VmHWM), MB; null where /proc is unavailable. */
  peakRssMb: number | null;
  /** Resident set after `idleS` seconds without requests (V8's memory reducer may return pages by then), MB. */
  idleRssMb: number;
  idleS: number;
  /** Whether the database runs inside the registry process (PGlite), so its memory counts too. */
  databaseInProcess: boolean;
}

/**
 * Resident memory of the registry child right after the runs at `catalogSize` tools (the tracked
 * figure), its peak, and again after `idleS` idle seconds.
 */
export async function measureMemory(registry: RegistryProcess, catalogSize: number, databaseInProcess: boolean, idleS = 10): Promise<MemoryResult> {
  const pid = registry.pid;
  const { rssMb, peakRssMb, processes } = await residentMemory(pid);
  await new Promise((resolve) => setTimeout(resolve, idleS * 1000));
  const idle = await residentMemory(registry.pid);
  return { catalogSize, rssMb, processes, peakRssMb, idleRssMb: idle.rssMb, idleS, databaseInProcess };
}

/** Resident memory of the registry at a named point of the run (to see what grows it). */
export interface MemorySample {
  at: string;
  rssMb: number;
}

/** Appends the registry's current resident memory to `samples`, labelled `at`. */
export async function sampleMemory(registry: RegistryProcess, at: string, samples: MemorySample[]): Promise<void> {
  samples.push({ at, rssMb: (await residentMemory(registry.pid)).rssMb });
}

/** Resident memory of the registry while it serves a mixed load (issue 22, item 7). */
export interface MemoryUnderLoadResult {
  catalogSize: number;
  /** Steady state: the median of the samples taken in the second half of the run, MB. */
  rssMbUnderLoad: number;
  /** The largest sample of the run, MB. */
  maxRssMb: number;
  /** Resident memory before the load started, MB. */
  startRssMb: number;
  /** Every sample (one a second), MB. */
  samples: number[];
  durationS: number;
  /** Requests per second the load was capped at, and what it reached. */
  rateCap: number;
  rps: number;
  /** Responses by HTTP status (all requests of the mix are expected to answer 200). */
  statuses: Record<string, number>;
  /** The mix, in the order each connection cycles through it. */
  mix: string[];
  databaseInProcess: boolean;
}

/**
 * Steady-state resident memory of the registry under the mix of issue 22's soak: catalog reads
 * (the same page, and pages distinct per request), searches, SYNC `executeTool` calls of the echo
 * tool and token requests (client credentials), cycled by every connection, capped at `rateCap`
 * requests per second. Samples the registry's resident memory every second and reports the median of
 * the second half of the run (the first half lets caches and heaps fill) and the largest sample.
 */
export async function measureMemoryUnderLoad(
  ctx: BenchContext,
  catalogSize: number,
  mix: { catalog: RequestSpec; catalogDistinct: RequestSpec; search: RequestSpec; execute: RequestSpec; token: RequestSpec },
  options: { durationS: number; rateCap: number; connections: number; databaseInProcess: boolean },
): Promise<MemoryUnderLoadResult> {
  const pid = ctx.registry.pid;
  const startRssMb = (await residentMemory(pid)).rssMb;
  const samples: number[] = [];
  let running = true;
  const sampler = (async () => {
    while (running) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (running) samples.push((await residentMemory(pid)).rssMb);
    }
  })();
  const requests = [mix.catalog, mix.search, mix.execute, mix.catalogDistinct, mix.token, mix.search, mix.execute];
  let result: LoadResult;
  try {
    result = await ctx.load.run({ url: ctx.registry.url, requests, connections: options.connections, durationS: options.durationS, overallRate: options.rateCap, distinct: true });
  } finally {
    running = false;
    await sampler;
  }
  const steady = samples.slice(Math.floor(samples.length / 2)).sort((a, b) => a - b);
  return {
    catalogSize,
    rssMbUnderLoad: steady.length ? steady[Math.floor(steady.length / 2)]! : Number.NaN,
    maxRssMb: Math.max(...samples),
    startRssMb,
    samples: samples.map((s) => Math.round(s)),
    durationS: result.durationS,
    rateCap: options.rateCap,
    rps: result.rps,
    statuses: result.statuses,
    mix: ['catalog (same page)', 'search', 'executeTool', 'catalog (distinct)', 'token', 'search', 'executeTool'],
    databaseInProcess: options.databaseInProcess,
  };
}
