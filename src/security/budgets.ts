import { type Redis } from 'ioredis';
import { metrics } from '../observability/metrics.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** The state of a principal's hourly query-cost budget after a charge. */
export interface BudgetState {
  allowed: boolean;
  /** Points per hour. */
  limit: number;
  remaining: number;
  resetAt: Date;
}

const WINDOW_SECONDS = 3600;

/**
 * Hourly query-cost budgets per principal (GitHub-style points). Shared through Redis when a
 * client is given (an in-memory limiter stands in while Redis is unreachable), in memory otherwise.
 */
export class CostBudgets {
  private readonly limiters = new Map<number, RateLimiterAbstract>();

  constructor(private readonly redis?: Redis) {}

  /** Charges `cost` points to `principalId`, whose budget is `limit` points per hour. */
  async charge(principalId: string, cost: number, limit: number): Promise<BudgetState> {
    const limiter = this.limiter(limit);
    try {
      const res = await limiter.consume(principalId, Math.max(0, Math.ceil(cost)));
      return { allowed: true, limit, remaining: res.remainingPoints, resetAt: new Date(Date.now() + res.msBeforeNext) };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        metrics.limitRefusals.inc({ limit: 'cost_budget' });
        return { allowed: false, limit, remaining: rejection.remainingPoints, resetAt: new Date(Date.now() + rejection.msBeforeNext) };
      }
      throw rejection;
    }
  }

  private limiter(points: number): RateLimiterAbstract {
    let limiter = this.limiters.get(points);
    if (!limiter) {
      const options = { points, duration: WINDOW_SECONDS, keyPrefix: `budget:${points}` };
      limiter = this.redis
        ? new RateLimiterRedis({ ...options, storeClient: this.redis, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
      this.limiters.set(points, limiter);
    }
    return limiter;
  }
}
