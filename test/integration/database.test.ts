import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase, VARYING_TEXTS_PREPARED } from '../../src/db/database.js';
import { readEmbeddedTemplate, templateFile } from '../../src/db/embedded-template.js';
import { createLogger } from '../../src/logger.js';
import { AuditEntry, AuditOutcome, AuditService } from '../../src/modules/audit/index.js';
import { Provider } from '../../src/modules/provider/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { BUNDLED_MANUALS, seedCatalog } from '../../src/seed/seed.js';
import { BUILT_TEMPLATE_DIR, createTestDatabase } from '../helpers/database.js';

describe('opening the database', () => {
  it('applies the migrations once and finds nothing pending when reopened', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      expect(await db.orm.migrator.getPending()).toEqual([]);
      const executed = await db.orm.migrator.getExecuted();
      expect(executed.length).toBeGreaterThan(0);
      const rows = await db.fork().execute<{ count: number }[]>(`select count(*)::int as count from tool`);
      expect(rows).toEqual([{ count: 0 }]);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it("loads the build's template of the in-memory database only for the PGlite that made it", async () => {
    const dump = await readEmbeddedTemplate(BUILT_TEMPLATE_DIR);
    expect(dump).toBeInstanceOf(Blob);
    const db = await openDatabase({ kind: 'pglite', initialData: dump! });
    try {
      expect(await db.orm.migrator.getPending()).toEqual([]);
      expect(await db.fork().execute(`select count(*)::int as count from tool`)).toEqual([{ count: 0 }]);
    } finally {
      await db.close();
    }
    const other = await mkdtemp(join(tmpdir(), 'embedded-template-'));
    try {
      expect(await readEmbeddedTemplate(other)).toBeNull();
      await copyFile(templateFile(BUILT_TEMPLATE_DIR), join(other, 'pglite-0.0.1.tar.gz'));
      expect(await readEmbeddedTemplate(other)).toBeNull();
      // A damaged one is named, with what to do, rather than loaded or passed over.
      await writeFile(templateFile(other), 'not a dump');
      await expect(readEmbeddedTemplate(other)).rejects.toThrow(`The embedded database's template ${templateFile(other)} cannot be read (incorrect header check): run \`npm run build\` again, or delete it`);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('finds the entities and the migrations in agreement, so `migration create` proposes nothing (it never drops what migrations keep beside the entities)', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it('runs a statement with its values bound, not inlined: quotes, question marks, JSON and lists arrive as sent', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      const hostile = `o'brien \\ ?; $1 -- drop table tool`;
      const rows = await db.statement<{ text: string; doc: unknown; listed: boolean; none: null }>(
        `select ?::text as text, ?::jsonb as doc, ? = any(array[?]::text[]) as listed, ?::text as none`,
        [hostile, JSON.stringify({ quote: "it's", mark: '?' }), 'b', ['a', 'b'], null],
      );
      expect(rows).toEqual([{ text: hostile, doc: { quote: "it's", mark: '?' }, listed: true, none: null }]);
      // Again (on PostgreSQL, the prepared statement is reused with other values).
      const again = await db.statement<{ text: string }>(`select ?::text as text, ?::jsonb as doc, ? = any(array[?]::text[]) as listed, ?::text as none`, ['x', 'null', 'c', ['a', 'b'], null]);
      expect(again).toEqual([{ text: 'x', doc: null, listed: false, none: null }]);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('prepares a statement once per connection under its name, unless DATABASE_PREPARED_STATEMENTS is off', async () => {
    const testDb = await createTestDatabase();
    const prepared = (db: Awaited<ReturnType<typeof openDatabase>>) =>
      db.statement<{ n: number }>(`select count(*)::int as n from pg_prepared_statements where statement like ?`, ['%as probe_value%']);
    try {
      if (testDb.config.kind !== 'postgresql') throw new Error('expected PostgreSQL');
      // Statements one after the other: the pool hands back the connection released last (LIFO), so
      // each meets the ones before it.
      const named = await openDatabase(testDb.config);
      try {
        for (const value of [1, 2, 3]) expect(await named.statement(`select ?::int as probe_value`, [value])).toEqual([{ probe_value: value }]);
        expect(await prepared(named)).toEqual([{ n: 1 }]);
      } finally {
        await named.close();
      }
      const unnamed = await openDatabase({ ...testDb.config, preparedStatements: false });
      try {
        expect(await unnamed.statement(`select ?::int as probe_value`, [4])).toEqual([{ probe_value: 4 }]);
        expect(await prepared(unnamed)).toEqual([{ n: 0 }]);
      } finally {
        await unnamed.close();
      }
    } finally {
      await testDb.drop();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('prepares only the first VARYING_TEXTS_PREPARED texts built per request, and runs the rest unnamed', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    const prepared = async (pattern: string) =>
      (await db.statement<{ n: number }>(`select count(*)::int as n from pg_prepared_statements where statement like ?`, [pattern]))[0]!.n;
    try {
      // One after the other, so each statement meets the ones before it on the connection released last.
      const texts = Array.from({ length: VARYING_TEXTS_PREPARED + 6 }, (_, i) => `select ?::int as varying_probe_${i}`);
      for (const [i, text] of texts.entries()) expect(await db.statement(text, [i], { textVaries: true })).toEqual([{ [`varying_probe_${i}`]: i }]);
      expect(await prepared('%as varying_probe_%')).toBe(VARYING_TEXTS_PREPARED);
      // Texts admitted before stay prepared; one seen after the bound still answers, unprepared.
      expect(await db.statement(texts[0]!, [7], { textVaries: true })).toEqual([{ varying_probe_0: 7 }]);
      const late = texts.at(-1)!;
      expect(await db.statement(late, [8], { textVaries: true })).toEqual([{ [`varying_probe_${texts.length - 1}`]: 8 }]);
      expect(await prepared(`%${late.slice(-20)}`)).toBe(0);
      // Fixed texts are not counted against the bound.
      expect(await db.statement(`select ?::int as fixed_probe`, [1])).toEqual([{ fixed_probe: 1 }]);
      expect(await prepared('%as fixed_probe%')).toBe(1);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('plans a catalog page without valued conditions once per connection, and one with them for its values', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    const plans = async (pattern: string) =>
      (
        await db.statement<{ generic: number; custom: number }>(
          `select coalesce(sum(generic_plans), 0)::int as generic, coalesce(sum(custom_plans), 0)::int as custom from pg_prepared_statements where statement like ?`,
          [pattern],
        )
      )[0]!;
    try {
      await seedCatalog(db, createLogger('silent'));
      // One after the other, so each listing meets the ones before it on the connection released last.
      const tools = new ToolService(db.fork(), async () => null, db);
      for (let i = 0; i < 8; i++) expect((await tools.list({ first: 3 })).edges).toHaveLength(3);
      // No parameter: PostgreSQL plans it once, then reuses that plan (a `limit $n` was planned for every page).
      expect(await plans('%from tool t join provider p%limit 4')).toEqual({ generic: 8, custom: 0 });
      // With a value in its conditions the limit is a parameter too: PostgreSQL plans the first five
      // executions for their values, and then keeps doing so unless a generic plan costs no more.
      for (let i = 0; i < 8; i++) await tools.list({ first: 3, filter: { tags: ['time'] } });
      expect((await plans('%t.tags @> %limit $%')).custom).toBeGreaterThanOrEqual(5);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('closes a pooled connection after DATABASE_POOL_IDLE_SECONDS unused, and keeps it before', async () => {
    const testDb = await createTestDatabase();
    const backend = async (db: Awaited<ReturnType<typeof openDatabase>>) => (await db.statement<{ pid: number }>('select pg_backend_pid() as pid', []))[0]!.pid;
    try {
      if (testDb.config.kind !== 'postgresql') throw new Error('expected PostgreSQL');
      const db = await openDatabase({ ...testDb.config, poolIdleSeconds: 1 });
      try {
        const first = await backend(db);
        expect(await backend(db)).toBe(first);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        // The idle connection was closed: the next statement opens a new one (a new server process).
        expect(await backend(db)).not.toBe(first);
      } finally {
        await db.close();
      }
    } finally {
      await testDb.drop();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('lets two replicas that start together migrate one database', async () => {
    const testDb = await createTestDatabase();
    try {
      const replicas = await Promise.all([openDatabase(testDb.config), openDatabase(testDb.config)]);
      for (const db of replicas) expect(await db.orm.migrator.getPending()).toEqual([]);
      await Promise.all(replicas.map((db) => db.close()));
    } finally {
      await testDb.drop();
    }
  });
});

describe('seeding the example catalog', () => {
  it('imports each bundled provider once, also when replicas seed at the same moment', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    const logger = createLogger('silent');
    try {
      await Promise.all([seedCatalog(db, logger), seedCatalog(db, logger)]);
      await seedCatalog(db, logger);
      const providers = await db.fork().find(Provider, {}, { orderBy: { name: 'asc' } });
      expect(providers.map((p) => p.name)).toEqual(BUNDLED_MANUALS.map((m) => m.provider).sort());
    } finally {
      await db.close();
      await testDb.drop();
    }
  });
});

describe('the audit chain', () => {
  it('names the first entry whose content was changed behind its back', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      const em = db.fork();
      await em.transactional(async (tx) => {
        const audit = new AuditService(tx);
        for (const action of ['first', 'second', 'third']) {
          await audit.append({ action, targetType: 'test', outcome: AuditOutcome.SUCCESS, details: { action } });
        }
      });
      const entries = await db.fork().find(AuditEntry, {}, { orderBy: { seq: 'asc' } });
      expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
      expect(await new AuditService(db.fork()).verify(2)).toMatchObject({ valid: true, checked: 3, firstBrokenSeq: null });

      // Only someone who can switch the append-only trigger off can do this; verify still notices.
      await em.execute('alter table audit_entry disable trigger audit_entry_append_only');
      await em.execute(`update audit_entry set details = '{"action":"forged"}' where seq = ?`, [entries[1]!.seq]);
      await em.execute('alter table audit_entry enable trigger audit_entry_append_only');
      expect(await new AuditService(db.fork()).verify(2)).toMatchObject({ valid: false, checked: 1, firstBrokenSeq: entries[1]!.seq });
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it('refuses to append outside a transaction', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      await expect(
        new AuditService(db.fork()).append({ action: 'x', targetType: 'test', outcome: AuditOutcome.SUCCESS }),
      ).rejects.toThrow(/inside a transaction/);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });
});
