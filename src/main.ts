import 'reflect-metadata';
import cluster from 'node:cluster';
import { type Server as TlsServer } from 'node:tls';
import { announceReady, superviseWorkers } from './cluster.js';
import { buildApp, registrationDependencies } from './http/app.js';
import { reloadCertificates, secureContextOptions } from './http/tls.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type Database, openDatabase } from './db/database.js';
import { createAdmin, ensureBootstrapAdmin, hasAdmin } from './modules/principal/index.js';
import { ProviderRefresher } from './modules/provider/index.js';
import { createSecurity } from './security/index.js';
import { createLogger, type Logger } from './logger.js';
import { buildRegistrySchema } from './schema.js';
import { seedCatalog } from './seed/seed.js';
import { clusterMetrics, metrics, shareMetricsWithPrimary } from './observability/metrics.js';
import { listenForMetrics, type MetricsReader } from './observability/metrics.routes.js';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** Client credentials created at this start, to be printed once the registry listens. */
interface CreatedAdmin {
  clientId: string;
  clientSecret: string;
}

/**
 * Bootstrap credentials from the environment win; otherwise the embedded registry's first start
 * creates an admin whose credentials are printed once (returned here). A server deployment without
 * an admin is told how to create one. There is never a default password.
 */
async function ensureAdmin(config: Config, db: Database, logger: Logger): Promise<CreatedAdmin | null> {
  const em = db.fork();
  if (config.auth.bootstrap) {
    const admin = await ensureBootstrapAdmin(em, config.auth.bootstrap);
    logger.info({ principalId: admin.id, clientId: admin.clientId }, 'bootstrap admin ready');
    return null;
  }
  if (await hasAdmin(em)) return null;
  if (config.database.kind === 'postgresql') {
    logger.warn('no admin principal yet: create one with `npm run admin:create`');
    return null;
  }
  const { principal, clientSecret } = await createAdmin(em);
  return { clientId: principal.clientId!, clientSecret };
}

/** The one-time credential notice, with the address the registry really listens on and lines to paste into a shell. */
function printCreatedAdmin(admin: CreatedAdmin, address: string): void {
  process.stdout.write(
    [
      '',
      'An admin principal was created. Its secret is shown only this once:',
      `  client_id:     ${admin.clientId}`,
      `  client_secret: ${admin.clientSecret}`,
      'In another shell, export them and get an access token:',
      `  export CLIENT_ID='${admin.clientId}' CLIENT_SECRET='${admin.clientSecret}'`,
      `  export TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials ${address}/oauth/token \\`,
      `    | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      '',
    ].join('\n'),
  );
}

/** The listener of `REGISTRY_METRICS_PORT`, when set; logs where it listens. Closed by the returned function. */
async function startMetricsListener(config: Config, logger: Logger, read: MetricsReader): Promise<() => Promise<void>> {
  if (config.metrics.port === undefined) return async () => {};
  const { server, url } = await listenForMetrics(config.metrics.host, config.metrics.port, read);
  logger.info({ url }, `metrics at ${url}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * The one-time work of a start, done once whatever the number of workers: migrations (when the
 * database opens), the bundled seed, the admin. Returns credentials to print, if it created an admin.
 */
async function prepare(config: Config, db: Database, logger: Logger): Promise<CreatedAdmin | null> {
  if (config.seed === 'bundled') await seedCatalog(db, logger);
  return ensureAdmin(config, db, logger);
}

/**
 * Serves the registry in this process: database, HTTP(S), provider refresh; drains on SIGTERM/SIGINT;
 * when serving TLS, reloads the certificate files on SIGHUP.
 * A cluster worker (`worker` set) leaves the one-time work to its primary, names itself in a
 * response header, tells the primary once it listens, and exits when drained.
 */
async function serve(config: Config, logger: Logger, worker: { id: number } | null): Promise<void> {
  const db = await openDatabase(config.database);
  const created = worker ? null : await prepare(config, db, logger);
  const security = await createSecurity(config, logger);
  const app = await buildApp({ config, db, logger, security, schema: await buildRegistrySchema() });
  if (worker) {
    // Which worker answered (its cluster id, not its pid), before any handler of the app runs.
    const id = String(worker.id);
    app.server.prependListener('request', (_request, response) => response.setHeader('x-registry-worker', id));
  }
  const refresher = new ProviderRefresher(
    db,
    registrationDependencies(security),
    config.discovery.refreshIntervalSeconds,
    logger,
  );
  if (config.tls) {
    const tls = config.tls;
    // New certificate files for new connections; open ones (subscriptions too) keep theirs.
    process.on('SIGHUP', () => void reloadCertificates(app.server as unknown as TlsServer, tls, logger));
  }
  const address = await app.listen({ host: config.host, port: config.port });
  // A worker's metrics are scraped through its primary, which sums every worker's.
  if (worker) shareMetricsWithPrimary();
  const stopMetrics = worker ? async () => {} : await startMetricsListener(config, logger, () => metrics.text());
  refresher.start();
  if (created) printCreatedAdmin(created, address);
  if (worker) {
    logger.info({ address }, 'worker listening');
    announceReady(address);
  } else {
    // `embeddedTemplate`: the in-memory database was loaded from the build's migrated template (src/db/embedded-template.ts).
    logger.info({ database: config.database.kind, ...(db.fromTemplate && { embeddedTemplate: true }) }, `Tool Registry ready at ${address}/graphql`);
  }

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    // Requests still running after the grace period are cut off, so shutdown always ends.
    const deadline = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
    deadline.unref();
    try {
      await refresher.stop();
      await stopMetrics();
      await app.close();
      await security.close();
      await db.close();
      logger.info('stopped');
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    }
    // The channel to the primary would keep a worker alive.
    if (worker) process.exit();
  };
  if (worker) {
    // A terminal's Ctrl-C reaches the primary and its workers; the primary forwards SIGTERM too.
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  } else {
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }
}

/**
 * The primary of `REGISTRY_WORKERS` > 1 processes: does the one-time work (migrations, seed, admin)
 * before any worker starts, then forks and supervises the workers (src/cluster.ts) and exits with
 * their outcome. It serves nothing itself.
 */
async function runPrimary(config: Config, logger: Logger): Promise<void> {
  const db = await openDatabase(config.database);
  try {
    await prepare(config, db, logger);
  } finally {
    await db.close();
  }
  const stopMetrics = await startMetricsListener(config, logger, clusterMetrics());
  if (config.metrics.port === undefined) {
    logger.warn('REGISTRY_WORKERS > 1 without REGISTRY_METRICS_PORT: /metrics on the main port answers for the one worker that takes the request; set REGISTRY_METRICS_PORT to scrape all of them at once');
  }
  const supervisor = superviseWorkers({
    workers: config.workers,
    logger,
    // The workers' own grace period, plus time to close the database and Redis.
    stopTimeoutMs: config.shutdownGraceMs + 5000,
  });
  process.on('SIGTERM', () => supervisor.stop('SIGTERM'));
  process.on('SIGINT', () => supervisor.stop('SIGINT'));
  // Each worker serves the certificate files it read: a SIGHUP to the primary reloads them all.
  if (config.tls) process.on('SIGHUP', () => supervisor.signal('SIGHUP'));
  const code = await supervisor.done;
  await stopMetrics();
  process.exit(code);
}

/** Starts the registry: one process, or a primary and its workers (`REGISTRY_WORKERS`). */
async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  // Unusable certificate files stop the start before the database is opened.
  if (config.tls) await secureContextOptions(config.tls);
  if (cluster.isWorker) {
    await serve(config, logger.child({ role: 'worker', worker: cluster.worker!.id, pid: process.pid }), cluster.worker!);
  } else if (config.workers > 1) {
    await runPrimary(config, logger.child({ role: 'primary', pid: process.pid }));
  } else {
    await serve(config, logger, null);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`Tool Registry failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
