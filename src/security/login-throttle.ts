import { type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { type AuthThrottleConfig } from '../config.js';

/** Which counter refused an authentication attempt. */
export type ThrottleLimit = 'client_address' | 'address' | 'client' | 'busy';

/** An attempt that may go on to verify its secret; report its outcome with {@link LoginThrottle.succeeded}. */
export interface AdmittedAttempt {
  allowed: true;
  /** Attempts of this client id from this address in the current window, this one included. */
  attempts: number;
  /** Whether a failure of this attempt should be audited: the 1st, 2nd, 4th, 8th… and the last one the limit allows. */
  auditFailure: boolean;
  /** Runs the secret verification in one of the bounded slots; refuses when the queue is full. */
  verify<T>(work: () => Promise<T>): Promise<T | typeof BUSY>;
  /** @internal which counters were charged, to give back on success. */
  readonly charged: { address: boolean; client: boolean };
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
 * Throttles client authentication at the token endpoint. Every attempt is charged before its
 * secret is verified — per client id and source address, per source address, and per client id
 * (skipped for an address the client id logged in from in the last 24 h, so a distributed guesser
 * cannot lock an owner out of the address it uses) — and a success gives the charge back and clears
 * the client id's count at that address. Over a limit the attempt is refused with the seconds until
 * the window ends. Counters live in Redis when a client is given (shared by every replica); while
 * Redis is unreachable each replica counts in its own memory (fails open to per-replica limits,
 * never to none). Secret verifications run at most `maxConcurrentVerifications` at a time.
 */
export class LoginThrottle {
  private readonly perClientAddress: RateLimiterAbstract;
  private readonly perAddress: RateLimiterAbstract;
  private readonly perClient: RateLimiterAbstract;
  private readonly known: RateLimiterAbstract;
  private readonly slots: Slots;

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

  /** Charges one attempt of `clientId` from `address`, or refuses it. Never verifies anything itself. */
  async attempt(clientId: string, address: string): Promise<AdmittedAttempt | RefusedAttempt> {
    const pair = `${clientId}|${address}`;
    const known = await this.known.get(pair).catch(() => null);
    const counters: [ThrottleLimit, RateLimiterAbstract, string][] = [
      ['client_address', this.perClientAddress, pair],
      ['address', this.perAddress, address],
    ];
    if (!known) counters.push(['client', this.perClient, clientId]);
    const taken: [RateLimiterAbstract, string][] = [];
    let attempts = 0;
    for (const [limit, counter, key] of counters) {
      try {
        const res = await counter.consume(key, 1);
        if (limit === 'client_address') attempts = res.consumedPoints;
        taken.push([counter, key]);
      } catch (rejection) {
        await Promise.allSettled(taken.map(([c, k]) => c.reward(k, 1)));
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const refused = rejection.consumedPoints - counter.points;
        return {
          allowed: false,
          limit,
          retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
          refused,
          auditRefusal: isPowerOfTwo(refused),
        };
      }
    }
    return {
      allowed: true,
      attempts,
      auditFailure: isPowerOfTwo(attempts) || attempts === this.config.failuresPerClientAddress,
      verify: async (work) => {
        const result = await this.slots.run(work);
        // Refused for want of a slot, the attempt was never tried: its charge is given back.
        if (result === BUSY) await Promise.allSettled(taken.map(([c, k]) => c.reward(k, 1)));
        return result;
      },
      charged: { address: true, client: !known },
    };
  }

  /** A verified secret: the attempt's charge is given back and the client id's count at this address cleared. */
  async succeeded(clientId: string, address: string, attempt: AdmittedAttempt): Promise<void> {
    const pair = `${clientId}|${address}`;
    await Promise.allSettled([
      this.perClientAddress.delete(pair),
      this.perAddress.reward(address, 1),
      attempt.charged.client ? this.perClient.reward(clientId, 1) : Promise.resolve(),
      this.known.set(pair, 1, KNOWN_ADDRESS_SECONDS),
    ]);
  }
}
