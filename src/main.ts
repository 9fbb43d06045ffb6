import 'reflect-metadata';
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { createLogger } from './logger.js';
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

/** Starts the registry: config, database and migrations, seed, HTTP; drains on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config.database);
  if (config.seed === 'bundled') await seedCatalog(db, logger);
  const app = await buildApp({ config, db, logger, schema: await buildRegistrySchema() });
  const address = await app.listen({ host: config.host, port: config.port });
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
      await app.close();
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
