import { type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, RegistryError } from '../../errors.js';
import { MemorySlidingWindow, RedisSlidingWindow, type SlidingWindow } from '../../security/sliding-window.js';
import { type AppliedLimits } from '../policy/index.js';

/** What offering a call to one counter did: taken (and how to give it back), or refused with when to retry. */
type Outcome = { taken: true; giveBack: () => Promise<unknown> } | { taken: false; retryAfterMs: number };

/** One counter a call consumes from: a policy's rate window or its quota period. Rejects when its store is unreachable. */
interface Counter {
  take: () => Promise<Outcome>;
  refusal: (retryAfterMs: number) => RegistryError;
}

/**
 * The longest delay setTimeout accepts, in seconds. The memory store expires a key with a timer, and a
 * longer timer fires at once (deleting the counter), so longer windows are kept without one (below).
 */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** The current quota period (UTC) and the seconds until it ends. */
function quotaPeriod(period: 'day' | 'month', now: Date): { id: string; seconds: number } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const end = period === 'day' ? Date.UTC(y, m, now.getUTCDate() + 1) : Date.UTC(y, m + 1, 1);
  const id = period === 'day' ? now.toISOString().slice(0, 10) : now.toISOString().slice(0, 7);
  return { id, seconds: Math.max(1, Math.ceil((end - now.getTime()) / 1000)) };
}

/**
 * Rate limits and quotas of executions, per policy, principal and tool. Counters live in Redis when
 * a client is given (shared by every replica), in memory otherwise. A rate limit of N calls per W
 * seconds is a sliding window (see security/sliding-window.ts): no span of W seconds holds more
 * than N admitted calls. A quota is per calendar day or month (UTC), a fixed period by definition.
 * Unlike the query budget there is no in-memory stand-in: when Redis fails, calls are refused
 * (LIMITER_UNAVAILABLE), never run unlimited. A call consumes from every limit that binds it or from none: when one refuses, the
 * points already taken from the others are given back.
 */
export class ExecutionLimiter {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly windows: SlidingWindow;

  constructor(private readonly redis?: Redis) {
    this.windows = redis ? new RedisSlidingWindow(redis) : new MemorySlidingWindow();
  }

  /** Consumes one call; throws RATE_LIMITED, QUOTA_EXCEEDED (with `retryAfterSeconds`) or LIMITER_UNAVAILABLE. */
  async consume(principalId: string, toolId: string, limits: readonly AppliedLimits[], now = new Date()): Promise<void> {
    const counters = this.countersFor(principalId, toolId, limits, now);
    const taken: (() => Promise<unknown>)[] = [];
    let refused: RegistryError | undefined;
    try {
      for (const counter of counters) {
        const outcome = await counter.take();
        if (!outcome.taken) {
          refused = counter.refusal(outcome.retryAfterMs);
          break;
        }
        taken.push(outcome.giveBack);
      }
    } catch {
      refused = new RegistryError(ErrorCode.LIMITER_UNAVAILABLE, 'Rate limits cannot be checked right now (the limit store is unreachable); try again shortly');
    }
    if (refused) {
      await Promise.allSettled(taken.map((giveBack) => giveBack()));
      throw refused;
    }
  }

  private countersFor(principalId: string, toolId: string, limits: readonly AppliedLimits[], now: Date): Counter[] {
    const subject = `${principalId}:${toolId}`;
    const counters: Counter[] = [];
    for (const limit of limits) {
      if (limit.rate) {
        const { calls, windowSeconds } = limit.rate;
        const windowMs = windowSeconds * 1000;
        const key = `exec:window:${limit.policyId}:${calls}:${windowSeconds}:${subject}`;
        counters.push({
          take: async () => {
            const admission = await this.windows.take(key, calls, windowMs);
            return admission.admitted
              ? { taken: true, giveBack: () => this.windows.giveBack(key, windowMs, admission.slot) }
              : { taken: false, retryAfterMs: admission.retryAfterMs };
          },
          refusal: (retryAfterMs) =>
            new RegistryError(ErrorCode.RATE_LIMITED, `Rate limit reached: ${calls} calls in any ${windowSeconds} s for this tool`, {
              policyId: limit.policyId,
              retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
            }),
        });
      }
      if (limit.quota) {
        const { calls, period } = limit.quota;
        const current = quotaPeriod(period, now);
        // The period is part of the key, so a new day or month starts from zero whatever the expiry.
        const duration = period === 'day' ? 86_400 : 31 * 86_400;
        // In memory a month is too long for a timer: the counter then never expires (the key names the period anyway).
        const limiter = this.limiter(`exec:quota:${limit.policyId}:${calls}:${period}`, calls, !this.redis && duration > MAX_TIMER_SECONDS ? 0 : duration);
        const key = `${subject}:${current.id}`;
        counters.push({
          take: async () => {
            try {
              await limiter.consume(key, 1);
            } catch (rejection) {
              if (rejection instanceof RateLimiterRes) return { taken: false, retryAfterMs: rejection.msBeforeNext };
              throw rejection;
            }
            return { taken: true, giveBack: () => limiter.reward(key, 1) };
          },
          refusal: () =>
            new RegistryError(ErrorCode.QUOTA_EXCEEDED, `Quota used up: ${calls} calls per ${period} for this tool`, {
              policyId: limit.policyId,
              retryAfterSeconds: current.seconds,
            }),
        });
      }
    }
    return counters;
  }

  private limiter(keyPrefix: string, points: number, duration: number): RateLimiterAbstract {
    let limiter = this.limiters.get(keyPrefix);
    if (!limiter) {
      const options = { keyPrefix, points, duration };
      limiter = this.redis ? new RateLimiterRedis({ ...options, storeClient: this.redis, rejectIfRedisNotReady: true }) : new RateLimiterMemory(options);
      if (this.limiters.size > 10_000) this.limiters.clear();
      this.limiters.set(keyPrefix, limiter);
    }
    return limiter;
  }
}
