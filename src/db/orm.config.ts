import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { type Options } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { CompiledQuery, type DatabaseConnection } from 'kysely';
import { type DatabaseConfig } from '../config.js';
import { entities } from './entities.js';
import { migrations } from './migrations/index.js';

/** How close a search word must be to a word of a tool's name to match it (pg_trgm `<%`). */
export const WORD_SIMILARITY_THRESHOLD = 0.5;

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
    // Fuzzy name search (`<%`) tolerates a typo in a short word at 0.5; the default 0.6 does not.
    onCreateConnection: async (connection) => {
      await (connection as DatabaseConnection).executeQuery(
        CompiledQuery.raw(`set pg_trgm.word_similarity_threshold = ${WORD_SIMILARITY_THRESHOLD}`),
      );
    },
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
