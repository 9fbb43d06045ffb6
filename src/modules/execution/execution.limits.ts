import { type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type AppliedLimits } from '../policy/index.js';

/** One counter a call consumes from: a policy's rate window or its quota period. */
interface Counter {
  limiter: RateLimiterAbstract;
  key: string;
  refusal: (res: RateLimiterRes) => RegistryError;
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
 * a client is given (shared by every replica), in memory otherwise. Unlike the query budget there
 * is no in-memory stand-in: when Redis fails, calls are refused (LIMITER_UNAVAILABLE), never run
 * unlimited. A call consumes from every limit that binds it or from none: when one refuses, the
 * points already taken from the others are given back.
 */
export class ExecutionLimiter {
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(private readonly redis?: Redis) {}

  /** Consumes one call; throws RATE_LIMITED, QUOTA_EXCEEDED (with `retryAfterSeconds`) or LIMITER_UNAVAILABLE. */
  async consume(principalId: string, toolId: string, limits: readonly AppliedLimits[], now = new Date()): Promise<void> {
    const counters = this.countersFor(principalId, toolId, limits, now);
    const taken: Counter[] = [];
    try {
      for (const counter of counters) {
        await counter.limiter.consume(counter.key, 1);
        taken.push(counter);
      }
    } catch (rejection) {
      await Promise.allSettled(taken.map((c) => c.limiter.reward(c.key, 1)));
      if (rejection instanceof RateLimiterRes) {
        throw counters[taken.length]!.refusal(rejection);
      }
      throw new RegistryError(ErrorCode.LIMITER_UNAVAILABLE, 'Rate limits cannot be checked right now (the limit store is unreachable); try again shortly');
    }
  }

  private countersFor(principalId: string, toolId: string, limits: readonly AppliedLimits[], now: Date): Counter[] {
    const subject = `${principalId}:${toolId}`;
    const counters: Counter[] = [];
    for (const limit of limits) {
      if (limit.rate) {
        const { calls, windowSeconds } = limit.rate;
        // In memory, a window too long for a timer becomes a fixed window named in the key, whose counter never expires.
        const fixed = !this.redis && windowSeconds > MAX_TIMER_SECONDS;
        const windowMs = windowSeconds * 1000;
        const index = Math.floor(now.getTime() / windowMs);
        counters.push({
          limiter: this.limiter(`exec:rate:${limit.policyId}:${calls}:${windowSeconds}`, calls, fixed ? 0 : windowSeconds),
          key: fixed ? `${subject}:${index}` : subject,
          refusal: (res) =>
            new RegistryError(ErrorCode.RATE_LIMITED, `Rate limit reached: ${calls} calls per ${windowSeconds} s for this tool`, {
              policyId: limit.policyId,
              retryAfterSeconds: Math.max(1, Math.ceil((fixed ? (index + 1) * windowMs - now.getTime() : res.msBeforeNext) / 1000)),
            }),
        });
      }
      if (limit.quota) {
        const { calls, period } = limit.quota;
        const current = quotaPeriod(period, now);
        // The period is part of the key, so a new day or month starts from zero whatever the expiry.
        const duration = period === 'day' ? 86_400 : 31 * 86_400;
        counters.push({
          // In memory a month is too long for a timer: the counter then never expires (the key names the period anyway).
          limiter: this.limiter(`exec:quota:${limit.policyId}:${calls}:${period}`, calls, !this.redis && duration > MAX_TIMER_SECONDS ? 0 : duration),
          key: `${subject}:${current.id}`,
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
