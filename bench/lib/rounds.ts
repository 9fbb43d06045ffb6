import type { LoadResult } from './load.ts';
import { median, summarize } from './stats.ts';

/** Compact per-run figures kept in the raw results. */
export interface RunFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

export function figures(result: LoadResult): RunFigures {
  return { rps: result.rps, p50: result.latency.p50, p99: result.latency.p99, requests: result.requests };
}

/**
 * One side of a comparison over its rounds: requests per second is the median of the runs; p50 and
 * p99 are taken over every latency of every run when the runs kept their samples (`pooled`), else
 * they are medians of the runs' own percentiles.
 */
export interface SideSummary {
  rps: number;
  p50: number;
  p99: number;
  pooled: boolean;
  samples: number;
  runs: RunFigures[];
}

export function side(results: LoadResult[]): SideSummary {
  const runs = results.map(figures);
  const rps = median(runs.map((r) => r.rps));
  const samples = results.reduce((n, r) => n + r.requests, 0);
  if (results.length && results.every((r) => r.samples)) {
    const pooled = summarize(results.flatMap((r) => r.samples!));
    return { rps, p50: pooled.p50, p99: pooled.p99, pooled: true, samples, runs };
  }
  return { rps, p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), pooled: false, samples, runs };
}

/**
 * Runs `a` and `b` in `rounds` interleaved rounds, alternating which goes first (AB, BA, AB, …), so
 * a drift of the machine's speed (other work, thermal) hits both sides alike.
 */
export async function interleaved(
  rounds: number,
  a: () => Promise<LoadResult>,
  b: () => Promise<LoadResult>,
): Promise<{ a: LoadResult[]; b: LoadResult[] }> {
  const out = { a: [] as LoadResult[], b: [] as LoadResult[] };
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      out.a.push(await a());
      out.b.push(await b());
    } else {
      out.b.push(await b());
      out.a.push(await a());
    }
  }
  return out;
}

/** Median of the per-round values of `f(a[i], b[i])` (e.g. throughput ratios, latency differences). */
export function perRound(a: LoadResult[], b: LoadResult[], f: (a: LoadResult, b: LoadResult) => number): number {
  return median(a.map((x, i) => f(x, b[i]!)));
}

/**
 * Runs every side once per round for `rounds` rounds, the order rotating by one each round (ABC,
 * BCA, CAB, …), so that each side takes each position equally often and a drift of the machine's
 * speed hits all sides alike. Returns each side's runs, in round order.
 */
export async function rotating<K extends string>(rounds: number, sides: Record<K, () => Promise<LoadResult>>): Promise<Record<K, LoadResult[]>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((name) => [name, [] as LoadResult[]])) as Record<K, LoadResult[]>;
  for (let round = 0; round < rounds; round += 1) {
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    for (const name of order) out[name].push(await sides[name]());
  }
  return out;
}
