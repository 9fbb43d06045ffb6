import 'reflect-metadata';
import { buildApp, registrationDependencies } from './http/app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type Database, openDatabase } from './db/database.js';
import { createAdmin, ensureBootstrapAdmin, hasAdmin } from './modules/principal/index.js';
import { ProviderRefresher } from './modules/provider/index.js';
import { createSecurity } from './security/index.js';
import { createLogger, type Logger } from './logger.js';
import { buildRegistrySchema } from './schema.js';
import { seedCatalog } from './seed/seed.js';

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

/** Starts the registry: config, database and migrations, seed, HTTP; drains on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config.database);
  if (config.seed === 'bundled') await seedCatalog(db, logger);
  const created = await ensureAdmin(config, db, logger);
  const security = await createSecurity(config, logger);
  const app = await buildApp({ config, db, logger, security, schema: await buildRegistrySchema() });
  const refresher = new ProviderRefresher(
    db,
    registrationDependencies(security),
    config.discovery.refreshIntervalSeconds,
    logger,
  );
  const address = await app.listen({ host: config.host, port: config.port });
  refresher.start();
  if (created) printCreatedAdmin(created, address);
  logger.info({ database: config.database.kind }, `Tool Registry ready at ${address}/graphql`);

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
      await app.close();
      await security.close();
      await db.close();
      logger.info('stopped');
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`Tool Registry failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
