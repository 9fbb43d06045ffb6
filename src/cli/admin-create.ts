import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { createAdmin } from '../modules/principal/index.js';

/**
 * `npm run admin:create [name]`: creates an admin principal in the configured database and prints
 * its client credentials, once. For deployments on PostgreSQL, where nothing is created by itself.
 */
try {
  const config = loadConfig();
  const db = await openDatabase(config.database);
  try {
    const { principal, clientSecret } = await createAdmin(db.fork(), process.argv[2] ?? 'admin');
    process.stdout.write(`client_id:     ${principal.clientId}\nclient_secret: ${clientSecret}\n`);
  } finally {
    await db.close();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `admin:create failed: ${(error as Error).message}`}\n`);
  process.exitCode = 1;
}
