import { type Redis } from 'ioredis';

/**
 * The baselines and counts the alert rules read, kept out of the database: in this process's memory,
 * or in Redis so every replica counts the same events (and the baselines survive a restart).
 * Counts are per fixed window (`floor(now / window)`), which is also the unit of deduplication.
 */
export interface AlertCounters {
  /** Adds `by` events under `key` to the window of `windowMs` that holds `now`; the window's count after. */
  add(key: string, windowMs: number, by: number, now: number): Promise<number>;
  /** Adds `members` to the set `key`; returns those it did not hold before. */
  addNew(key: string, members: readonly string[]): Promise<string[]>;
  /**
   * The hour-of-day histogram (24 counts) under `key` of the {@link BASELINE_DAYS} days before `day`
   * (days since the epoch, UTC), after adding `add` (`day:hour` of the calls → calls, each call under
   * the day it was made, which may be before `day` when it is evaluated late): today's calls become
   * part of the baseline only tomorrow, so a burst at an unusual hour does not make it usual at once.
   */
  hours(key: string, day: number, add: ReadonlyMap<string, number>): Promise<number[]>;
  /**
   * The usual-rate baseline under `key`: adds `by` to the count of window number `window` (which may be
   * 0, to record that the principal was seen in it) and returns that window's count after, with the
   * counts of the (at most) {@link RATE_HISTORY} latest earlier windows recorded, newest first.
   * Older windows are forgotten.
   */
  rates(key: string, window: number, by: number): Promise<{ count: number; history: number[] }>;
}

/** Windows a principal was seen in that its usual call and denial rates are learnt from. */
export const RATE_HISTORY = 30;

/** The count of `window` and the history before it from `window` → count fields; also the fields too old to keep. */
function ratesOf(fields: Iterable<[string, number]>, window: number): { count: number; history: number[]; stale: string[] } {
  let count = 0;
  const earlier: [number, number][] = [];
  for (const [field, n] of fields) {
    const w = Number(field);
    if (w === window) count = n;
    else if (w < window) earlier.push([w, n]);
  }
  earlier.sort((a, b) => b[0] - a[0]);
  return { count, history: earlier.slice(0, RATE_HISTORY).map(([, n]) => n), stale: earlier.slice(RATE_HISTORY).map(([w]) => String(w)) };
}

/** Days of calls the usual hours are learnt from. */
export const BASELINE_DAYS = 30;

/** The histogram of the baseline days before `day` from `day:hour` → count fields; also the fields too old to keep. */
function histogramBefore(fields: Iterable<[string, number]>, day: number): { histogram: number[]; stale: string[] } {
  const histogram = new Array<number>(24).fill(0);
  const stale: string[] = [];
  for (const [field, n] of fields) {
    const [d, h] = field.split(':').map(Number) as [number, number];
    if (d < day - BASELINE_DAYS) stale.push(field);
    else if (d < day && h >= 0 && h < 24) histogram[h]! += n;
  }
  return { histogram, stale };
}

/** How long a baseline (known tools, usual hours and rates) is kept after its principal's last call. */
const BASELINE_TTL_SECONDS = 30 * 86_400;
/** Keys one process keeps in memory; the least recently used go first past it. */
const MEMORY_KEYS = 100_000;

/** {@link AlertCounters} in this process's memory (one replica): bounded, least recently used keys dropped. */
export class MemoryAlertCounters implements AlertCounters {
  private readonly windows = new Map<string, { window: number; count: number }>();
  private readonly sets = new Map<string, Set<string>>();
  private readonly histograms = new Map<string, Map<string, number>>();
  private readonly windowCounts = new Map<string, Map<string, number>>();

  async add(key: string, windowMs: number, by: number, now: number): Promise<number> {
    const window = Math.floor(now / windowMs);
    const entry = this.windows.get(key);
    const count = (entry && entry.window === window ? entry.count : 0) + by;
    touch(this.windows, key, { window, count });
    return count;
  }

  async addNew(key: string, members: readonly string[]): Promise<string[]> {
    const set = this.sets.get(key) ?? new Set<string>();
    const added = members.filter((m) => !set.has(m));
    for (const m of added) set.add(m);
    touch(this.sets, key, set);
    return added;
  }

  async hours(key: string, day: number, add: ReadonlyMap<string, number>): Promise<number[]> {
    const fields = this.histograms.get(key) ?? new Map<string, number>();
    for (const [field, n] of add) fields.set(field, (fields.get(field) ?? 0) + n);
    const { histogram, stale } = histogramBefore(fields, day);
    for (const field of stale) fields.delete(field);
    touch(this.histograms, key, fields);
    return histogram;
  }

  async rates(key: string, window: number, by: number): Promise<{ count: number; history: number[] }> {
    const fields = this.windowCounts.get(key) ?? new Map<string, number>();
    fields.set(String(window), (fields.get(String(window)) ?? 0) + by);
    const { count, history, stale } = ratesOf(fields, window);
    for (const field of stale) fields.delete(field);
    touch(this.windowCounts, key, fields);
    return { count, history };
  }
}

/** Sets `key` as the most recently used entry of `map`, dropping the least recently used past the bound. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MEMORY_KEYS) map.delete(map.keys().next().value!);
}

/** {@link AlertCounters} in Redis, shared by every replica of the registry (keys under `prefix`). */
export class RedisAlertCounters implements AlertCounters {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async add(key: string, windowMs: number, by: number, now: number): Promise<number> {
    const window = Math.floor(now / windowMs);
    const name = `${this.prefix}alerts:count:${key}:${window}`;
    const results = await this.redis.multi().incrby(name, by).pexpire(name, windowMs * 2).exec();
    return Number(results?.[0]?.[1] ?? by);
  }

  async addNew(key: string, members: readonly string[]): Promise<string[]> {
    if (members.length === 0) return [];
    const name = `${this.prefix}alerts:set:${key}`;
    const multi = this.redis.multi();
    for (const m of members) multi.sadd(name, m);
    multi.expire(name, BASELINE_TTL_SECONDS);
    const results = (await multi.exec()) ?? [];
    return members.filter((_, i) => Number(results[i]?.[1]) === 1);
  }

  async hours(key: string, day: number, add: ReadonlyMap<string, number>): Promise<number[]> {
    const name = `${this.prefix}alerts:hours:${key}`;
    const multi = this.redis.multi();
    for (const [field, n] of add) multi.hincrby(name, field, n);
    multi.expire(name, BASELINE_TTL_SECONDS).hgetall(name);
    const results = (await multi.exec()) ?? [];
    const stored = (results.at(-1)?.[1] ?? {}) as Record<string, string>;
    const { histogram, stale } = histogramBefore(Object.entries(stored).map(([f, n]) => [f, Number(n)]), day);
    if (stale.length) await this.redis.hdel(name, ...stale);
    return histogram;
  }

  async rates(key: string, window: number, by: number): Promise<{ count: number; history: number[] }> {
    const name = `${this.prefix}alerts:rates:${key}`;
    const results = (await this.redis.multi().hincrby(name, String(window), by).expire(name, BASELINE_TTL_SECONDS).hgetall(name).exec()) ?? [];
    const stored = (results.at(-1)?.[1] ?? {}) as Record<string, string>;
    const { count, history, stale } = ratesOf(Object.entries(stored).map(([f, n]) => [f, Number(n)]), window);
    if (stale.length) await this.redis.hdel(name, ...stale);
    return { count, history };
  }
}
