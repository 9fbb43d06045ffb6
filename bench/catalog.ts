import { isDeepStrictEqual } from 'node:util';
import { ask, startHelper } from './lib/child.ts';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { DISTINCT, expectAll, type LoadResult } from './lib/load.ts';
import { startPeer } from './lib/peer.ts';
import { perRound, rotating, side, type SideSummary } from './lib/rounds.ts';

/** The catalog read: a page of 50 tools with their providers and tags. */
export const CATALOG_QUERY =
  'query Catalog { tools(first: 50) { edges { cursor node { id name description tags callTemplateType provider { id name } } } pageInfo { hasNextPage endCursor } } }';

/**
 * The catalog read as a load request. `distinct`: with a variable `nonce` the operation does not
 * declare, which a `distinct` load run replaces with an id unique to each request: every request is
 * new to the registry's catalog cache (its key is the request as sent, variables included), while
 * the operation, its cost and its answer stay those of the plain request.
 */
export function catalogRequest(token: string, distinct = false) {
  return graphqlRequest(token, CATALOG_QUERY, distinct ? { nonce: DISTINCT } : undefined);
}

export interface CatalogResult {
  catalogSize: number;
  connections: number;
  responseBytes: number;
  /** Bare `node:http` answering the registry's captured bytes (secondary: how far from writing bytes). */
  floor: SideSummary;
  /** Bare Apollo Server 5 serving the same page from memory: the reference. */
  peer: SideSummary;
  /** The registry, the same request every time: answered from its catalog cache. */
  hit: SideSummary;
  /** The registry, every request distinct: the catalog cache misses each one. */
  miss: SideSummary;
  /** Medians of the per-round ratios of requests per second. */
  hitVsPeer: number;
  missVsPeer: number;
  hitVsFloor: number;
}

type CatalogData = { tools: { edges: { cursor: string; node: unknown }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };

async function post(url: string, request: ReturnType<typeof graphqlRequest>, body = request.body) {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: request.headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  const parsed = JSON.parse(bytes.toString('utf8')) as { data?: CatalogData; errors?: unknown };
  return { ok: response.ok, bytes, parsed, contentType: response.headers.get('content-type') ?? 'application/json' };
}

/** The registry's exact response to the catalog query for `token`: body bytes, content type and data. */
export async function captureCatalog(url: string, token: string): Promise<{ body: Buffer; contentType: string; data: CatalogData }> {
  const answer = await post(url, catalogRequest(token));
  if (!answer.ok || answer.parsed.errors || answer.parsed.data?.tools?.edges.length !== 50) {
    throw new Error(`the catalog query did not answer 50 tools: ${answer.bytes.toString('utf8').slice(0, 500)}`);
  }
  return { body: answer.bytes, contentType: answer.contentType, data: answer.parsed.data };
}

/** Throws unless `url` answers `request` (with the nonce filled in) with exactly `data`. */
async function expectSameData(url: string, request: ReturnType<typeof graphqlRequest>, data: CatalogData, what: string): Promise<void> {
  const answer = await post(url, request, request.body.replace(DISTINCT, `check-${Date.now()}`));
  if (!answer.ok || answer.parsed.errors || !isDeepStrictEqual(answer.parsed.data, data)) {
    throw new Error(`${what} did not answer the registry's page: ${answer.bytes.toString('utf8').slice(0, 500)}`);
  }
}

/**
 * The catalog read, side by side under the same closed-loop load, in rotating rounds: the registry
 * (token, limits, policies, PostgreSQL) with the same request every time (cache hits) and with every
 * request distinct (cache misses); the peer, a bare Apollo Server 5 serving the same 50 tools from
 * memory with the same selection (its answer is checked to equal the registry's `data`); and the
 * floor, bare `node:http` writing the registry's captured response bytes. Every response must be a
 * 200 at least as large as the page.
 */
export async function measureCatalog(ctx: BenchContext, catalogSize: number): Promise<CatalogResult> {
  const { settings } = ctx;
  const captured = await captureCatalog(ctx.registry.url, ctx.agent.token);
  const dataBytes = Buffer.byteLength(JSON.stringify(captured.data));
  const plain = catalogRequest(ctx.agent.token);
  const distinct = catalogRequest(ctx.agent.token, true);
  await expectSameData(ctx.registry.url, distinct, captured.data, 'the registry (distinct request)');
  const floor = await startHelper<{ ready: true }>(new URL('./lib/floor.server.ts', import.meta.url));
  const peer = await startPeer({ catalog: captured.data.tools }).catch(async (error: unknown) => {
    await floor.stop();
    throw error;
  });
  try {
    await expectSameData(peer.url, plain, captured.data, 'the peer');
    const { port } = await ask<{ port: number }>(floor.child, { body: captured.body.toString('base64'), contentType: captured.contentType });
    const run = (url: string, what: string, minBytes: number, isDistinct = false) => async (durationS = settings.roundS): Promise<LoadResult> => {
      const result = await ctx.load.run({ url, requests: [isDistinct ? distinct : plain], connections: settings.connections, durationS, distinct: isDistinct });
      expectAll(result, 200, what);
      // A 200 with GraphQL errors (e.g. a spent budget) would be far smaller than the page.
      if (result.bytesPerResponse < minBytes) {
        throw new Error(`${what}: responses of ${Math.round(result.bytesPerResponse)} bytes, smaller than the ${minBytes}-byte page`);
      }
      return result;
    };
    const sides = {
      floor: run(`http://127.0.0.1:${port}`, 'catalog floor', captured.body.length),
      peer: run(peer.url, 'catalog peer', dataBytes),
      hit: run(ctx.registry.url, 'catalog registry (hits)', captured.body.length),
      miss: run(ctx.registry.url, 'catalog registry (misses)', dataBytes, true),
    };
    for (const warm of Object.values(sides)) await warm(settings.warmupS);
    const rounds = await rotating(settings.rounds, { floor: () => sides.floor(), peer: () => sides.peer(), hit: () => sides.hit(), miss: () => sides.miss() });
    const rps = (a: LoadResult, b: LoadResult) => a.rps / b.rps;
    return {
      catalogSize,
      connections: settings.connections,
      responseBytes: captured.body.length,
      floor: side(rounds.floor),
      peer: side(rounds.peer),
      hit: side(rounds.hit),
      miss: side(rounds.miss),
      hitVsPeer: perRound(rounds.hit, rounds.peer, rps),
      missVsPeer: perRound(rounds.miss, rounds.peer, rps),
      hitVsFloor: perRound(rounds.hit, rounds.floor, rps),
    };
  } finally {
    await peer.stop();
    await floor.stop();
  }
}

/** The registry alone on the catalog query (e.g. at 100,000 tools, where there is no floor to compare). */
export async function catalogThroughput(ctx: BenchContext, rounds: number): Promise<SideSummary> {
  const request = catalogRequest(ctx.agent.token);
  const results: LoadResult[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const result = await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: ctx.settings.connections, durationS: ctx.settings.roundS });
    expectAll(result, 200, 'catalog registry');
    results.push(result);
  }
  return side(results);
}
