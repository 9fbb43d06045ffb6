import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Caller, Settings } from './context.ts';
import { type BenchDatabase, embeddedPglite, scratchPostgres } from './database.ts';
import { LoadGenerator } from './load.ts';
import { accessToken, graphql, RegistryProcess } from './registry.ts';

/** One catalog size: its own scratch database and registry child, with its principals. */
export interface Site {
  size: number;
  db: BenchDatabase;
  /** The registry child's environment (database, keys, limits). */
  env: Record<string, string>;
  registry: RegistryProcess;
  admin: Caller;
  /** A non-admin agent (roles: agent) under the default policies. */
  agent: Caller;
  /** A non-admin viewer that sends hostile queries. */
  attacker: Caller;
  /** Seconds the catalog took to seed. */
  seedSeconds: number;
  /** Runs `fn` while the harness may use the database directly (the registry pauses on PGlite). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** A running benchmark: one site per catalog size and two load generators. */
export interface Bench {
  sites: Site[];
  site(size: number): Site;
  redisUrl?: string;
  /** The measurement context on one site. */
  ctx(site: Site): BenchContext;
  /** Stops everything and drops the scratch databases. */
  close(): Promise<void>;
}

async function createCaller(url: string, adminToken: string, name: string, roles: string[]): Promise<Caller> {
  const data = await graphql<{ createPrincipal: { principal: { id: string; clientId: string }; clientSecret: string; userErrors: unknown[] } }>(
    url,
    adminToken,
    'mutation Create($input: CreatePrincipalInput!) { createPrincipal(input: $input) { principal { id clientId } clientSecret userErrors { field message code } } }',
    { input: { name, kind: 'AGENT', roles } },
  );
  const { principal, clientSecret, userErrors } = data.createPrincipal;
  if (userErrors.length) throw new Error(`createPrincipal: ${JSON.stringify(userErrors)}`);
  return { id: principal.id, clientId: principal.clientId, token: await accessToken(url, principal.clientId, clientSecret) };
}

export interface BenchOptions {
  settings: Settings;
  /** Catalog sizes; each gets its own database and registry, so sizes can be compared in interleaved rounds. */
  sizes: number[];
  /** Log file of the registries (appended). */
  logFile: string;
  /** Node flags for the registry children (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Rewrites a registry's DATABASE_URL (e.g. through a statement counter). */
  wrapDatabaseUrl?: (url: string) => Promise<string>;
  log: (m: string) => void;
}

/**
 * Sets a benchmark up: for each catalog size a scratch database (on BENCH_DATABASE_URL's server, else
 * embedded PGlite, with a printed note) seeded in bulk, the built registry as a child process on it,
 * and an admin, a non-admin agent and an attacker (viewer) with tokens; plus two load generators.
 * On failure, whatever was started is stopped again.
 */
export async function startBench(options: BenchOptions): Promise<Bench> {
  if (!existsSync(fileURLToPath(new URL('../../dist/src/main.js', import.meta.url)))) {
    throw new Error('dist/src/main.js is missing: run `npm run build` first (npm run bench does)');
  }
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const redisUrl = process.env.BENCH_REDIS_URL;
  if (!databaseUrl) {
    process.stderr.write(
      '\nNOTE: BENCH_DATABASE_URL is not set, so this run uses the embedded PGlite database inside each registry\n' +
        'process. Its figures (and its memory, which then includes the database) are not comparable with a\n' +
        'PostgreSQL run; set BENCH_DATABASE_URL=postgres://user@host:5432/postgres for the tracked figures.\n\n',
    );
  }
  const adminSecret = randomBytes(24).toString('base64url');
  const common: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    REGISTRY_SEED: 'none',
    REGISTRY_SIGNING_KEYS: JSON.stringify([generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })]),
    REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    REGISTRY_BOOTSTRAP_CLIENT_ID: 'bench-admin',
    REGISTRY_BOOTSTRAP_CLIENT_SECRET: adminSecret,
    // The echo tool listens on loopback.
    REGISTRY_EGRESS_ALLOW: '127.0.0.1',
    // … over plain HTTP (the large OpenAPI import serves its document from a loopback http:// server).
    REGISTRY_PLAINTEXT_ALLOW: '127.0.0.1',
    // Budgets are charged on every request, but must not run out during the run.
    REGISTRY_COST_BUDGET_PER_HOUR: '1000000000',
    REGISTRY_ACCESS_TOKEN_TTL_SECONDS: '7200',
    REGISTRY_REFRESH_INTERVAL_SECONDS: '0',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    // Experiments: more registry settings as a JSON object (BENCH_REGISTRY_ENV='{"REGISTRY_GRAPHQL_JIT":"false"}').
    ...(process.env.BENCH_REGISTRY_ENV ? (JSON.parse(process.env.BENCH_REGISTRY_ENV) as Record<string, string>) : {}),
  };
  // BENCH_REGISTRY_NODE_ARGS: extra Node flags for the registry children, for experiments (e.g. --max-old-space-size=256).
  const nodeArgs = [...(process.env.BENCH_REGISTRY_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []), ...(options.nodeArgs ?? [])];

  const sites: Site[] = [];
  const generators: LoadGenerator[] = [];
  const databases: BenchDatabase[] = [];
  const registries: RegistryProcess[] = [];
  const close = async () => {
    for (const generator of generators) await generator.close();
    for (const registry of registries) await registry.close();
    for (const db of databases) await db.drop();
  };
  try {
    for (const size of options.sizes) {
      const db = databaseUrl ? await scratchPostgres(databaseUrl) : await embeddedPglite();
      databases.push(db);
      const env = { ...db.registryEnv, ...common };
      if (env.DATABASE_URL && options.wrapDatabaseUrl) env.DATABASE_URL = await options.wrapDatabaseUrl(env.DATABASE_URL);
      const registry = new RegistryProcess(env, options.logFile, nodeArgs);
      registries.push(registry);
      options.log(`${size.toLocaleString('en-US')} tools: ${db.description}${redisUrl ? `; Redis ${new URL(redisUrl).host}` : '; no Redis'}`);
      await registry.start(); // applies the migrations
      const exclusive = async <T>(fn: () => Promise<T>): Promise<T> => {
        if (!db.exclusive) return fn();
        await registry.stop();
        try {
          return await fn();
        } finally {
          await registry.start();
        }
      };
      const seedSeconds = await exclusive(() => db.grow(size));
      const adminToken = await accessToken(registry.url, 'bench-admin', adminSecret);
      sites.push({
        size,
        db,
        env,
        registry,
        admin: { id: '', clientId: 'bench-admin', token: adminToken },
        agent: await createCaller(registry.url, adminToken, 'bench agent', ['agent']),
        attacker: await createCaller(registry.url, adminToken, 'bench attacker', ['viewer']),
        seedSeconds,
        exclusive,
      });
    }
    const load = await LoadGenerator.start();
    generators.push(load);
    const second = await LoadGenerator.start();
    generators.push(second);
    return {
      sites,
      redisUrl,
      site(size) {
        const found = sites.find((s) => s.size === size);
        if (!found) throw new Error(`no site with ${size} tools`);
        return found;
      },
      ctx: (site) => ({
        registry: site.registry,
        load,
        second,
        admin: site.admin,
        agent: site.agent,
        attacker: site.attacker,
        settings: options.settings,
        log: options.log,
      }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
