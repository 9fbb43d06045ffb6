import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { catalogRequest } from './catalog.ts';
import { echoTool } from './execute.ts';
import { graphqlRequest } from './lib/context.ts';
import { graphql } from './lib/registry.ts';
import { startBench } from './lib/setup.ts';
import { SEARCH_QUERY } from './search.ts';
import { measureMemoryUnderLoad, type MemoryUnderLoadResult } from './memory.ts';
import type { BenchContext } from './lib/context.ts';
import type { EchoTool } from './execute.ts';

/**
 * The mixed-load memory phase of `npm run bench` (`rssMbUnderLoad`), on a registry whose echo tool
 * is registered (`tool`): creates a client for the token requests, then measures.
 */
export async function memoryUnderLoad(ctx: BenchContext, tool: EchoTool, catalogSize: number, options: { quick: boolean; databaseInProcess: boolean }): Promise<MemoryUnderLoadResult> {
  const created = await graphql<{ createPrincipal: { principal: { clientId: string }; clientSecret: string } }>(
    ctx.registry.url,
    ctx.admin.token,
    'mutation Create($input: CreatePrincipalInput!) { createPrincipal(input: $input) { principal { clientId } clientSecret } }',
    { input: { name: `bench token client ${randomUUID().slice(0, 8)}`, kind: 'AGENT', roles: ['agent'] } },
  );
  const { clientId } = created.createPrincipal.principal;
  const basic = Buffer.from(`${clientId}:${created.createPrincipal.clientSecret}`).toString('base64');
  return measureMemoryUnderLoad(
    ctx,
    catalogSize,
    {
      catalog: catalogRequest(ctx.agent.token),
      catalogDistinct: catalogRequest(ctx.agent.token, true),
      search: graphqlRequest(ctx.agent.token, SEARCH_QUERY, { q: 'weather forecast' }),
      execute: tool.viaRegistry,
      token: {
        method: 'POST',
        path: '/oauth/token',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      },
    },
    { durationS: options.quick ? 15 : 60, rateCap: 200, connections: 10, databaseInProcess: options.databaseInProcess },
  );
}

/** `node bench/memory-load.ts` (after `npm run build`): this phase alone, at 10,000 tools, printed as JSON. */
async function main(): Promise<void> {
  const log = (message: string) => process.stderr.write(`[memory] ${message}\n`);
  const bench = await startBench({
    settings: { rounds: 1, roundS: 1, latencyRoundS: 1, connections: 10, warmupS: 1, searchesPerRound: 1 },
    sizes: [10_000],
    logFile: fileURLToPath(new URL('./results/registry.log', import.meta.url)),
    log,
  });
  try {
    const site = bench.site(10_000);
    const ctx = bench.ctx(site);
    const tool = await echoTool(ctx);
    try {
      log(`mixed load against the registry (pid ${site.registry.pid})`);
      const result = await memoryUnderLoad(ctx, tool, 10_000, { quick: process.env.BENCH_QUICK === '1', databaseInProcess: site.db.kind === 'pglite' });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await tool.echo.stop();
    }
  } finally {
    await bench.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`memory phase failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
