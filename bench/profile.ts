import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CATALOG_QUERY } from './catalog.ts';
import { echoTool } from './execute.ts';
import { graphqlRequest, type Settings } from './lib/context.ts';
import { expectAll, type RequestSpec } from './lib/load.ts';
import { StatementCounter } from './lib/pg-counter.ts';
import { accessToken, graphql } from './lib/registry.ts';
import { startBench } from './lib/setup.ts';

/**
 * `npm run bench:profile [-- catalog|execute] [--no-cache]`: where the registry's time goes. Starts the built
 * registry with `--cpu-prof` on a 10,000-tool catalog, loads it as the non-admin agent with the
 * catalog read `tools(first: 50)` (default) or `executeTool` on the echo tool, counts the SQL
 * statements per request (PostgreSQL only), stops it (the profile is written on exit) and prints
 * the heaviest modules and functions by self and inclusive time, from the samples of the load window
 * only, to stdout and bench/results/profile-<target>.md. `--no-cache` restarts the registry with its
 * catalog cache off (`REGISTRY_CATALOG_CACHE_MB=0`), so every catalog read takes the miss path; its
 * report goes to profile-<target>-no-cache.md. BENCH_PROFILE_SECONDS: load length (15).
 */

const RESULTS = new URL('./results/', import.meta.url);
const PROFILES = new URL('./results/profiles/', import.meta.url);
const started = performance.now();
const log = (message: string) => process.stderr.write(`[profile ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);
const seconds = Number(process.env.BENCH_PROFILE_SECONDS ?? 15);
const args = process.argv.slice(2);
const noCache = args.includes('--no-cache');
const target = args.find((a) => !a.startsWith('--')) ?? 'catalog';
if ((target !== 'catalog' && target !== 'execute') || args.some((a) => a.startsWith('--') && a !== '--no-cache')) {
  process.stderr.write('usage: npm run bench:profile [-- catalog|execute] [--no-cache]\n');
  process.exit(2);
}
const settings: Settings = { rounds: 1, roundS: seconds, latencyRoundS: seconds, connections: 10, warmupS: 2, searchesPerRound: 0 };

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock that `process.hrtime` reads too. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now on the monotonic clock, in microseconds (comparable with a profile's sample times). */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Where a frame belongs: an npm package, a registry source file, Node internals or a V8 pseudo-frame. */
function moduleOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const src = /\/dist\/(src\/.+)\.js$/.exec(url);
  if (src) return `${src[1]}.ts`;
  if (url.startsWith('node:')) return 'node: internals';
  return url.replace(/^file:\/\//, '');
}

type Frame = ProfileNode['callFrame'];

/** Named parts of the request path; a sample counts for each part that is on its stack. */
const HOT_SPOTS: [string, (f: Frame) => boolean][] = [
  ['MikroORM (all of @mikro-orm/*)', (f) => f.url.includes('/@mikro-orm/')],
  ['em.map: raw rows to managed entities (ToolService.list, findReadable)', (f) => f.functionName === 'map' && f.url.endsWith('/@mikro-orm/core/EntityManager.js')],
  ['node-postgres and its socket writes', (f) => /\/node_modules\/pg(-protocol|-pool|-types)?\//.test(f.url) || f.functionName === 'writeBuffer'],
  ['kysely (MikroORM 7 query execution)', (f) => f.url.includes('/node_modules/kysely/')],
  ['graphql-js execution', (f) => f.url.includes('/node_modules/graphql/execution/')],
  ['graphql-js validation', (f) => f.url.includes('/node_modules/graphql/validation/')],
  ['graphql-js parser', (f) => f.url.includes('/node_modules/graphql/language/')],
  ['Apollo schema instrumentation (per-field hooks)', (f) => f.url.includes('schemaInstrumentation')],
  ['Apollo cache-control plugin (default, per field)', (f) => f.url.includes('/plugin/cacheControl/')],
  ['Apollo response serialization (prettyJSONStringify)', (f) => f.functionName === 'prettyJSONStringify'],
  ['jose (access token verification)', (f) => f.url.includes('/node_modules/jose/')],
  ['query cost analysis (costOfOperation)', (f) => f.functionName === 'costOfOperation'],
  ['graphql-shield / graphql-middleware', (f) => /graphql-shield|graphql-middleware/.test(f.url)],
  ['type-graphql', (f) => f.url.includes('/node_modules/type-graphql/')],
  ['Fastify', (f) => f.url.includes('/node_modules/fastify/')],
  ['cursors (common/pagination.ts)', (f) => f.url.includes('/common/pagination.js')],
  ['undici (outbound HTTP)', (f) => f.url.includes('/node_modules/undici/')],
  ['audit chain (AuditService)', (f) => f.url.includes('/modules/audit/audit.service.js')],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
];

function frameKey(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${moduleOf(url, functionName)}:${lineNumber + 1}`;
}

/** Self and inclusive milliseconds by function and by module, over the samples within `window` (µs). */
function analyze(profile: CpuProfile, window: { from: number; to: number }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfFn = new Map<string, number>();
  const selfModule = new Map<string, number>();
  const inclusiveFn = new Map<string, number>();
  const inclusiveModule = new Map<string, number>();
  const hotSpots = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < window.from || at > window.to) return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') {
      idle += ms;
      return;
    }
    total += ms;
    const key = frameKey(node);
    selfFn.set(key, (selfFn.get(key) ?? 0) + ms);
    const mod = moduleOf(node.callFrame.url, node.callFrame.functionName);
    selfModule.set(mod, (selfModule.get(mod) ?? 0) + ms);
    const seenFn = new Set<string>();
    const seenModule = new Set<string>();
    const seenSpots = new Set<string>();
    for (let frameId: number | undefined = id; frameId !== undefined; frameId = parent.get(frameId)) {
      const frame = byId.get(frameId)!;
      seenFn.add(frameKey(frame));
      seenModule.add(moduleOf(frame.callFrame.url, frame.callFrame.functionName));
      for (const [name, matches] of HOT_SPOTS) if (matches(frame.callFrame)) seenSpots.add(name);
    }
    for (const k of seenSpots) hotSpots.set(k, (hotSpots.get(k) ?? 0) + ms);
    for (const k of seenFn) inclusiveFn.set(k, (inclusiveFn.get(k) ?? 0) + ms);
    for (const k of seenModule) inclusiveModule.set(k, (inclusiveModule.get(k) ?? 0) + ms);
  });
  const top = (map: Map<string, number>, n: number, filter: (k: string) => boolean = () => true) =>
    [...map].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, n);
  return { total, idle, hotSpots: top(hotSpots, HOT_SPOTS.length), selfFn: top(selfFn, 30), selfModule: top(selfModule, 25), inclusiveSrc: top(inclusiveFn, 40, (k) => / src\//.test(k)), inclusiveModule: top(inclusiveModule, 25) };
}

async function main(): Promise<void> {
  await rm(PROFILES, { recursive: true, force: true });
  await mkdir(PROFILES, { recursive: true });
  let counter: StatementCounter | undefined;
  const bench = await startBench({
    settings,
    sizes: [10_000],
    async wrapDatabaseUrl(url) {
      const started = await StatementCounter.start(url);
      counter = started.counter;
      return started.url;
    },
    logFile: fileURLToPath(new URL('registry-profile.log', RESULTS)),
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(PROFILES)}`],
    log,
  });
  const site = bench.site(10_000);
  if (noCache) {
    // The child keeps a reference to this environment; the restart writes a first profile, dropped here.
    log('restarting the registry with its catalog cache off');
    site.env.REGISTRY_CATALOG_CACHE_MB = '0';
    await site.registry.stop();
    await rm(PROFILES, { recursive: true, force: true });
    await mkdir(PROFILES, { recursive: true });
    await site.registry.start();
    // Tokens name the registry's address, which the restart changed: a new agent, with the same roles.
    const adminToken = await accessToken(site.registry.url, site.env.REGISTRY_BOOTSTRAP_CLIENT_ID!, site.env.REGISTRY_BOOTSTRAP_CLIENT_SECRET!);
    const created = await graphql<{ createPrincipal: { principal: { id: string; clientId: string }; clientSecret: string } }>(
      site.registry.url,
      adminToken,
      'mutation Create($input: CreatePrincipalInput!) { createPrincipal(input: $input) { principal { id clientId } clientSecret } }',
      { input: { name: 'bench agent, cache off', kind: 'AGENT', roles: ['agent'] } },
    );
    const { principal, clientSecret } = created.createPrincipal;
    site.admin = { ...site.admin, token: adminToken };
    site.agent = { id: principal.id, clientId: principal.clientId, token: await accessToken(site.registry.url, principal.clientId, clientSecret) };
  }
  const ctx = bench.ctx(site);
  let requests = 0;
  let rps = 0;
  let p50 = 0;
  let statementsPerRequest: number | null = null;
  const window = { from: 0, to: 0 };
  let stopEcho = async () => {};
  try {
    let request: RequestSpec = graphqlRequest(ctx.agent.token, CATALOG_QUERY);
    if (target === 'execute') {
      const tool = await echoTool(ctx);
      stopEcho = () => tool.echo.stop();
      request = tool.viaRegistry;
    }
    await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: 10, durationS: 3 });
    if (counter) {
      // Statements per request, counted on the wire (simple queries and extended-protocol Syncs,
      // transaction control included) over a known number of sequential requests.
      const n = 200;
      const before = counter.statements;
      const sequential = await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: 1, amount: n });
      expectAll(sequential, 200, target);
      // Calls finishing after their response (none expected) would count too; let them land.
      await new Promise((resolve) => setTimeout(resolve, 500));
      statementsPerRequest = (counter.statements - before) / n;
    }
    log(`profiling ${seconds} s of ${target} requests`);
    window.from = monotonicUs();
    const result = await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: 10, durationS: seconds });
    window.to = monotonicUs();
    expectAll(result, 200, target);
    requests = result.requests;
    rps = result.rps;
    p50 = result.latency.p50;
  } finally {
    await bench.close();
    await stopEcho();
    await counter?.close();
  }
  const files = (await readdir(PROFILES)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error('the registry wrote no CPU profile (did it exit cleanly on SIGTERM?)');
  const profile = JSON.parse(await readFile(new URL(files[0]!, PROFILES), 'utf8')) as CpuProfile;
  const a = analyze(profile, window);
  if (a.total === 0) throw new Error('no profile samples fall within the load window');
  const pct = (ms: number) => `${((ms / a.total) * 100).toFixed(1)}%`;
  const table = (title: string, rows: [string, number][]) =>
    [`### ${title}`, '', '| | ms | share of busy time |', '|---|---|---|', ...rows.map(([k, ms]) => `| \`${k}\` | ${ms.toFixed(0)} | ${pct(ms)} |`), ''].join('\n');
  const report = [
    `# CPU profile: ${target}${noCache ? ', catalog cache off' : ''} (${new Date().toISOString()})`,
    '',
    `Registry child with \`--cpu-prof\`, 10,000 tools, ${target === 'catalog' ? '`tools(first: 50)` with providers and tags' : '`executeTool` (SYNC) of the http echo tool'} as a non-admin agent, ` +
      `10 connections for ${seconds} s: ${requests} requests, ${rps.toFixed(0)} req/s, p50 ${p50.toFixed(1)} ms. ` +
      `Samples from the load window only: the registry was busy ${a.total.toFixed(0)} ms and idle ${a.idle.toFixed(0)} ms ` +
      `(${((a.total / requests) || 0).toFixed(2)} ms of registry CPU per request).` +
      (statementsPerRequest === null ? '' : ` SQL statements per request (counted on the wire, transaction control included; the counting proxy was in the path during the profile): ${statementsPerRequest.toFixed(2)}.`),
    '',
    table('Hot spots (inclusive: samples with the part anywhere on the stack; parts overlap)', a.hotSpots),
    table('Self time by module', a.selfModule),
    table('Inclusive time by module', a.inclusiveModule),
    table('Self time by function', a.selfFn),
    table('Inclusive time of registry functions (src/)', a.inclusiveSrc),
    `Profile: ${fileURLToPath(new URL(files[0]!, PROFILES))} (open it in Chrome DevTools or speedscope).`,
  ].join('\n');
  await writeFile(new URL(`profile-${target}${noCache ? '-no-cache' : ''}.md`, RESULTS), `${report}\n`);
  process.stdout.write(`${report}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`profiling failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
