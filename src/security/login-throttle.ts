import { type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { type AuthThrottleConfig } from '../config.js';

/** Which counter refused an authentication attempt. */
export type ThrottleLimit = 'client_address' | 'address' | 'client' | 'busy';

/** An attempt admitted to verify its secret; report the outcome with `succeeded` or `failed`, exactly once. */
export interface AdmittedAttempt {
  allowed: true;
  /** Runs the secret verification in one of the bounded slots; refuses when the queue is full. */
  verify<T>(work: () => Promise<T>): Promise<T | typeof BUSY>;
  /** The secret was right: the client id's failures at this address are forgotten. */
  succeeded(): Promise<void>;
  /**
   * The secret was wrong: counted on every counter. Says whether to audit it (the 1st, 2nd, 4th, 8th…
   * failure of the window and the last one the limit allows) and the count so far.
   */
  failed(): Promise<{ failures: number; audit: boolean }>;
  /** Verification never happened (no slot): nothing is counted. */
  abandoned(): void;
}

/** An attempt refused before any secret was verified. */
export interface RefusedAttempt {
  allowed: false;
  limit: ThrottleLimit;
  retryAfterSeconds: number;
  /** Attempts this counter refused in its window, this one included. */
  refused: number;
  /** Whether to audit this refusal: the 1st, 2nd, 4th, 8th… of the window, each with the running count. */
  auditRefusal: boolean;
}

/** Returned by {@link AdmittedAttempt.verify} when every verification slot and queue place is taken. */
export const BUSY = Symbol('busy');

/** How long a successful login exempts its client id and address from the per-client-id limit. */
const KNOWN_ADDRESS_SECONDS = 24 * 3600;
/** Verifications that may wait for a slot, per allowed concurrent one. */
const QUEUE_PER_SLOT = 32;

/** One failure count an attempt is checked against. */
interface Counter {
  limit: ThrottleLimit;
  limiter: RateLimiterAbstract;
  key: string;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** At most `size` tasks at once; at most `queueLimit` waiting; beyond that, refused. */
class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly queueLimit: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T | typeof BUSY> {
    if (this.running >= this.size) {
      if (this.waiting.length >= this.queueLimit) return BUSY;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` stays the same.
      if (next) next();
      else this.running -= 1;
    }
  }
}

/**
 * Throttles client authentication at the token endpoint. Failed attempts are counted per client id
 * and source address, per source address, and per client id (not from an address the client id
 * logged in from in the last 24 h, so a distributed guesser cannot lock an owner out of the address
 * it uses); a success clears the client id's count at that address. An attempt is refused before
 * its secret is verified once a counter is at its limit, and waits while the attempts in flight in
 * this process could take a counter past it — so a concurrent flood gets at most the limit's worth
 * of verifications per replica, while concurrent right secrets all get through. Counters live in
 * Redis when a client is given (shared by every replica); while Redis is unreachable each replica
 * counts in its own memory (fails open to per-replica limits, never to none). Secret verifications
 * run at most `maxConcurrentVerifications` at a time.
 */
export class LoginThrottle {
  private readonly perClientAddress: RateLimiterAbstract;
  private readonly perAddress: RateLimiterAbstract;
  private readonly perClient: RateLimiterAbstract;
  private readonly known: RateLimiterAbstract;
  private readonly slots: Slots;
  /** Attempts being verified in this process, per counter and key. */
  private readonly inFlight = new Map<string, number>();
  /** Woken whenever an attempt in flight ends. */
  private waiting: (() => void)[] = [];
  private finishedCount = 0;

  constructor(
    private readonly config: AuthThrottleConfig,
    redis?: Redis,
    namespace = 'registry:',
  ) {
    const limiter = (name: string, points: number, duration: number): RateLimiterAbstract => {
      const options = { keyPrefix: `${namespace}login:${name}`, points, duration };
      return redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
    };
    this.perClientAddress = limiter('client-address', config.failuresPerClientAddress, config.windowSeconds);
    this.perAddress = limiter('address', config.failuresPerAddress, config.windowSeconds);
    this.perClient = limiter('client', config.failuresPerClient, config.windowSeconds);
    this.known = limiter('known', 1, KNOWN_ADDRESS_SECONDS);
    this.slots = new Slots(config.maxConcurrentVerifications, config.maxConcurrentVerifications * QUEUE_PER_SLOT);
  }

  /** Admits an attempt of `clientId` from `address` (perhaps after waiting), or refuses it. Verifies nothing itself. */
  async attempt(clientId: string, address: string): Promise<AdmittedAttempt | RefusedAttempt> {
    const pair = `${clientId}|${address}`;
    const known = await this.known.get(pair).catch(() => null);
    const counters: Counter[] = [
      { limit: 'client_address', limiter: this.perClientAddress, key: pair },
      { limit: 'address', limiter: this.perAddress, key: address },
    ];
    if (!known) counters.push({ limit: 'client', limiter: this.perClient, key: clientId });
    const slot = (c: Counter) => `${c.limit}|${c.key}`;
    for (;;) {
      const generation = this.finishedCount;
      const failures = await Promise.all(counters.map((c) => c.limiter.get(c.key).then((res) => res?.consumedPoints ?? 0)));
      const full = counters.findIndex((c, i) => failures[i]! >= c.limiter.points);
      if (full >= 0) return this.refuse(counters[full]!);
      // An attempt that ended meanwhile may have counted a failure this reading missed: read again.
      if (generation !== this.finishedCount) continue;
      if (counters.every((c, i) => failures[i]! + (this.inFlight.get(slot(c)) ?? 0) < c.limiter.points)) break;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    for (const c of counters) this.inFlight.set(slot(c), (this.inFlight.get(slot(c)) ?? 0) + 1);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      for (const c of counters) {
        const left = (this.inFlight.get(slot(c)) ?? 1) - 1;
        if (left <= 0) this.inFlight.delete(slot(c));
        else this.inFlight.set(slot(c), left);
      }
      this.finishedCount += 1;
      const woken = this.waiting;
      this.waiting = [];
      for (const wake of woken) wake();
    };
    return {
      allowed: true,
      verify: (work) => this.slots.run(work),
      succeeded: async () => {
        try {
          await Promise.allSettled([this.perClientAddress.delete(pair), this.known.set(pair, 1, KNOWN_ADDRESS_SECONDS)]);
        } finally {
          end();
        }
      },
      failed: async () => {
        try {
          const counted = await Promise.all(counters.map((c) => c.limiter.penalty(c.key, 1).then((res) => res.consumedPoints).catch(() => 0)));
          const failures = counted[0]!;
          return { failures, audit: isPowerOfTwo(failures) || failures === this.config.failuresPerClientAddress };
        } finally {
          end();
        }
      },
      abandoned: end,
    };
  }

  /** Counts a refusal on the counter that is full, for the retry delay and the audit summary. */
  private async refuse(counter: Counter): Promise<RefusedAttempt> {
    let res: RateLimiterRes | null;
    try {
      res = await counter.limiter.consume(counter.key, 1);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      res = rejection;
    }
    const refused = Math.max(1, res.consumedPoints - counter.limiter.points);
    return {
      allowed: false,
      limit: counter.limit,
      retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
      refused,
      auditRefusal: isPowerOfTwo(refused),
    };
  }
}
