import { type EventEmitter } from 'node:events';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { type Options } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { CompiledQuery, type DatabaseConnection } from 'kysely';
import { type DatabaseConfig, DEFAULT_POOL_IDLE_SECONDS } from '../config.js';
import { entities } from './entities.js';
import { migrations } from './migrations/index.js';

/** How close a search word must be to a word of a tool's name to match it (pg_trgm `<%`). */
export const WORD_SIMILARITY_THRESHOLD = 0.5;

/** Hooks for callers that observe the ORM (tests count queries with `onQuery`). */
export interface OrmHooks {
  onQuery?: (sql: string) => void;
  /** Receives the PostgreSQL pool once created (its counts feed the metrics). */
  onPool?: (pool: EventEmitter) => void;
}

/** What {@link releaseEndedClients} needs of a pooled `pg` client. */
interface PooledClient extends EventEmitter {
  release: (error?: Error) => void;
}

/**
 * Gives a connection that the server closed while it was checked out back to the pool, which then
 * discards it. Kysely 0.29 releases the connection of a transaction only after a successful BEGIN,
 * COMMIT or ROLLBACK (kysely-org/kysely#1990), so a transaction whose connection was cut (a database
 * restart or failover) would otherwise hold its pool slot for good: the pool shrank with every outage
 * until the process starved, and closing it hung. A release after that one does nothing.
 */
function releaseEndedClients(pool: EventEmitter): void {
  const checkedOut = new WeakSet<PooledClient>();
  const onEnd = new WeakMap<PooledClient, () => void>();
  pool.on('release', (_error: unknown, client: PooledClient) => {
    checkedOut.delete(client);
    const ended = onEnd.get(client);
    if (ended) client.removeListener('end', ended);
  });
  pool.on('acquire', (client: PooledClient) => {
    checkedOut.add(client);
    // pg-pool hands out the client's own release function right after this event.
    queueMicrotask(() => {
      if (!checkedOut.has(client)) return;
      const release = client.release;
      let released = false;
      client.release = (error?: Error) => {
        if (released) return;
        released = true;
        release(error);
      };
      const ended = () => {
        if (!checkedOut.has(client)) return;
        try {
          client.release(new Error('the database closed this connection while it was in use'));
        } catch {
          // released meanwhile
        }
      };
      onEnd.set(client, ended);
      client.once('end', ended);
    });
  });
}

/**
 * PGlite's options for an in-memory database loaded from a dump. MikroORM copies an options object
 * member by member, which leaves a Blob without its contents; options returned by a function are
 * used as they are.
 */
function pgliteFromDump(dump: Blob): () => Record<string, unknown> {
  return () => ({ dataDir: 'memory://', extensions: { pg_trgm }, loadDataDir: dump });
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
    // Sequential scans start at the table's first block, so a search's candidates (the first matches
    // in storage order, see tool.search.ts) are the same for every page whichever plan finds them.
    onCreateConnection: async (connection) => {
      await (connection as DatabaseConnection).executeQuery(
        CompiledQuery.raw(`set pg_trgm.word_similarity_threshold = ${WORD_SIMILARITY_THRESHOLD}`),
      );
      await (connection as DatabaseConnection).executeQuery(CompiledQuery.raw('set synchronize_seqscans = off'));
    },
    allowGlobalContext: false,
    // What hand-written migrations keep beside the entities, so that `migration create` proposes only
    // what the entities changed, never dropping these: the tables of the audit chain heads, the
    // export's transaction shift, the search's words and alert deliveries, and the hand-written
    // triggers and functions (a trigger declared on an entity is still created). A change to one of
    // them is written by hand, as they were. test/integration/database.test.ts holds the agreement.
    schemaGenerator: {
      skipTables: ['audit_chain', 'audit_txid_shift', 'search_word', 'security_alert_delivery'],
      ignoreTriggers: true,
      ignoreRoutines: true,
    },
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
    return {
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: database.url,
      // An idle connection is kept for minutes, not pg-pool's 10 s: a new one costs a connect, and its
      // server process loads its caches (the text search configuration, the plans of named
      // statements) on first use, about 10 ms more on the first search it serves.
      pool: { min: 0, max: database.poolMax, idleTimeoutMillis: (database.poolIdleSeconds ?? DEFAULT_POOL_IDLE_SECONDS) * 1000 },
      driverOptions: {
        onPoolCreated: (pool: EventEmitter) => {
          releaseEndedClients(pool);
          hooks.onPool?.(pool);
        },
      },
    };
  }
  return {
    ...common,
    driver: PgliteDriver,
    dbName: 'registry',
    // PGlite is a single session: one connection, so no query waits behind another's transaction.
    pool: { min: 1, max: 1 },
    driverOptions: database.initialData ? pgliteFromDump(database.initialData) : { dataDir: database.dataDir ?? 'memory://', extensions: { pg_trgm } },
  };
}
