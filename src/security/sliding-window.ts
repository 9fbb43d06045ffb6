import { type Redis } from 'ioredis';

/**
 * Slots per window. A window is counted in slots of `window / SLOTS` (at least 1 ms); a call is
 * admitted when the calls in every slot that overlaps the last `window` number fewer than the
 * limit. That bounds every span of the window's length, and at worst refuses a call one slot
 * (1/60 of the window) before an exact log of every call would, in constant memory per key.
 */
const SLOTS = 60;

/** The outcome of one call offered to a sliding window. */
export type Admission = { admitted: true; slot: number } | { admitted: false; retryAfterMs: number };

/** Slot width in ms for a window. */
function slotMsOf(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / SLOTS));
}

/**
 * The admission decision over a key's slot counts at `now` (shared by both stores; the Lua script
 * below is the same algorithm): drops slots wholly before the window, admits when fewer than
 * `limit` calls remain in it, else says when enough of the oldest slots will have left it.
 */
function decide(slots: Map<number, number>, limit: number, windowMs: number, now: number): Admission {
  const slotMs = slotMsOf(windowMs);
  const current = Math.floor(now / slotMs);
  const oldest = Math.floor((now - windowMs) / slotMs);
  let total = 0;
  for (const [slot, count] of slots) {
    if (slot < oldest) slots.delete(slot);
    else total += count;
  }
  if (total < limit) {
    slots.set(current, (slots.get(current) ?? 0) + 1);
    return { admitted: true, slot: current };
  }
  let excess = total - limit + 1;
  for (const slot of [...slots.keys()].sort((a, b) => a - b)) {
    excess -= slots.get(slot)!;
    if (excess <= 0) return { admitted: false, retryAfterMs: (slot + 1) * slotMs + windowMs - now };
  }
  return { admitted: false, retryAfterMs: slotMs };
}

/**
 * Sliding-window limits: at most `limit` calls per key in ANY span of `windowMs` (not per fixed
 * window, which lets up to twice the limit through across a window edge).
 */
export interface SlidingWindow {
  /** Offers one call; rejects only when the store cannot be reached. */
  take(key: string, limit: number, windowMs: number): Promise<Admission>;
  /** Gives back a call admitted in `slot` (another limit refused it). Best effort. */
  giveBack(key: string, windowMs: number, slot: number): Promise<void>;
}

/** A sliding window in this process's memory (one replica, or tests); idle keys are swept as others are taken. */
export class MemorySlidingWindow implements SlidingWindow {
  private readonly keys = new Map<string, { slots: Map<number, number>; idleAfter: number }>();
  private takes = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  async take(key: string, limit: number, windowMs: number): Promise<Admission> {
    const now = this.clock();
    if (++this.takes % 1000 === 0) this.sweep(now);
    let entry = this.keys.get(key);
    if (!entry) {
      entry = { slots: new Map(), idleAfter: 0 };
      this.keys.set(key, entry);
    }
    entry.idleAfter = now + windowMs + slotMsOf(windowMs);
    return decide(entry.slots, limit, windowMs, now);
  }

  async giveBack(key: string, _windowMs: number, slot: number): Promise<void> {
    const slots = this.keys.get(key)?.slots;
    const count = slots?.get(slot);
    if (slots && count !== undefined) slots.set(slot, count - 1);
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.keys) if (entry.idleAfter < now) this.keys.delete(key);
  }
}

/** {@link decide} in Lua, on a hash of slot → count, with Redis's clock (one clock for every replica). */
const TAKE = `
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local slotMs = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = math.floor(now / slotMs)
local oldest = math.floor((now - windowMs) / slotMs)
local entries = redis.call('HGETALL', KEYS[1])
local total = 0
local kept = {}
for i = 1, #entries, 2 do
  local slot = tonumber(entries[i])
  local count = tonumber(entries[i + 1])
  if slot < oldest then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    total = total + count
    kept[#kept + 1] = { slot, count }
  end
end
if total < limit then
  local field = string.format('%d', current)
  redis.call('HINCRBY', KEYS[1], field, 1)
  redis.call('PEXPIRE', KEYS[1], windowMs + slotMs)
  return { 1, field }
end
table.sort(kept, function(a, b) return a[1] < b[1] end)
local excess = total - limit + 1
for _, entry in ipairs(kept) do
  excess = excess - entry[2]
  if excess <= 0 then return { 0, string.format('%d', (entry[1] + 1) * slotMs + windowMs - now) } end
end
return { 0, string.format('%d', slotMs) }
`;

const GIVE_BACK = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
return 0
`;

interface SlidingWindowCommands {
  registrySlidingWindowTake(key: string, limit: number, windowMs: number, slotMs: number): Promise<[number, string]>;
  registrySlidingWindowGiveBack(key: string, slot: number): Promise<number>;
}

/**
 * A sliding window in Redis, shared exactly by every replica: each offer is one atomic script
 * (EVALSHA) timed by Redis's clock. Rejects when Redis is unreachable (the client has no offline queue).
 */
export class RedisSlidingWindow implements SlidingWindow {
  private readonly commands: SlidingWindowCommands;

  constructor(redis: Redis) {
    if (!('registrySlidingWindowTake' in redis)) {
      redis.defineCommand('registrySlidingWindowTake', { numberOfKeys: 1, lua: TAKE });
      redis.defineCommand('registrySlidingWindowGiveBack', { numberOfKeys: 1, lua: GIVE_BACK });
    }
    this.commands = redis as unknown as SlidingWindowCommands;
  }

  async take(key: string, limit: number, windowMs: number): Promise<Admission> {
    const [admitted, value] = await this.commands.registrySlidingWindowTake(key, limit, windowMs, slotMsOf(windowMs));
    return admitted === 1 ? { admitted: true, slot: Number(value) } : { admitted: false, retryAfterMs: Number(value) };
  }

  async giveBack(key: string, _windowMs: number, slot: number): Promise<void> {
    await this.commands.registrySlidingWindowGiveBack(key, slot);
  }
}
