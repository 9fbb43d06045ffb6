import { ask, startHelper } from './lib/child.ts';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { expectAll, type LoadResult } from './lib/load.ts';
import { interleaved, perRound, side, type SideSummary } from './lib/rounds.ts';

/** The catalog read: a page of 50 tools with their providers and tags. */
export const CATALOG_QUERY =
  'query Catalog { tools(first: 50) { edges { cursor node { id name description tags callTemplateType provider { id name } } } pageInfo { hasNextPage endCursor } } }';

export interface CatalogResult {
  catalogSize: number;
  connections: number;
  responseBytes: number;
  floor: SideSummary;
  registry: SideSummary;
  /** Median of the per-round ratios of registry to floor requests per second. */
  ratio: number;
}

/** The registry's exact response to the catalog query for `token`: body bytes and content type. */
export async function captureCatalog(url: string, token: string): Promise<{ body: Buffer; contentType: string }> {
  const request = graphqlRequest(token, CATALOG_QUERY);
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: request.headers, body: request.body });
  const body = Buffer.from(await response.arrayBuffer());
  const parsed = JSON.parse(body.toString('utf8')) as { data?: { tools?: { edges: unknown[] } }; errors?: unknown };
  if (!response.ok || parsed.errors || parsed.data?.tools?.edges.length !== 50) {
    throw new Error(`the catalog query did not answer 50 tools: ${body.toString('utf8').slice(0, 500)}`);
  }
  return { body, contentType: response.headers.get('content-type') ?? 'application/json' };
}

/**
 * Catalog read against its floor: the registry (token, shield, limits, policies, PostgreSQL) and a
 * bare `node:http` server answering the registry's own response bytes, under the same closed-loop
 * load, in interleaved rounds. Every response must be a 200.
 */
export async function measureCatalog(ctx: BenchContext, catalogSize: number): Promise<CatalogResult> {
  const { settings } = ctx;
  const captured = await captureCatalog(ctx.registry.url, ctx.agent.token);
  const floor = await startHelper<{ ready: true }>(new URL('./lib/floor.server.ts', import.meta.url));
  try {
    const { port } = await ask<{ port: number }>(floor.child, { body: captured.body.toString('base64'), contentType: captured.contentType });
    const request = graphqlRequest(ctx.agent.token, CATALOG_QUERY);
    const run = (url: string, what: string) => async (durationS = settings.roundS): Promise<LoadResult> => {
      const result = await ctx.load.run({ url, requests: [request], connections: settings.connections, durationS });
      expectAll(result, 200, what);
      // A 200 with GraphQL errors (e.g. a spent budget) would be far smaller than the page.
      if (result.bytesPerResponse < captured.body.length) {
        throw new Error(`${what}: responses of ${Math.round(result.bytesPerResponse)} bytes, smaller than the ${captured.body.length}-byte page`);
      }
      return result;
    };
    const onFloor = run(`http://127.0.0.1:${port}`, 'catalog floor');
    const onRegistry = run(ctx.registry.url, 'catalog registry');
    await onFloor(settings.warmupS);
    await onRegistry(settings.warmupS);
    const rounds = await interleaved(settings.rounds, () => onFloor(), () => onRegistry());
    return {
      catalogSize,
      connections: settings.connections,
      responseBytes: captured.body.length,
      floor: side(rounds.a),
      registry: side(rounds.b),
      ratio: perRound(rounds.b, rounds.a, (registry, bare) => registry.rps / bare.rps),
    };
  } finally {
    await floor.stop();
  }
}

/** The registry alone on the catalog query (e.g. at 100,000 tools, where there is no floor to compare). */
export async function catalogThroughput(ctx: BenchContext, rounds: number): Promise<SideSummary> {
  const request = graphqlRequest(ctx.agent.token, CATALOG_QUERY);
  const results: LoadResult[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const result = await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: ctx.settings.connections, durationS: ctx.settings.roundS });
    expectAll(result, 200, 'catalog registry');
    results.push(result);
  }
  return side(results);
}
