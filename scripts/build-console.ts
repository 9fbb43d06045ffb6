import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { build } from 'vite';

/** What the console's build reads: its own folder (sources, operations, config) and the locked dependency versions. */
const INPUTS = ['console', 'package-lock.json'];
/** The digest of the inputs of the last successful build; outside dist/console, so it is never served. */
const STAMP = 'dist/.console-build-stamp';
const OUTPUT = 'dist/console/index.html';

async function files(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(
    entries.filter((entry) => entry.name !== 'node_modules').map((entry) => files(join(path, entry.name))),
  );
  return nested.flat();
}

/** A digest of every input file's path and content, in a stable order. */
export async function consoleInputsDigest(root = process.cwd()): Promise<string> {
  const hash = createHash('sha256');
  const paths = (await Promise.all(INPUTS.map((input) => files(join(root, input))))).flat().sort();
  for (const path of paths) {
    hash.update(relative(root, path)).update('\0').update(await readFile(path)).update('\0');
  }
  return hash.digest('hex');
}

async function readText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch(() => null);
}

/**
 * `npm run build`'s console step: builds the console into dist/console with Vite, unless its inputs
 * are unchanged since the last successful build and that build's output is still there.
 */
async function main(): Promise<void> {
  const digest = await consoleInputsDigest();
  if ((await readText(STAMP)) === digest && (await readText(OUTPUT)) !== null) return;
  await build({ configFile: 'console/vite.config.ts', logLevel: 'warn' });
  await mkdir('dist', { recursive: true });
  await writeFile(STAMP, digest);
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
