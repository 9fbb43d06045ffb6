import { ConfigError, loadConfig } from '../config.js';
import { backupEmbedded, BackupError } from '../db/embedded-backup.js';

/**
 * `npm run backup -- <file>`: writes the embedded database (REGISTRY_DATA_DIR) and its generated keys
 * to one file, with the registry stopped. On PostgreSQL, back up with pg_dump instead (README,
 * "Backups and restore"). The file holds the master key: keep it as secret as the data directory.
 */
try {
  const file = process.argv[2];
  if (!file) throw new BackupError('usage: npm run backup -- <file>');
  const config = loadConfig();
  if (config.database.kind !== 'pglite') throw new BackupError('DATABASE_URL is set: back up PostgreSQL with pg_dump (README, "Backups and restore")');
  if (!config.dataDir) throw new BackupError('REGISTRY_DATA_DIR is not set: an in-memory database has nothing to back up');
  const { bytes, files } = await backupEmbedded(config.dataDir, file);
  process.stdout.write(`backup written to ${file} (${bytes} bytes; database${files.map((f) => `, ${f}`).join('')})\n`);
} catch (error) {
  const known = error instanceof ConfigError || error instanceof BackupError;
  process.stderr.write(`backup failed: ${known ? error.message : (error as Error).message}\n`);
  process.exitCode = 1;
}
