import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type AlertCounters, MemoryAlertCounters, RATE_HISTORY, RedisAlertCounters } from '../../src/modules/alert/alert.counters.js';

const DAY = 20_460; // 2026-01-07, days since the epoch
const redis = process.env.TEST_REDIS_URL ? new Redis(process.env.TEST_REDIS_URL) : null;
const prefix = `test:alert-counters:${process.pid}:${Date.now()}:`;
afterAll(async () => {
  if (!redis) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const stores: [string, () => AlertCounters][] = [['memory', () => new MemoryAlertCounters()]];
if (redis) stores.push(['Redis', () => new RedisAlertCounters(redis, prefix)]);

describe.each(stores)('the usual-hours baseline (%s)', (_, make) => {
  it("keeps today's calls out of today's histogram, and counts them from tomorrow on", async () => {
    const counters = make();
    expect(await counters.hours('h:a', DAY, new Map([[`${DAY}:10`, 40]]))).toEqual(new Array(24).fill(0));
    const tomorrow = await counters.hours('h:a', DAY + 1, new Map([[`${DAY + 1}:22`, 1]]));
    expect(tomorrow[10]).toBe(40);
    expect(tomorrow[22]).toBe(0);
  });

  it('files calls evaluated after midnight under the day they were made, so yesterday is part of the baseline', async () => {
    const counters = make();
    // A batch evaluated on the next day still holds the day before's calls: they count as yesterday's.
    const late = await counters.hours('h:b', DAY + 1, new Map([[`${DAY}:23`, 35], [`${DAY + 1}:0`, 2]]));
    expect(late[23]).toBe(35);
    expect(late[0]).toBe(0);
  });

  it('forgets days older than the baseline', async () => {
    const counters = make();
    await counters.hours('h:c', DAY - 40, new Map([[`${DAY - 40}:3`, 50]]));
    const now = await counters.hours('h:c', DAY, new Map([[`${DAY}:4`, 1]]));
    expect(now[3]).toBe(0);
  });
});

describe.each(stores)('the usual-rate baseline (%s)', (_, make) => {
  it("returns the window's count with the earlier windows' counts, newest first, and never a later window", async () => {
    const counters = make();
    expect(await counters.rates('r:a', 100, 4)).toEqual({ count: 4, history: [] });
    expect(await counters.rates('r:a', 100, 3)).toEqual({ count: 7, history: [] });
    // A window the principal was seen in without such an event still counts, as 0.
    await counters.rates('r:a', 103, 0);
    await counters.rates('r:a', 105, 2);
    expect(await counters.rates('r:a', 104, 1)).toEqual({ count: 1, history: [0, 7] });
    expect(await counters.rates('r:a', 106, 9)).toEqual({ count: 9, history: [2, 1, 0, 7] });
  });

  it(`keeps the latest ${RATE_HISTORY} earlier windows only`, async () => {
    const counters = make();
    for (let w = 1; w <= RATE_HISTORY + 5; w += 1) await counters.rates('r:b', w, w);
    const { count, history } = await counters.rates('r:b', RATE_HISTORY + 6, 1);
    expect(count).toBe(1);
    expect(history).toHaveLength(RATE_HISTORY);
    expect(history[0]).toBe(RATE_HISTORY + 5);
    expect(history.at(-1)).toBe(6);
  });
});
