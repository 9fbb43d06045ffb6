import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { growCatalog } from './catalog.seed.ts';

/** The benchmark's own database, which the registry child uses and the harness seeds directly. */
export interface BenchDatabase {
  kind: 'postgresql' | 'pglite';
  /** Human description for the report (never a password). */
  description: string;
  /** Environment that points the registry at it. */
  registryEnv: Record<string, string>;
  /** Whether the registry must be stopped while the harness writes (PGlite is one process's). */
  exclusive: boolean;
  /** Grows the generated catalog to `size` tools (from what it holds); returns the seconds it took. */
  grow(size: number): Promise<number>;
  /** Removes the database (and its files). */
  drop(): Promise<void>;
}

/**
 * A scratch database `bench_<time>_<random>` created next to `adminUrl` (any database of a PostgreSQL
 * server the caller may create databases on), dropped by `drop()`.
 */
export async function scratchPostgres(adminUrl: string): Promise<BenchDatabase> {
  const name = `bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let version = '';
  try {
    version = ((await admin.query('show server_version')).rows[0] as { server_version: string }).server_version;
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let size = 0;
  const safe = new URL(url);
  safe.password = '';
  return {
    kind: 'postgresql',
    description: `PostgreSQL ${version} at ${safe.host}, scratch database ${name}`,
    registryEnv: { DATABASE_URL: url.href },
    exclusive: false,
    async grow(target) {
      const started = performance.now();
      const client = new pg.Client({ connectionString: url.href });
      await client.connect();
      try {
        await growCatalog((sql, params) => client.query(sql, params), size, target);
      } finally {
        await client.end();
      }
      size = Math.max(size, target);
      return (performance.now() - started) / 1000;
    },
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The embedded database in a temporary data directory, as the registry keeps it with REGISTRY_DATA_DIR. */
export async function embeddedPglite(): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-registry-'));
  let size = 0;
  return {
    kind: 'pglite',
    description: `embedded PGlite (in the registry process), data directory ${dataDir}`,
    registryEnv: { REGISTRY_DATA_DIR: dataDir },
    exclusive: true,
    async grow(target) {
      const started = performance.now();
      const { PGlite } = await import('@electric-sql/pglite');
      const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
      // The registry's ORM keeps its tables in the database `registry` of the data directory's cluster.
      const db = await PGlite.create(join(dataDir, 'pglite'), { database: 'registry', extensions: { pg_trgm } });
      try {
        await growCatalog((sql, params) => db.query(sql, params), size, target);
      } finally {
        await db.close();
      }
      size = Math.max(size, target);
      return (performance.now() - started) / 1000;
    },
    async drop() {
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
