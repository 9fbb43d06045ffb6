import { ConfigError, loadConfig } from '../config.js';
import { BackupError, restoreEmbedded } from '../db/embedded-backup.js';

/**
 * `npm run restore -- <file>`: restores a backup written by `npm run backup` into an empty
 * REGISTRY_DATA_DIR (it never overwrites a database or key file). On PostgreSQL, restore with
 * pg_restore instead (README, "Backups and restore").
 */
try {
  const file = process.argv[2];
  if (!file) throw new BackupError('usage: npm run restore -- <file>');
  const config = loadConfig();
  if (config.database.kind !== 'pglite') throw new BackupError('DATABASE_URL is set: restore PostgreSQL with pg_restore (README, "Backups and restore")');
  if (!config.dataDir) throw new BackupError('REGISTRY_DATA_DIR is not set: say where to restore to');
  const { createdAt, files } = await restoreEmbedded(file, config.dataDir);
  process.stdout.write(`restored the backup of ${createdAt} into ${config.dataDir} (database${files.map((f) => `, ${f}`).join('')})\n`);
} catch (error) {
  const known = error instanceof ConfigError || error instanceof BackupError;
  process.stderr.write(`restore failed: ${known ? error.message : (error as Error).message}\n`);
  process.exitCode = 1;
}
