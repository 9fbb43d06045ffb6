import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { Provider } from '../../src/modules/provider/index.js';
import { BUNDLED_MANUALS, seedCatalog } from '../../src/seed/seed.js';
import { createTestDatabase } from '../helpers/database.js';

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
