import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { type PgliteConnection } from '@mikro-orm/pglite';
import { TEMPLATE_DIR, templateFile } from './embedded-template.js';

const MIGRATIONS = fileURLToPath(new URL('./migrations/', import.meta.url));
const STAMP = join(TEMPLATE_DIR, 'stamp');

/** A digest of the compiled migrations, in name order: the template is made again when they change. */
async function migrationsDigest(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(MIGRATIONS)).filter((n) => n.endsWith('.js')).sort()) {
    hash.update(name).update('\0').update(await readFile(join(MIGRATIONS, name))).update('\0');
  }
  return hash.digest('hex');
}

/**
 * `npm run build`'s last step: writes the embedded database's template (embedded-template.ts), a
 * new in-memory database with every migration applied, dumped; unless the one there was made from
 * the same migrations by the same PGlite.
 */
async function main(): Promise<void> {
  const file = templateFile();
  const digest = await migrationsDigest();
  const stamp = await readFile(STAMP, 'utf8').catch(() => null);
  if (stamp === `${basename(file)}\n${digest}` && (await access(file).then(() => true, () => false))) return;
  await rm(TEMPLATE_DIR, { recursive: true, force: true });
  // Loaded only when a template is made: an up-to-date build does not pay for the ORM's import.
  const { openDatabase } = await import('./database.js');
  const db = await openDatabase({ kind: 'pglite' });
  try {
    const pglite = await (db.orm.em.getConnection() as PgliteConnection).getNativeClient();
    const dump = Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer());
    await mkdir(TEMPLATE_DIR, { recursive: true });
    // Renamed into place once whole: a build stopped halfway leaves no template to load.
    await writeFile(`${file}.partial`, await promisify(gzip)(dump));
    await rename(`${file}.partial`, file);
    await writeFile(STAMP, `${basename(file)}\n${digest}`);
  } finally {
    await db.close();
  }
}

await main();
