import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type AttackResult, HOSTILE, measureAttack } from './attack.ts';
import { type CatalogResult, catalogThroughput, measureCatalog } from './catalog.ts';
import { type ExecuteResult, measureExecute } from './execute.ts';
import { measureMemory, type MemoryResult, type MemorySample, sampleMemory } from './memory.ts';
import { measureRelevance, measureSearch, type RelevanceResult, type SearchResult } from './search.ts';
import { measureRejectInProcess, measureShield, type ShieldResult } from './shield.ts';
import type { Settings } from './lib/context.ts';
import { startBench } from './lib/setup.ts';
import { fmt, markdownTable, meets, type Row, type Summary, TARGETS, writeResults } from './lib/report.ts';
import type { SideSummary } from './lib/rounds.ts';

/**
 * `npm run bench` (after `npm run build`): the measurements of issue 7 in one run on one machine,
 * each next to its floor or baseline. For each catalog size (1,000, 10,000 and 100,000 generated
 * tools, seeded in bulk) it starts the built registry as a child process on a scratch database of
 * its own (BENCH_DATABASE_URL: a PostgreSQL server it may create and drop `bench_*` databases on;
 * else embedded PGlite), measures, and writes bench/results/latest.json and latest.md. BENCH_REDIS_URL puts budgets and limits in Redis;
 * BENCH_QUICK=1 shortens every run (for trying the harness, not for figures); BENCH_REGISTRY_NODE_ARGS
 * passes Node flags to the registry children. Either writes bench/results/experiment.* instead.
 */

const RESULTS = new URL('./results/', import.meta.url);
const started = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);

const quick = process.env.BENCH_QUICK === '1';
const settings: Settings = quick
  ? { rounds: 2, roundS: 2, latencyRoundS: 2, connections: 10, warmupS: 1, searchesPerRound: 40 }
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

async function main(): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  log('setting up one database and registry per catalog size');
  const bench = await startBench({ settings, sizes: [1_000, 10_000, 100_000], logFile: fileURLToPath(new URL('registry.log', RESULTS)), log });
  const { redisUrl } = bench;
  const main = bench.site(10_000);
  const large = bench.site(100_000);
  const ctx = bench.ctx(main);
  const db = main.db;
  const seedSeconds = Object.fromEntries(bench.sites.map((s) => [s.size, s.seedSeconds]));
  let search: Record<number, SearchResult>;
  let relevance: RelevanceResult;
  let catalog: CatalogResult;
  let catalog100k: SideSummary;
  let shield: ShieldResult;
  let execute: ExecuteResult;
  let attack: AttackResult;
  let rejectInProcess: Awaited<ReturnType<typeof measureRejectInProcess>>;
  let memory: MemoryResult;
  const memorySamples: MemorySample[] = [];
  const sample = (at: string) => sampleMemory(large.registry, at, memorySamples);
  try {
    await sample('100k registry started and seeded');
    log('catalog read against its floor at 10,000 tools');
    catalog = await measureCatalog(ctx, 10_000);
    log('shield rule tree, in process, at 10,000 tools');
    shield = await main.exclusive(() => measureShield(main.env, main.agent, 10_000, shieldOptions));
    log('execute overhead');
    execute = await measureExecute(ctx);
    log('under attack');
    attack = await measureAttack(ctx);
    rejectInProcess = await measureRejectInProcess(Object.fromEntries(Object.entries(HOSTILE).map(([k, v]) => [k, v.query])));
    log('search at 1,000, 10,000 and 100,000 tools, interleaved');
    relevance = await measureRelevance(bench.ctx(large), 100_000);
    search = await measureSearch(bench.sites.map((site) => ({ size: site.size, ctx: bench.ctx(site) })));
    await sample('100k registry after the search rounds');
    log('catalog read at 100,000 tools');
    catalog100k = await catalogThroughput(bench.ctx(large), 2);
    memory = await measureMemory(large.registry, 100_000, db.kind === 'pglite', quick ? 3 : 10);
  } finally {
    await bench.close();
  }

  const summary: Summary = {
    catalogRatio: catalog.ratio,
    searchP99Ms100k: search[100_000]!.p99,
    searchGrowth10kTo100k: search[100_000]!.p99 / search[10_000]!.p99,
    searchTop3: relevance.top3,
    executeAddedP50Ms: execute.latency.addedP50,
    executeAddedP99Ms: execute.latency.addedP99,
    // Calls that left no execution row or audit entry would make the comparison meaningless.
    executeThroughputRatio: execute.recordsComplete ? execute.throughput.ratio : Number.NaN,
    attackP99Ratio: attack.p99Ratio,
    rejectMs: attack.reject.worstMs,
    shieldOverhead: shield.overhead,
    rssMb100k: memory.rssMb,
  };
  const ms = (s: { p50: number; p99: number }) => `p50 ${fmt(s.p50, 2)} ms · p99 ${fmt(s.p99, 2)} ms`;
  const rps = (s: SideSummary) => `${fmt(s.rps, 0)} req/s · ${ms(s)}`;
  const rows: Row[] = [
    {
      measure: `Catalog read \`tools(first: 50)\` + providers, tags; 10k tools, ${settings.connections} connections`,
      registry: rps(catalog.registry),
      baseline: `bare node:http: ${rps(catalog.floor)}`,
      key: 'catalogRatio',
      figure: `${fmt(catalog.ratio, 3)} × floor`,
    },
    {
      measure: 'Search p99, 1 connection (1k / 10k / 100k tools)',
      registry: [1_000, 10_000, 100_000].map((n) => `${fmt(search[n]!.p99, 1)}`).join(' / ') + ' ms',
      baseline: `p50 ${[1_000, 10_000, 100_000].map((n) => fmt(search[n]!.p50, 1)).join(' / ')} ms`,
      key: 'searchP99Ms100k',
      figure: `${fmt(summary.searchP99Ms100k, 1)} ms at 100k`,
    },
    {
      measure: 'Search growth 10k → 100k tools (p99)',
      registry: `${fmt(search[100_000]!.p99, 1)} ms`,
      baseline: `${fmt(search[10_000]!.p99, 1)} ms at 10k`,
      key: 'searchGrowth10kTo100k',
      figure: `${fmt(summary.searchGrowth10kTo100k, 2)}×`,
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
      measure: `\`executeTool\` throughput, ${settings.connections} connections (${execute.calls} calls answered; ${execute.executionRows} execution rows, ${execute.auditEntries} audit entries${execute.recordsComplete ? '' : ': MISMATCH'})`,
      registry: rps(execute.throughput.registry),
      baseline: `echo direct: ${rps(execute.throughput.direct)}`,
      key: 'executeThroughputRatio',
      figure: `${fmt(summary.executeThroughputRatio, 3)} × direct`,
    },
    {
      measure: `Legit catalog p99 (${attack.legit.connections} conn, ≤ ${attack.legit.rate} req/s) while ${attack.attackConnections} connections flood hostile queries (${fmt(attack.attackRps, 0)} refusals/s)`,
      registry: `p99 ${fmt(attack.legit.attacked.p99, 2)} ms`,
      baseline: `no attack: p99 ${fmt(attack.legit.baseline.p99, 2)} ms`,
      key: 'attackP99Ratio',
      figure: `${fmt(attack.p99Ratio, 2)}×`,
    },
    {
      measure: 'Refuse one hostile query (server time: p50 minus `GET /healthz` p50; worst of deep / aliases / cost)',
      registry: Object.entries(attack.reject.byKind).map(([k, v]) => `${k} ${fmt(v.addedMs, 2)}`).join(' · ') + ' ms',
      baseline: `healthz p50 ${fmt(attack.reject.healthzP50, 2)} ms; in process ${Object.values(rejectInProcess).map((v) => fmt(v.ms, 2)).join(' / ')} ms`,
      key: 'rejectMs',
      figure: `${fmt(attack.reject.worstMs, 2)} ms`,
    },
    {
      measure: 'Shield rule tree on the catalog query (in process, 10k tools)',
      registry: `${fmt(shield.withShieldMs, 3)} ms`,
      baseline: `without: ${fmt(shield.withoutShieldMs, 3)} ms`,
      key: 'shieldOverhead',
      figure: `${shield.overhead >= 0 ? '+' : ''}${fmt(shield.overhead * 100, 1)}%`,
    },
    {
      measure: `Resident memory of the registry with 100k tools, after its search and catalog runs${memory.databaseInProcess ? ' (PGlite in process)' : ''}`,
      registry: `${fmt(memory.rssMb, 0)} MB (peak of the run ${memory.peakRssMb === null ? 'n/a' : fmt(memory.peakRssMb, 0)} MB; ${fmt(memory.idleRssMb, 0)} MB after ${memory.idleS} s idle)`,
      baseline: `catalog read at 100k: ${rps(catalog100k)}`,
      key: 'rssMb100k',
      figure: `${fmt(memory.rssMb, 0)} MB`,
    },
  ];
  const durationS = (performance.now() - started) / 1000;
  const description = db.description.replace(/, scratch database .*/, '').replace(/, data directory .*/, '');
  const env_ = machine();
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} at commit ${env_.commit}: ${env_.cores} cores (${env_.cpu}), ${env_.memoryGb} GB, Node ${env_.node};`,
    `${db.kind === 'postgresql' ? description : 'embedded PGlite in the registry process'}${redisUrl ? ' and Redis' : ', no Redis'}; autocannon 9 on loopback; run took ${fmt(durationS / 60, 1)} min.`,
  ].join(' ');
  const markdown = `${header}\n\n${markdownTable(rows, summary)}`;
  // Only a full run with the registry's own settings replaces the tracked results.
  const experiment = quick || Boolean(process.env.BENCH_REGISTRY_NODE_ARGS);
  const paths = await writeResults(RESULTS, experiment ? 'experiment' : 'latest', {
    summary,
    targets: Object.fromEntries(Object.entries(TARGETS).map(([k, t]) => [k, { target: t.text, met: meets(k as keyof Summary, summary[k as keyof Summary]) }])),
    environment: { ...env_, registryNodeArgs: process.env.BENCH_REGISTRY_NODE_ARGS ?? '', database: db.kind, databaseDescription: description, redis: Boolean(redisUrl), quick, settings, shieldOptions, loadGenerator: 'autocannon 9, pipelining 1, loopback' },
    durationS,
    raw: { seedSeconds, catalog, catalog100k, search, relevance, shield, execute, attack, rejectInProcess, memory, memorySamples },
  }, markdown);
  process.stdout.write(`\n${markdown}\nWritten ${paths.json} and ${paths.markdown} in ${fmt(durationS, 0)} s.\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
