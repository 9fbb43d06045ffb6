import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { type Options } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { type DatabaseConfig } from '../config.js';
import { entities } from './entities.js';
import { migrations } from './migrations/index.js';

/** Hooks for callers that observe the ORM (tests count queries with `onQuery`). */
export interface OrmHooks {
  onQuery?: (sql: string) => void;
}

/**
 * The one ORM configuration, shared by the app, the migration CLI and the tests.
 * PGlite (embedded, one session) when no URL is given, PostgreSQL otherwise.
 */
export function createOrmOptions(database: DatabaseConfig, hooks: OrmHooks = {}): Partial<Options> {
  const common: Partial<Options> = {
    entities,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: true },
    forceUtcTimezone: true,
    allowGlobalContext: false,
    migrations: {
      migrationsList: migrations,
      path: 'src/db/migrations',
      pathTs: 'src/db/migrations',
      emit: 'ts',
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      silent: true,
    },
  };
  if (hooks.onQuery) {
    const observe = hooks.onQuery;
    common.onQuery = (sql) => {
      observe(sql);
      return sql;
    };
  }
  if (database.kind === 'postgresql') {
    return { ...common, driver: PostgreSqlDriver, clientUrl: database.url, pool: { min: 0, max: database.poolMax } };
  }
  return {
    ...common,
    driver: PgliteDriver,
    dbName: 'registry',
    // PGlite is a single session: one connection, so no query waits behind another's transaction.
    pool: { min: 1, max: 1 },
    driverOptions: { dataDir: database.dataDir ?? 'memory://', extensions: { pg_trgm } },
  };
}
