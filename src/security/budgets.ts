import { HeaderMap } from '@apollo/server';
import { type Redis } from 'ioredis';
import { ErrorCode, RegistryError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** The state of a principal's hourly query-cost budget after a charge. */
export interface BudgetState {
  allowed: boolean;
  /** Points per hour. */
  limit: number;
  remaining: number;
  /** Points spent in the current window (`limit - remaining`). */
  used: number;
  resetAt: Date;
}

/** Whole seconds until `state` refills, at least 1 (what `Retry-After` says). */
export const secondsUntilReset = (state: BudgetState, now = Date.now()): number => Math.max(1, Math.ceil((state.resetAt.getTime() - now) / 1000));

/**
 * The `x-ratelimit-*` headers of an answer (GitHub's names): `limit`, `remaining` and `used` in
 * points, `reset` in epoch seconds, and `resource` (always `graphql`).
 */
export function budgetHeaders(state: BudgetState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-used': String(state.used),
    'x-ratelimit-reset': String(Math.ceil(state.resetAt.getTime() / 1000)),
    'x-ratelimit-resource': 'graphql',
  };
}

/**
 * The refusal of an operation costing `cost` points when the budget is spent: RATE_LIMITED with
 * `limit`, `cost`, `remaining`, `resetAt` (ISO) and `retryAfter` (seconds), answered with HTTP 429,
 * `Retry-After` and the `x-ratelimit-*` headers.
 */
export function budgetExhausted(state: BudgetState, cost: number): RegistryError {
  const retryAfter = secondsUntilReset(state);
  const headers = new HeaderMap([['retry-after', String(retryAfter)], ...Object.entries(budgetHeaders(state))]);
  return new RegistryError(ErrorCode.RATE_LIMITED, `The hourly query budget of ${state.limit} points is spent; it refills at ${state.resetAt.toISOString()}`, {
    limit: state.limit,
    cost,
    remaining: state.remaining,
    resetAt: state.resetAt.toISOString(),
    retryAfter,
    http: { status: 429, headers },
  });
}

const WINDOW_SECONDS = 3600;

function state(allowed: boolean, limit: number, res: RateLimiterRes): BudgetState {
  const remaining = Math.max(0, res.remainingPoints);
  return { allowed, limit, remaining, used: limit - remaining, resetAt: new Date(Date.now() + res.msBeforeNext) };
}

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
      return state(true, limit, res);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        metrics.limitRefusals.inc({ limit: 'cost_budget' });
        return state(false, limit, rejection);
      }
      throw rejection;
    }
  }

  /** `principalId`'s budget as it stands, charging nothing (a full budget when nothing was spent this hour). */
  async peek(principalId: string, limit: number): Promise<BudgetState> {
    const res = await this.limiter(limit).get(principalId);
    if (!res) return { allowed: true, limit, remaining: limit, used: 0, resetAt: new Date(Date.now() + WINDOW_SECONDS * 1000) };
    return state(res.remainingPoints > 0, limit, res);
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
