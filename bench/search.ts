import { SEARCH_TERMS } from './lib/catalog.seed.ts';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { expectAll, type LoadResult } from './lib/load.ts';
import { graphql } from './lib/registry.ts';
import { type RunFigures, side } from './lib/rounds.ts';

/** A ranked search page, as a frontend's search box asks for it. */
export const SEARCH_QUERY =
  'query Search($q: String!) { tools(first: 20, filter: { search: $q }) { edges { node { id name description tags } } pageInfo { hasNextPage endCursor } } }';

export interface SearchResult {
  catalogSize: number;
  /** One connection (the cost of one search, no queueing): p50 and p99 over every search of every round. */
  p50: number;
  p99: number;
  rps: number;
  samples: number;
  rounds: RunFigures[];
  /** Median latency of each term on its own, and how many tools it finds on the first page. */
  terms: Record<string, { p50: number; hits: number }>;
}

/** Rounds in which each catalog gets its turn, the order rotating so none is always first or last. */
function rotations<T>(items: T[], rounds: number): T[][] {
  return Array.from({ length: rounds }, (_, r) => {
    const rotated = [...items.slice(r % items.length), ...items.slice(0, r % items.length)];
    return r % 2 ? rotated.reverse() : rotated;
  });
}

/**
 * Search latency at each catalog size (one registry and database per size): one connection cycling
 * through SEARCH_TERMS, `searchesPerRound` searches per size per round (every size gets the same mix
 * of terms), the sizes taking turns in `rounds` interleaved rounds so that the machine's
 * drift hits every size alike; p50/p99 over every search of a size. Then each term alone. Every
 * answer must be a 200 (the first answer of each term is also checked for GraphQL errors).
 */
export async function measureSearch(sites: { size: number; ctx: BenchContext }[]): Promise<Record<number, SearchResult>> {
  const { settings } = sites[0]!.ctx;
  const terms = new Map<number, SearchResult['terms']>();
  for (const { size, ctx } of sites) {
    const found: SearchResult['terms'] = {};
    for (const term of SEARCH_TERMS) {
      const data = await graphql<{ tools: { edges: unknown[] } }>(ctx.registry.url, ctx.agent.token, SEARCH_QUERY, { q: term });
      found[term] = { p50: Number.NaN, hits: data.tools.edges.length };
    }
    terms.set(size, found);
  }
  // Every search is a distinct request (an unused `nonce` variable), so the catalog cache never
  // answers it: this measures the search itself, not the cache in front of it.
  let nonce = 0;
  const run = async ({ size, ctx }: { size: number; ctx: BenchContext }, amount: number): Promise<LoadResult> => {
    const requests = Array.from({ length: amount }, (_, i) =>
      graphqlRequest(ctx.agent.token, SEARCH_QUERY, { q: SEARCH_TERMS[i % SEARCH_TERMS.length]!, nonce: (nonce += 1) }),
    );
    const result = await ctx.load.run({ url: ctx.registry.url, requests, connections: 1, amount, keepSamples: true });
    expectAll(result, 200, `search at ${size}`);
    return result;
  };
  for (const site of sites) await run(site, SEARCH_TERMS.length * 2);
  const results = new Map<number, LoadResult[]>(sites.map((s) => [s.size, []]));
  for (const order of rotations(sites, settings.rounds)) {
    for (const site of order) results.get(site.size)!.push(await run(site, settings.searchesPerRound));
  }
  for (const { size, ctx } of sites) {
    for (const term of SEARCH_TERMS) {
      const requests = Array.from({ length: 20 }, () => graphqlRequest(ctx.agent.token, SEARCH_QUERY, { q: term, nonce: (nonce += 1) }));
      const result = await ctx.load.run({ url: ctx.registry.url, requests, connections: 1, amount: 20 });
      expectAll(result, 200, `search "${term}" at ${size}`);
      terms.get(size)![term]!.p50 = result.latency.p50;
    }
  }
  return Object.fromEntries(
    sites.map(({ size }) => {
      const summary = side(results.get(size)!);
      return [size, { catalogSize: size, p50: summary.p50, p99: summary.p99, rps: summary.rps, samples: summary.samples, rounds: summary.runs, terms: terms.get(size)! }];
    }),
  );
}
