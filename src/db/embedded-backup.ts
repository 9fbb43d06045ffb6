import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

/** What a backup file says it is. */
export const BACKUP_FORMAT = 'tool-registry-embedded-backup';
const BACKUP_VERSION = 1;

/** The files beside the database in the data directory that a backup carries: the generated keys. */
export const KEY_FILES = ['master.key', 'signing-keys.json'] as const;

/** A backup or restore that must not go ahead; the message says why and what to do. */
export class BackupError extends Error {}

/** The backup file: the database directory as PGlite dumps it, and the key files, in one JSON document. */
interface BackupFile {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  database: { compression: 'gzip'; sha256: string; data: string };
  files: Record<string, string>;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The embedded database's directory inside a data directory (as config.ts places it). */
export const databaseDir = (dataDir: string) => join(dataDir, 'pglite');

/**
 * Refuses a database directory a PGlite instance has open: PGlite writes `postmaster.pid` when it
 * opens the directory and removes it when it closes, so the file means a registry is running on it,
 * or one was killed without closing it.
 */
async function refuseIfOpen(dir: string): Promise<void> {
  if (await exists(join(dir, 'postmaster.pid'))) {
    throw new BackupError(
      `the embedded database in ${dir} is open: stop the registry that uses it first (if none runs, it was killed; start it once and stop it with SIGTERM, then try again)`,
    );
  }
}

/**
 * Writes a backup of the embedded database in `dataDir` and of its generated key files to `file`
 * (created with mode 0600; an existing file is never overwritten). The registry must be stopped:
 * refuses an open database. Returns what was written. Throws BackupError.
 */
export async function backupEmbedded(dataDir: string, file: string): Promise<{ bytes: number; files: string[] }> {
  const dir = databaseDir(dataDir);
  if (!(await exists(join(dir, 'PG_VERSION')))) throw new BackupError(`no embedded database in ${dir}: is REGISTRY_DATA_DIR right?`);
  await refuseIfOpen(dir);
  if (await exists(file)) throw new BackupError(`${file} exists: a backup never overwrites a file; choose another name`);
  const db = await PGlite.create({ dataDir: dir, extensions: { pg_trgm } });
  let dump: Buffer;
  try {
    dump = Buffer.from(await (await db.dumpDataDir('gzip')).arrayBuffer());
  } finally {
    await db.close();
  }
  const files: Record<string, string> = {};
  for (const name of KEY_FILES) {
    const path = join(dataDir, name);
    if (await exists(path)) files[name] = (await readFile(path)).toString('base64');
  }
  const backup: BackupFile = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    createdAt: new Date().toISOString(),
    database: { compression: 'gzip', sha256: createHash('sha256').update(dump).digest('hex'), data: dump.toString('base64') },
    files,
  };
  const text = JSON.stringify(backup);
  try {
    await writeFile(file, text, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError(`${file} exists: a backup never overwrites a file; choose another name`);
    throw error;
  }
  return { bytes: Buffer.byteLength(text), files: Object.keys(files) };
}

/** The backup in `file`, checked: its format, version and the database's checksum. Throws BackupError. */
async function readBackup(file: string): Promise<{ backup: BackupFile; dump: Buffer }> {
  let backup: BackupFile;
  try {
    backup = JSON.parse(await readFile(file, 'utf8')) as BackupFile;
  } catch (error) {
    throw new BackupError(`${file} is not a registry backup: ${(error as Error).message}`);
  }
  if (backup?.format !== BACKUP_FORMAT || backup.version !== BACKUP_VERSION || typeof backup.database?.data !== 'string') {
    throw new BackupError(`${file} is not a registry backup (format ${BACKUP_FORMAT}, version ${BACKUP_VERSION})`);
  }
  const dump = Buffer.from(backup.database.data, 'base64');
  if (createHash('sha256').update(dump).digest('hex') !== backup.database.sha256) {
    throw new BackupError(`${file} is damaged: the database's checksum does not match`);
  }
  for (const name of Object.keys(backup.files ?? {})) {
    if (!(KEY_FILES as readonly string[]).includes(name)) throw new BackupError(`${file} holds an unexpected file ${JSON.stringify(name)}`);
  }
  return { backup, dump };
}

/**
 * Restores the backup in `file` into `dataDir`, which must not hold a database or key files yet (a
 * restore never overwrites data, so it can never clobber a running registry's). Checks the backup's
 * checksum first, then lets PGlite load the dump and writes the key files (mode 0600). Throws BackupError.
 */
export async function restoreEmbedded(file: string, dataDir: string): Promise<{ createdAt: string; files: string[] }> {
  const { backup, dump } = await readBackup(file);
  const dir = databaseDir(dataDir);
  if ((await exists(dir)) && (await readdir(dir)).length > 0) {
    throw new BackupError(`${dir} already holds a database: restore into an empty REGISTRY_DATA_DIR (move the old one aside, with its registry stopped)`);
  }
  for (const name of Object.keys(backup.files)) {
    if (await exists(join(dataDir, name))) throw new BackupError(`${join(dataDir, name)} exists: restore into an empty REGISTRY_DATA_DIR`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create({ dataDir: dir, extensions: { pg_trgm }, loadDataDir: new Blob([dump], { type: 'application/x-gzip' }) });
  try {
    await db.query('select 1');
  } finally {
    await db.close();
  }
  for (const [name, content] of Object.entries(backup.files)) {
    await writeFile(join(dataDir, name), Buffer.from(content, 'base64'), { flag: 'wx', mode: 0o600 });
  }
  return { createdAt: backup.createdAt, files: Object.keys(backup.files) };
}
