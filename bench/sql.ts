import { availableParallelism } from 'node:os';
import { catalogRequest } from './catalog.ts';
import type { BenchContext } from './lib/context.ts';
import { expectAll, type RequestSpec } from './lib/load.ts';
import { StatementCounter } from './lib/pg-counter.ts';
import { RegistryProcess } from './lib/registry.ts';
import type { Site } from './lib/setup.ts';

export interface SqlResult {
  /** Whether statements could be counted (PostgreSQL only: PGlite runs inside the registry). */
  counted: boolean;
  /** Statements on the wire per request, background work during the count included. */
  catalogPerHit: number;
  catalogPerMiss: number;
  executePerCall: number;
  /** Statements per second of the same registry with no requests (background work), for reference. */
  idlePerS: number;
  /** Sequential requests counted per figure. */
  catalogRequests: number;
  executeRequests: number;
}

const NOT_COUNTED: SqlResult = {
  counted: false,
  catalogPerHit: Number.NaN,
  catalogPerMiss: Number.NaN,
  executePerCall: Number.NaN,
  idlePerS: Number.NaN,
  catalogRequests: 0,
  executeRequests: 0,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SQL statements per request, counted on the wire: a second registry process on `site`'s database
 * (same environment and keys, and the measured registry's origin as its public URL, so the run's
 * tokens are valid there) reaches PostgreSQL through
 * `StatementCounter` (one per simple-protocol Query and per extended-protocol Sync: round trips,
 * transaction control included). The measured registries never have the counting hop in their path.
 * After a warm-up on several connections (caches filled and the token verified in every worker
 * process), `n` sequential requests on one connection are counted, with
 * half a second afterwards for work that completes after the answer. Requests: the catalog read
 * repeated (cache hits), the catalog read with every request distinct (misses) and `execute` (the
 * echo tool's `executeTool`). On PGlite nothing is counted and every figure is NaN.
 */
export async function measureSql(site: Site, ctx: BenchContext, execute: RequestSpec, logFile: string, n = 200): Promise<SqlResult> {
  const databaseUrl = site.env.DATABASE_URL;
  if (site.db.kind !== 'postgresql' || !databaseUrl) return NOT_COUNTED;
  const { counter, url } = await StatementCounter.start(databaseUrl);
  // The measured registry's origin as its public URL, so the tokens it issued (their issuer) hold here.
  const registry = new RegistryProcess({ ...site.env, DATABASE_URL: url, REGISTRY_PUBLIC_URL: site.registry.url }, logFile);
  try {
    await registry.start();
    const run = async (request: RequestSpec, amount: number, what: string, distinct = false, connections = 1) => {
      const result = await ctx.load.run({ url: registry.url, requests: [request], connections, amount, distinct });
      expectAll(result, 200, what);
    };
    // Warm-up on several connections, so that every worker process (each with caches of its own)
    // gets requests whichever of them the counted connection lands on.
    const warmConnections = Math.max(4, 2 * availableParallelism());
    const perRequest = async (request: RequestSpec, amount: number, what: string, distinct = false) => {
      await run(request, 10 * warmConnections, what, distinct, warmConnections);
      await sleep(500);
      const before = counter.statements;
      await run(request, amount, what, distinct);
      await sleep(500);
      return (counter.statements - before) / amount;
    };
    const idleBefore = counter.statements;
    await sleep(2000);
    const idlePerS = (counter.statements - idleBefore) / 2;
    const executeRequests = Math.max(20, Math.round(n / 2));
    return {
      counted: true,
      catalogPerHit: await perRequest(catalogRequest(ctx.agent.token), n, 'catalog hits (counted)'),
      catalogPerMiss: await perRequest(catalogRequest(ctx.agent.token, true), n, 'catalog misses (counted)', true),
      executePerCall: await perRequest(execute, executeRequests, 'executeTool (counted)'),
      idlePerS,
      catalogRequests: n,
      executeRequests,
    };
  } finally {
    await registry.close();
    await counter.close();
  }
}
