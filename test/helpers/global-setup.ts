import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgliteConnection } from '@mikro-orm/pglite';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A dump of a migrated, empty embedded database (PGlite's `dumpDataDir`), when the tests run on PGlite. */
    pgliteTemplate: string | null;
  }
}

/**
 * Dumps a freshly migrated embedded database to a file. Creating a PGlite cluster takes seconds of
 * CPU (its initdb); loading a dump takes a third of that, so every test database on PGlite starts
 * from this one (test/helpers/database.ts) instead of creating and migrating its own.
 */
async function dumpMigratedPglite(dir: string): Promise<string> {
  const db = await openDatabase({ kind: 'pglite' });
  try {
    const pglite = await (db.orm.em.getConnection() as PgliteConnection).getNativeClient();
    const file = join(dir, 'pglite-migrated.tar');
    await writeFile(file, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
    return file;
  } finally {
    await db.close();
  }
}

/** Compiles `dist/` once, for the tests that run the real server process; on PGlite, prepares the template database. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'registry-tests-'));
  project.provide('pgliteTemplate', process.env.TEST_DATABASE_URL ? null : await dumpMigratedPglite(dir));
  return () => rm(dir, { recursive: true, force: true });
}
