import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

/**
 * Where `npm run build` leaves the embedded database's template (src/db/embedded-template.cli.ts):
 * `dist/embedded-template/`, beside the compiled code.
 */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../embedded-template/', import.meta.url));

let installedVersion: string | undefined;

/** The installed PGlite's version (read once): a data directory is loaded only by the PGlite that wrote it. */
function pgliteVersion(): string {
  if (installedVersion === undefined) {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    installedVersion = (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
  }
  return installedVersion;
}

/** The template's file for the installed PGlite. */
export const templateFile = (dir = TEMPLATE_DIR) => join(dir, `pglite-${pgliteVersion()}.tar.gz`);

/**
 * The build's template: an empty embedded database with every migration of the build applied, as
 * PGlite dumps its data directory. Null when there is none for the installed PGlite (not built, or
 * built by another version). Creating a cluster (PGlite's initdb) takes seconds of CPU; loading
 * this takes about a third of that.
 */
export async function readEmbeddedTemplate(dir = TEMPLATE_DIR): Promise<Blob | null> {
  const file = templateFile(dir);
  try {
    return new Blob([await promisify(gunzip)(await readFile(file))]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`The embedded database's template ${file} cannot be read (${(error as Error).message}): run \`npm run build\` again, or delete it`, { cause: error });
  }
}
