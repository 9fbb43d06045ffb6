import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type AttackResult, HOSTILE, measureAttack } from './attack.ts';
import { type CatalogResult, catalogThroughput, measureCatalog } from './catalog.ts';
import { echoTool, type ExecuteResult, measureExecute } from './execute.ts';
import { measureOpenApiImport, type OpenApiImportResult } from './openapi.ts';
import { measureMemory, type MemoryResult, type MemorySample, type MemoryUnderLoadResult, sampleMemory } from './memory.ts';
import { memoryUnderLoad } from './memory-load.ts';
import { measureRelevance, measureSearch, type RelevanceResult } from './search.ts';
import { measureRejectInProcess, measureShield, type ShieldResult } from './shield.ts';
import { measureSql, type SqlResult } from './sql.ts';
import type { Settings } from './lib/context.ts';
import { startBench } from './lib/setup.ts';
import { fmt, markdownTable, type Row, type Summary, targetsOf, writeResults } from './lib/report.ts';
import type { SideSummary } from './lib/rounds.ts';

/**
 * `npm run bench` (after `npm run build`): the measurements of issues 7 and 17 in one run on one
 * machine, each next to its peer or baseline. For each catalog size (1,000, 10,000 and 100,000
 * generated tools, seeded in bulk) it starts the built registry as a child process on a scratch
 * database of its own (BENCH_DATABASE_URL: a PostgreSQL server it may create and drop `bench_*`
 * databases on; else embedded PGlite), measures, and writes bench/results/latest.json and latest.md.
 * BENCH_REDIS_URL puts budgets and limits in Redis; BENCH_QUICK=1 shortens every run (for trying the
 * harness, not for figures); BENCH_REGISTRY_NODE_ARGS passes Node flags to the registry children, and
 * BENCH_REGISTRY_ENV (a JSON object) more settings to them.
 * Either writes bench/results/experiment.* instead. BENCH_ONLY=openapi runs only the large OpenAPI
 * import (on a 1,000-tool registry), BENCH_ONLY=execute only the `executeTool` figures (on a 10,000-tool
 * registry), BENCH_ONLY=search only the search measure (10,000 and 100,000 tools, the labelled set on the
 * latter), BENCH_ONLY=catalog only the catalog comparison at 10,000 tools (hits, misses, the peer and
 * the floor); each prints its figures and writes nothing.
 */

const RESULTS = new URL('./results/', import.meta.url);
const started = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);

const quick = process.env.BENCH_QUICK === '1';
const settings: Settings = quick
  ? { rounds: 2, roundS: 3, latencyRoundS: 2, connections: 10, warmupS: 1, searchesPerRound: 40 }
  : { rounds: 4, roundS: 5, latencyRoundS: 4, connections: 10, warmupS: 2, searchesPerRound: 120 };
const shieldOptions = quick ? { rounds: 6, batch: 10 } : { rounds: 20, batch: 20 };

function machine() {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return { cpu, cores: availableParallelism(), memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform, commit };
}

/** Per-size search figures as the search benchmark returns them (entries keyed by catalog size). */
type SearchAtSize = { p50: number; p99: number };

/**
 * The search benchmark's figures for the summary: p99 at 100k and the growth from 10k, computed here
 * from its per-size entries; then every top-level numeric property it returns whose name starts
 * with `search` (e.g. `searchTop3`), which is copied as is and wins over the computed ones.
 */
function searchFigures(search: object): { at: (size: number) => SearchAtSize | undefined; figures: Record<string, number> } {
  const fields = search as Record<string, unknown>;
  const at = (size: number) => {
    const entry = fields[size] as Partial<SearchAtSize> | undefined;
    return entry && typeof entry.p99 === 'number' ? { p50: entry.p50 ?? Number.NaN, p99: entry.p99 } : undefined;
  };
  const p99 = (size: number) => at(size)?.p99 ?? Number.NaN;
  const figures: Record<string, number> = { searchP99Ms100k: p99(100_000), searchGrowth10kTo100k: p99(100_000) / p99(10_000), searchTop3: Number.NaN };
  for (const [key, value] of Object.entries(fields)) {
    if (key.startsWith('search') && (typeof value === 'number' || value === null)) figures[key] = value ?? Number.NaN;
  }
  return { at, figures };
}

/** How each figure the search benchmark adds is described in latest.md (others by their name). */
const SEARCH_MEASURES: Record<string, string> = {
  searchTop3: 'Search relevance: top-3 hit rate over the labelled query set',
};

/** The large OpenAPI import's rows of latest.md. */
function openApiRows(openapi: OpenApiImportResult): Row[] {
  const what = `GitHub's api.github.com description (${fmt(openapi.documentBytes / 2 ** 20, 1)} MB, ${openapi.tools.toLocaleString('en-US')} tools, ${openapi.warnings} warnings) registered by URL, default settings, 1k-tool registry`;
  return [
    { measure: `Large OpenAPI import: ${what}`, registry: `${fmt(openapi.importMs, 0)} ms`, baseline: '—', key: 'openapiImportMs', figure: `${fmt(openapi.importMs / 1000, 1)} s` },
    {
      measure: 'Large OpenAPI import: registry peak resident-memory growth while importing (sampled every 20 ms)',
      registry: `${fmt(openapi.rssGrowthMb, 0)} MB`,
      baseline: `before: ${fmt(openapi.rssBeforeMb, 0)} MB, peak ${fmt(openapi.rssPeakMb, 0)} MB`,
      key: 'openapiImportRssMb',
      figure: `${fmt(openapi.rssGrowthMb, 0)} MB`,
    },
  ];
}

/** BENCH_ONLY=openapi: only the large OpenAPI import, on one 1,000-tool registry; prints, writes nothing. */
async function openApiOnly(): Promise<void> {
  const logFile = fileURLToPath(new URL('registry.log', RESULTS));
  const bench = await startBench({ settings, sizes: [1_000], logFile, log });
  try {
    log('large OpenAPI import by URL');
    const openapi = await measureOpenApiImport(bench.ctx(bench.site(1_000)));
    const summary = { openapiImportMs: openapi.importMs, openapiImportRssMb: openapi.rssGrowthMb } as unknown as Summary;
    process.stdout.write(`\n${markdownTable(openApiRows(openapi), summary)}\n${JSON.stringify(openapi)}\n`);
  } finally {
    await bench.close();
  }
}

/**
 * BENCH_ONLY=execute: only the `executeTool` figures (added latency, throughput against the peer), on one
 * 10,000-tool registry; prints, writes nothing.
 */
async function executeOnly(): Promise<void> {
  const logFile = fileURLToPath(new URL('registry.log', RESULTS));
  const bench = await startBench({ settings, sizes: [10_000], logFile, log });
  try {
    const tool = await echoTool(bench.ctx(bench.site(10_000)));
    try {
      log('execute overhead, and throughput against the bare Apollo peer');
      const execute = await measureExecute(bench.ctx(bench.site(10_000)), tool);
      const { latency, throughput } = execute;
      process.stdout.write(
        `\nexecute added p50 +${fmt(latency.addedP50, 2)} ms, p99 +${fmt(latency.addedP99, 2)} ms (registry p50 ${fmt(latency.registry.p50, 2)}, p99 ${fmt(latency.registry.p99, 2)});` +
          ` ${fmt(throughput.registry.rps, 0)} calls/s, ${fmt(throughput.vsPeer, 3)} × peer (${fmt(throughput.peer.rps, 0)}); records complete: ${execute.recordsComplete}\n`,
      );
    } finally {
      await tool.echo.stop();
    }
  } finally {
    await bench.close();
  }
}

/**
 * BENCH_ONLY=search: only the search measure, as the full run does it (the labelled set registered on
 * the 100,000-tool registry first, then the interleaved rounds) but at 10,000 and 100,000 tools only;
 * prints p50/p99 per size, the growth and the top-3 rate (with the misses), writes nothing.
 */
async function searchOnly(): Promise<void> {
  const logFile = fileURLToPath(new URL('registry.log', RESULTS));
  const sizes = [10_000, 100_000];
  const bench = await startBench({ settings, sizes, logFile, log });
  try {
    log('search relevance over the labelled set, on the 100,000-tool registry');
    const relevance = await measureRelevance(bench.ctx(bench.site(100_000)), 100_000);
    log('search at 10,000 and 100,000 tools, interleaved');
    const search = await measureSearch(bench.sites.map((site) => ({ size: site.size, ctx: bench.ctx(site) })));
    const lines = sizes.map((n) => {
      const at = search[n]!;
      return `${n.toLocaleString('en-US').padStart(7)} tools: p50 ${fmt(at.p50, 2)} ms · p99 ${fmt(at.p99, 2)} ms · ${at.samples} searches (${at.empty} empty, ${at.fullPages} full pages)`;
    });
    const growth = search[100_000]!.p99 / search[10_000]!.p99;
    process.stdout.write(
      `\nSearch, 1 connection, ${search[100_000]!.distinctQueries} distinct queries per size\n${lines.join('\n')}\n` +
        `growth 10k → 100k (p99): ${fmt(growth, 2)}×\ntop3: ${fmt(relevance.top3, 3)} over ${relevance.queries} labelled queries; misses: ${JSON.stringify(relevance.misses)}\n`,
    );
  } finally {
    await bench.close();
  }
}

/** BENCH_ONLY=catalog: only the catalog comparison, on one 10,000-tool registry; prints, writes nothing. */
async function catalogOnly(): Promise<void> {
  const logFile = fileURLToPath(new URL('registry.log', RESULTS));
  const bench = await startBench({ settings, sizes: [10_000], logFile, log });
  try {
    log('catalog read at 10,000 tools: cache hits, cache misses, the bare Apollo peer and the node:http floor');
    const catalog = await measureCatalog(bench.ctx(bench.site(10_000)), 10_000);
    const rps = (s: SideSummary) => `${fmt(s.rps, 0)} req/s`;
    process.stdout.write(
      [
        `peer ${rps(catalog.peer)}, floor ${rps(catalog.floor)}, hits ${rps(catalog.hit)}, misses ${rps(catalog.miss)}`,
        `catalogHitVsPeer ${fmt(catalog.hitVsPeer, 3)}, catalogMissVsPeer ${fmt(catalog.missVsPeer, 3)}, catalogRatio ${fmt(catalog.hitVsFloor, 3)}`,
        JSON.stringify(catalog),
        '',
      ].join('\n'),
    );
  } finally {
    await bench.close();
  }
}

async function main(): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  if (process.env.BENCH_ONLY === 'openapi') return openApiOnly();
  if (process.env.BENCH_ONLY === 'execute') return executeOnly();
  if (process.env.BENCH_ONLY === 'search') return searchOnly();
  if (process.env.BENCH_ONLY === 'catalog') return catalogOnly();
  const logFile = fileURLToPath(new URL('registry.log', RESULTS));
  log('setting up one database and registry per catalog size');
  const bench = await startBench({ settings, sizes: [1_000, 10_000, 100_000], logFile, log });
  const { redisUrl } = bench;
  const main = bench.site(10_000);
  const large = bench.site(100_000);
  const ctx = bench.ctx(main);
  const db = main.db;
  const seedSeconds = Object.fromEntries(bench.sites.map((s) => [s.size, s.seedSeconds]));
  let search: object;
  let relevance: RelevanceResult;
  let catalog: CatalogResult;
  let catalog100k: SideSummary;
  let shield: ShieldResult;
  let sql: SqlResult;
  let execute: ExecuteResult;
  let attack: AttackResult;
  let rejectInProcess: Awaited<ReturnType<typeof measureRejectInProcess>>;
  let memory: MemoryResult;
  let underLoad: MemoryUnderLoadResult;
  let openapi: OpenApiImportResult;
  const memorySamples: MemorySample[] = [];
  const sample = (at: string) => sampleMemory(large.registry, at, memorySamples);
  try {
    await sample('100k registry started and seeded');
    log('catalog read at 10,000 tools: cache hits, cache misses, the bare Apollo peer and the node:http floor');
    catalog = await measureCatalog(ctx, 10_000);
    log(`catalog: peer ${fmt(catalog.peer.rps, 0)} req/s, hits ${fmt(catalog.hitVsPeer, 3)} × peer, misses ${fmt(catalog.missVsPeer, 3)} × peer`);
    log('shield rule tree, in process, at 10,000 tools');
    shield = await main.exclusive(() => measureShield(main.env, main.agent, 10_000, shieldOptions));
    const tool = await echoTool(ctx);
    try {
      log('SQL statements per request, on a second registry through a counting proxy');
      sql = await measureSql(main, ctx, tool.viaRegistry, logFile, quick ? 50 : 200);
      log(`SQL statements: ${fmt(sql.catalogPerHit, 2)} per catalog hit, ${fmt(sql.catalogPerMiss, 2)} per miss, ${fmt(sql.executePerCall, 2)} per executeTool`);
      log('execute overhead, and throughput against the bare Apollo peer');
      execute = await measureExecute(ctx, tool);
      log(`execute: +${fmt(execute.latency.addedP50, 2)} ms p50, ${fmt(execute.throughput.vsPeer, 3)} × peer (${fmt(execute.throughput.peer.rps, 0)} calls/s)`);
      log('resident memory at 10,000 tools under a mixed load (catalog, search, executions, token requests)');
      underLoad = await memoryUnderLoad(ctx, tool, 10_000, { quick, databaseInProcess: db.kind === 'pglite' });
      log(`memory under load: ${fmt(underLoad.rssMbUnderLoad, 0)} MB steady, ${fmt(underLoad.maxRssMb, 0)} MB at most (${fmt(underLoad.rps, 0)} req/s)`);
    } finally {
      await tool.echo.stop();
    }
    log('under attack (legitimate traffic missing the cache)');
    attack = await measureAttack(ctx);
    rejectInProcess = await measureRejectInProcess(Object.fromEntries(Object.entries(HOSTILE).map(([k, v]) => [k, v.query])));
    log('search at 1,000, 10,000 and 100,000 tools, interleaved');
    relevance = await measureRelevance(bench.ctx(large), 100_000);
    search = await measureSearch(bench.sites.map((site) => ({ size: site.size, ctx: bench.ctx(site) })));
    await sample('100k registry after the search rounds');
    log('catalog read at 100,000 tools');
    catalog100k = await catalogThroughput(bench.ctx(large), 2);
    memory = await measureMemory(large.registry, 100_000, db.kind === 'pglite', quick ? 3 : 10);
    // Last: it adds 1,223 tools to the 1k registry, which the search rounds above measured as it was.
    log('large OpenAPI import by URL, on the 1,000-tool registry');
    openapi = await measureOpenApiImport(bench.ctx(bench.site(1_000)));
    log(`OpenAPI import: ${fmt(openapi.importMs / 1000, 1)} s, +${fmt(openapi.rssGrowthMb, 0)} MB resident`);
  } finally {
    await bench.close();
  }

  // Calls that left no execution row or audit entry would make the comparisons meaningless.
  const complete = (value: number) => (execute.recordsComplete ? value : Number.NaN);
  const searched = searchFigures(search);
  const summary: Summary = {
    peerCatalogRps: catalog.peer.rps,
    catalogHitVsPeer: catalog.hitVsPeer,
    catalogMissVsPeer: catalog.missVsPeer,
    catalogSqlPerHit: sql.catalogPerHit,
    executeSqlPerCall: sql.executePerCall,
    executeAddedP50Ms: execute.latency.addedP50,
    executeAddedP99Ms: execute.latency.addedP99,
    peerExecuteRps: execute.throughput.peer.rps,
    executeVsPeer: complete(execute.throughput.vsPeer),
    searchP99Ms100k: Number.NaN,
    searchGrowth10kTo100k: Number.NaN,
    ...searched.figures,
    searchTop3: relevance.top3,
    attackP99Ratio: attack.p99Ratio,
    rejectP50Ms: attack.reject.p50Ms,
    rejectP99Ms: attack.reject.p99Ms,
    shieldOverhead: shield.overhead,
    rssMb100k: memory.rssMb,
    rssMbUnderLoad: underLoad.rssMbUnderLoad,
    openapiImportMs: openapi.importMs,
    openapiImportRssMb: openapi.rssGrowthMb,
  };
  /** Figures replaced by issue 17's: kept in the results and in latest.md, not judged. */
  const secondary = {
    catalogRatio: catalog.hitVsFloor,
    executeThroughputRatio: complete(execute.throughput.vsDirect),
    catalogSqlPerMiss: sql.catalogPerMiss,
  };
  const ms = (s: { p50: number; p99: number }) => `p50 ${fmt(s.p50, 2)} ms · p99 ${fmt(s.p99, 2)} ms`;
  const rps = (s: SideSummary) => `${fmt(s.rps, 0)} req/s · ${ms(s)}`;
  const sizes = [1_000, 10_000, 100_000];
  const searchAt = (n: number, key: keyof SearchAtSize) => fmt(searched.at(n)?.[key] ?? Number.NaN, 1);
  const conn = `${settings.connections} connections`;
  const peerCatalog = `bare Apollo Server 5, same page from memory: ${rps(catalog.peer)}`;
  const counted = sql.counted ? `${sql.catalogRequests} sequential requests` : 'PostgreSQL only: not counted on PGlite';
  const rows: Row[] = [
    {
      measure: `Catalog read \`tools(first: 50)\` + providers, tags; 10k tools, ${conn}: the same request (catalog cache hits)`,
      registry: rps(catalog.hit),
      baseline: peerCatalog,
      key: 'catalogHitVsPeer',
      figure: `${fmt(catalog.hitVsPeer, 2)} × peer`,
    },
    {
      measure: `Catalog read, every request distinct (an undeclared \`nonce\` variable unique per request: cache misses), ${conn}`,
      registry: rps(catalog.miss),
      baseline: peerCatalog,
      key: 'catalogMissVsPeer',
      figure: `${fmt(catalog.missVsPeer, 2)} × peer`,
    },
    {
      measure: `SQL statements per catalog cache hit (on the wire, ${counted})`,
      registry: fmt(sql.catalogPerHit, 2),
      baseline: `per miss: ${fmt(sql.catalogPerMiss, 2)}; idle registry: ${fmt(sql.idlePerS, 1)} per s`,
      key: 'catalogSqlPerHit',
      figure: fmt(sql.catalogPerHit, 2),
    },
    {
      measure: `SQL statements per \`executeTool\` call (on the wire, ${sql.counted ? `${sql.executeRequests} sequential calls` : 'PostgreSQL only: not counted on PGlite'})`,
      registry: fmt(sql.executePerCall, 2),
      baseline: `idle registry: ${fmt(sql.idlePerS, 1)} per s`,
      key: 'executeSqlPerCall',
      figure: fmt(sql.executePerCall, 2),
    },
    {
      measure: '`executeTool` (http echo, SYNC) added p50, 1 connection',
      registry: ms(execute.latency.registry),
      baseline: `echo direct: ${ms(execute.latency.direct)}`,
      key: 'executeAddedP50Ms',
      figure: `+${fmt(execute.latency.addedP50, 2)} ms`,
    },
    {
      measure: '`executeTool` added p99, 1 connection',
      registry: `p99 ${fmt(execute.latency.registry.p99, 2)} ms`,
      baseline: `p99 ${fmt(execute.latency.direct.p99, 2)} ms`,
      key: 'executeAddedP99Ms',
      figure: `+${fmt(execute.latency.addedP99, 2)} ms`,
    },
    {
      measure: `\`executeTool\` throughput, ${conn} (${execute.calls} calls answered; ${execute.executionRows} execution rows, ${execute.auditEntries} audit entries${execute.recordsComplete ? '' : ': MISMATCH'})`,
      registry: rps(execute.throughput.registry),
      baseline: `bare Apollo Server 5 mutation forwarding to the echo server: ${rps(execute.throughput.peer)}`,
      key: 'executeVsPeer',
      figure: `${fmt(summary.executeVsPeer, 3)} × peer`,
    },
    {
      measure: 'Search p99, 1 connection (1k / 10k / 100k tools)',
      registry: sizes.map((n) => searchAt(n, 'p99')).join(' / ') + ' ms',
      baseline: `p50 ${sizes.map((n) => searchAt(n, 'p50')).join(' / ')} ms`,
      key: 'searchP99Ms100k',
      figure: `${fmt(summary.searchP99Ms100k, 1)} ms at 100k`,
    },
    {
      measure: 'Search growth 10k → 100k tools (p99)',
      registry: `${searchAt(100_000, 'p99')} ms`,
      baseline: `${searchAt(10_000, 'p99')} ms at 10k`,
      key: 'searchGrowth10kTo100k',
      figure: `${fmt(summary.searchGrowth10kTo100k, 2)}×`,
    },
    ...Object.keys(searched.figures)
      .filter((key) => key !== 'searchP99Ms100k' && key !== 'searchGrowth10kTo100k')
      .map((key) => ({ measure: SEARCH_MEASURES[key] ?? `Search: \`${key}\``, registry: fmt(summary[key]!, 3), baseline: '—', key, figure: fmt(summary[key]!, 3) })),
    {
      measure: `Legit catalog p99, every request distinct (cache misses; ${attack.legit.connections} conn, ≤ ${attack.legit.rate} req/s) while ${attack.attackConnections} connections flood hostile queries (${fmt(attack.attackRps, 0)} refusals/s)`,
      registry: `p99 ${fmt(attack.legit.attacked.p99, 2)} ms`,
      baseline: `no attack: p99 ${fmt(attack.legit.baseline.p99, 2)} ms`,
      key: 'attackP99Ratio',
      figure: `${fmt(attack.p99Ratio, 2)}×`,
    },
    {
      measure: 'Rejection latency of one hostile query, p50 (1 connection, sequential, loopback included; worst of deep / aliases / cost)',
      registry: Object.entries(attack.reject.byKind).map(([k, v]) => `${k} ${fmt(v.p50, 2)}`).join(' · ') + ' ms',
      baseline: `GET /healthz: ${ms(attack.reject.healthz)}`,
      key: 'rejectP50Ms',
      figure: `${fmt(attack.reject.p50Ms, 2)} ms`,
    },
    {
      measure: 'Rejection latency of one hostile query, p99 (worst kind)',
      registry: Object.entries(attack.reject.byKind).map(([k, v]) => `${k} ${fmt(v.p99, 2)}`).join(' · ') + ' ms',
      baseline: `in process (parse, validate, cost; p50): ${Object.values(rejectInProcess).map((v) => fmt(v.ms, 2)).join(' / ')} ms`,
      key: 'rejectP99Ms',
      figure: `${fmt(attack.reject.p99Ms, 2)} ms`,
    },
    {
      measure: 'Shield rule tree on the catalog query (in process, 10k tools)',
      registry: `${fmt(shield.withShieldMs, 3)} ms`,
      baseline: `without: ${fmt(shield.withoutShieldMs, 3)} ms`,
      key: 'shieldOverhead',
      figure: `${shield.overhead >= 0 ? '+' : ''}${fmt(shield.overhead * 100, 1)}%`,
    },
    {
      measure: `Resident memory of the registry${memory.processes > 1 ? ` (${memory.processes} processes)` : ''} with 100k tools, after its search and catalog runs${memory.databaseInProcess ? ' (PGlite in process)' : ''}`,
      registry: `${fmt(memory.rssMb, 0)} MB (peak of the run ${memory.peakRssMb === null ? 'n/a' : fmt(memory.peakRssMb, 0)} MB; ${fmt(memory.idleRssMb, 0)} MB after ${memory.idleS} s idle)`,
      baseline: `catalog read at 100k (hits): ${rps(catalog100k)}`,
      key: 'rssMb100k',
      figure: `${fmt(memory.rssMb, 0)} MB`,
    },
    {
      measure: `Resident memory of the registry with 10k tools under a mixed load (${underLoad.mix.join(', ')}; ≤ ${underLoad.rateCap} req/s, ${fmt(underLoad.durationS, 0)} s): median of the second half${underLoad.databaseInProcess ? ' (PGlite in process)' : ''}`,
      registry: `${fmt(underLoad.rssMbUnderLoad, 0)} MB (at most ${fmt(underLoad.maxRssMb, 0)} MB; ${fmt(underLoad.rps, 0)} req/s served)`,
      baseline: `before the load: ${fmt(underLoad.startRssMb, 0)} MB`,
      key: 'rssMbUnderLoad',
      figure: `${fmt(underLoad.rssMbUnderLoad, 0)} MB`,
    },
    ...openApiRows(openapi),
  ];
  const secondaryRows: Row[] = [
    {
      measure: 'Catalog cache hits against a bare `node:http` server writing the registry\'s captured response bytes (`catalogRatio`)',
      registry: rps(catalog.hit),
      baseline: `bare node:http: ${rps(catalog.floor)}`,
      figure: `${fmt(secondary.catalogRatio, 3)} × floor`,
    },
    {
      measure: '`executeTool` throughput against POSTing to the echo server directly (`executeThroughputRatio`)',
      registry: rps(execute.throughput.registry),
      baseline: `echo direct: ${rps(execute.throughput.direct)}`,
      figure: `${fmt(secondary.executeThroughputRatio, 3)} × direct`,
    },
  ];
  const durationS = (performance.now() - started) / 1000;
  const description = db.description.replace(/, scratch database .*/, '').replace(/, data directory .*/, '');
  const env_ = machine();
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} at commit ${env_.commit}: ${env_.cores} cores (${env_.cpu}), ${env_.memoryGb} GB, Node ${env_.node};`,
    `${db.kind === 'postgresql' ? description : 'embedded PGlite in the registry process'}${redisUrl ? ' and Redis' : ', no Redis'}; autocannon 9 on loopback; run took ${fmt(durationS / 60, 1)} min.`,
  ].join(' ');
  const markdown = `${header}\n\n${markdownTable(rows, summary)}\nSecondary figures (replaced by the peer comparisons above; not judged):\n\n${markdownTable(secondaryRows, summary)}`;
  // Only a full run with the registry's own settings replaces the tracked results.
  const experiment = quick || Boolean(process.env.BENCH_REGISTRY_NODE_ARGS) || Boolean(process.env.BENCH_REGISTRY_ENV);
  const paths = await writeResults(RESULTS, experiment ? 'experiment' : 'latest', {
    summary,
    targets: targetsOf(summary),
    secondary,
    environment: { ...env_, registryNodeArgs: process.env.BENCH_REGISTRY_NODE_ARGS ?? '', database: db.kind, databaseDescription: description, redis: Boolean(redisUrl), quick, settings, shieldOptions, loadGenerator: 'autocannon 9, pipelining 1, loopback' },
    durationS,
    raw: { seedSeconds, catalog, catalog100k, sql, search, relevance, shield, execute, attack, rejectInProcess, memory, memorySamples, underLoad, openapi },
  }, markdown);
  process.stdout.write(`\n${markdown}\nWritten ${paths.json} and ${paths.markdown} in ${fmt(durationS, 0)} s.\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
