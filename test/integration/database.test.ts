import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { createTestDatabase } from '../helpers/database.js';

describe('opening the database', () => {
  it('applies the migrations once and finds nothing pending when reopened', async () => {
    const testDb = await createTestDatabase();
    const db = await openDatabase(testDb.config);
    try {
      expect(await db.orm.migrator.getPending()).toEqual([]);
      const executed = await db.orm.migrator.getExecuted();
      expect(executed.length).toBeGreaterThan(0);
      const [{ count }] = await db.fork().execute<{ count: number }[]>(`select count(*)::int as count from tool`);
      expect(count).toBe(0);
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
