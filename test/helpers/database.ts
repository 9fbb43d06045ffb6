import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type DatabaseConfig } from '../../src/config.js';
import { readEmbeddedTemplate } from '../../src/db/embedded-template.js';

/** A database for one test file, and how to get rid of it. */
export interface TestDatabase {
  config: DatabaseConfig;
  drop(): Promise<void>;
}

/** Where this checkout's `npm run build` (run by the global setup) left the embedded database's template. */
export const BUILT_TEMPLATE_DIR = fileURLToPath(new URL('../../dist/embedded-template/', import.meta.url));

let template: Promise<Blob> | undefined;

/** The build's migrated embedded database, read once per test file's process. */
function migratedPglite(): Promise<Blob> {
  template ??= readEmbeddedTemplate(BUILT_TEMPLATE_DIR).then((dump) => {
    if (!dump) throw new Error('dist/embedded-template has no template for this PGlite: run `npm run build`');
    return dump;
  });
  return template;
}

/**
 * With `TEST_DATABASE_URL` (or `serverUrl`), creates a fresh, uniquely named PostgreSQL database on
 * that server (dropped afterwards); otherwise an in-memory PGlite database, started from the
 * build's migrated template, as the registry's own in-memory database starts.
 */
export async function createTestDatabase(serverUrl = process.env.TEST_DATABASE_URL): Promise<TestDatabase> {
  if (!serverUrl) return { config: { kind: 'pglite', initialData: await migratedPglite() }, drop: async () => {} };
  const name = `registry_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    config: { kind: 'postgresql', url: url.toString(), poolMax: 5 },
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Another registry's database, for a second registry on the same data (replica tests). Dropping it
 * is left to the registry that created it. PostgreSQL only: an in-memory PGlite database belongs to
 * one connection and cannot be shared; throws for it.
 */
export function sharedTestDatabase(config: DatabaseConfig): TestDatabase {
  if (config.kind !== 'postgresql') throw new Error('Only a PostgreSQL test database can be shared between registries (set TEST_DATABASE_URL)');
  return { config, drop: async () => {} };
}
