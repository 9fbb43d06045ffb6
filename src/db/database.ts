import { MikroORM } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery, type Kysely } from 'kysely';
import { type DatabaseConfig } from '../config.js';
import { readEmbeddedTemplate } from './embedded-template.js';
import { createOrmOptions, type OrmHooks } from './orm.config.js';
import { bindStatement } from './statements.js';

/** What a `pg` pool tells of its connections. */
interface PgPoolCounts {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
}

/** What {@link Database.statement} needs of a `pg` pool: a query with a prepared statement's name. */
interface PgPool extends PgPoolCounts {
  query<T>(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: T[] }>;
}

/** How {@link Database.statement} runs a statement. */
export interface StatementOptions {
  /** The text is built per request, so it may take any of many forms: see {@link VARYING_TEXTS_PREPARED}. */
  textVaries?: boolean;
}

/**
 * How many distinct texts marked `textVaries` a database prepares; later ones run unnamed. This
 * bounds what each pooled PostgreSQL connection keeps prepared for them, whatever callers send.
 */
export const VARYING_TEXTS_PREPARED = 64;

/** An open database: the ORM, with migrations applied. */
export interface Database {
  orm: MikroORM;
  kind: DatabaseConfig['kind'];
  /** Whether this in-memory embedded database was loaded from the build's template (embedded-template.ts) rather than created empty. */
  fromTemplate: boolean;
  /** A fresh EntityManager for one unit of work (one request, one job). */
  fork(): EntityManager;
  /**
   * Runs ONE autocommit statement (outside any unit of work) and resolves its rows. `sql` is written
   * with `?` placeholders as for `em.execute`, but the values are bound as parameters instead of
   * being inlined into the text (see `bindStatement`): on PostgreSQL the statement is prepared under
   * a name derived from its text, so each connection parses and plans it once and then only binds
   * values (unless `DATABASE_PREPARED_STATEMENTS=false`). Every distinct text is a prepared
   * statement on every connection that runs it (until the pool closes that connection), so a text
   * built per request (its columns from the selection, its conditions from filters and policies) says
   * `{ textVaries: true }`: only the first {@link VARYING_TEXTS_PREPARED} such texts this database sees
   * are prepared, the rest run unnamed (parsed and planned each time, as `em.execute` does).
   */
  statement<T extends object>(sql: string, params: readonly unknown[], options?: StatementOptions): Promise<T[]>;
  /** Resolves when the database answers a trivial query in time; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /** The PostgreSQL pool's connections now; null for the embedded database (one session). */
  poolStats(): { total: number; idle: number; waiting: number; max: number } | null;
  close(): Promise<void>;
}

/**
 * Applies pending migrations. On PostgreSQL they run in one transaction that first takes an
 * advisory lock, so replicas starting together migrate one after the other instead of racing.
 * PGlite belongs to one process and has one connection, which that transaction would hold while
 * the migrator needs it too.
 */
async function migrate(orm: MikroORM, kind: DatabaseConfig['kind']): Promise<void> {
  if (kind === 'pglite') {
    await orm.migrator.up();
    return;
  }
  await (orm.em.fork() as EntityManager).transactional(async (em) => {
    await em.execute(`select pg_advisory_xact_lock(hashtext('tool_registry_migrations'))`);
    await orm.migrator.up({ transaction: em.getTransactionContext() });
  });
}

/**
 * The audit export orders entries by the transaction id that wrote them (migration
 * 20261207100200). After a restore into another PostgreSQL cluster, whose transaction counter may be
 * behind the one the log was written on, raises the shift added to new entries' ids past the newest
 * stored one, so new entries still sort after the restored ones. A no-op otherwise.
 */
async function alignAuditExportOrder(em: EntityManager): Promise<void> {
  await em.execute(
    `update audit_txid_shift set shift = greatest(shift, coalesce((select max(txid) from audit_entry), 0) - pg_current_xact_id()::text::bigint + 1) where id = 1`,
  );
}

/**
 * Connects to the configured database and applies pending migrations.
 * Rejects when the database cannot be reached or a migration fails (nothing is half-applied:
 * migrations run in one transaction).
 */
export async function openDatabase(configured: DatabaseConfig, hooks: OrmHooks = {}): Promise<Database> {
  // The in-memory embedded database starts from the build's migrated template, when there is one.
  const inMemory = configured.kind === 'pglite' && !configured.dataDir && !configured.initialData;
  const template = inMemory ? await readEmbeddedTemplate() : null;
  const database: DatabaseConfig = template ? { kind: 'pglite', initialData: template } : configured;
  let pool: PgPool | null = null;
  const orm = await MikroORM.init(createOrmOptions(database, { ...hooks, onPool: (created) => (pool = created as unknown as PgPool) }));
  try {
    await migrate(orm, database.kind);
    await alignAuditExportOrder(orm.em.fork() as EntityManager);
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  // The embedded database is one session: its statements queue behind the ORM's (and its transactions) in kysely.
  const kysely = (orm.em.getConnection() as unknown as { getClient(): Kysely<unknown> }).getClient();
  // Off for connection poolers that do not keep a session's prepared statements (PgBouncer before 1.21 in transaction mode).
  const named = database.kind === 'postgresql' && database.preparedStatements !== false;
  const varyingNames = new Set<string>();
  /** Whether a statement of this name is run prepared. */
  const prepares = (name: string, options?: StatementOptions): boolean => {
    if (!named) return false;
    if (!options?.textVaries || varyingNames.has(name)) return true;
    if (varyingNames.size >= VARYING_TEXTS_PREPARED) return false;
    varyingNames.add(name);
    return true;
  };
  return {
    orm,
    kind: database.kind,
    fromTemplate: template !== null,
    fork: () => orm.em.fork() as EntityManager,
    async statement<T extends object>(sql: string, params: readonly unknown[], options?: StatementOptions) {
      const { name, text, values } = bindStatement(sql, params);
      hooks.onQuery?.(sql);
      if (pool) return (await pool.query<T>(prepares(name, options) ? { name, text, values } : { text, values })).rows;
      return (await kysely.executeQuery<T>(CompiledQuery.raw(text, values))).rows as T[];
    },
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([(orm.em.fork() as EntityManager).getConnection().execute('select 1'), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    poolStats: () => (pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max } : null),
    close: () => orm.close(true),
  };
}
