import { type EventBus } from '../../common/event-bus.js';
import { type Logger } from '../../logger.js';
import { announced } from '../principal/token-holders.js';
import { type CompiledPolicies } from './policy.engine.js';

/** Topic on which a replica announces that the stored policies changed. */
export const POLICY_TOPIC = 'policies-changed';
/** How soon listening for changes is tried again after the bus could not be reached. */
const RETRY_MS = 5_000;

/**
 * The compiled policy set, held per process so that access decisions of a warm process read no
 * SQL. A policy change (create, update, delete; activation is an update) is announced on the event
 * bus ({@link changed}) once committed and drops the set here and on every other replica at once;
 * the next decision reads and compiles the policies again (one read shared by concurrent requests).
 * While the bus may be missing messages (its delivery epoch is null, or listening has not started)
 * the set is read per request, as without the cache; when delivery resumes what was held is
 * dropped. A change whose announcement is lost all the same is seen within `ttlMs`. Never throws
 * for the bus; a failed read is not kept.
 */
export class PolicyCache {
  private held?: { compiled: Promise<CompiledPolicies>; until: number };
  private epoch: number | null = null;
  private listening = false;
  private retry?: NodeJS.Timeout;
  private readonly stop = new AbortController();

  constructor(
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly ttlMs: number,
  ) {}

  /** Listens for changes from every replica; retried in the background while the bus is out of reach. */
  async start(): Promise<void> {
    if (this.ttlMs <= 0) return;
    try {
      const messages = await this.bus.listen(POLICY_TOPIC, this.stop.signal);
      this.listening = true;
      void (async () => {
        for await (const _ of messages) this.held = undefined;
      })().catch((error: unknown) => {
        this.listening = false;
        this.logger.warn({ err: error }, 'policy invalidations stopped; decisions read the policies per request');
      });
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'policy cache off until its invalidations can be received');
      if (!this.stop.signal.aborted) {
        this.retry = setTimeout(() => void this.start(), RETRY_MS);
        this.retry.unref();
      }
    }
  }

  /** Stops listening; the cache is off from now on. */
  close(): void {
    clearTimeout(this.retry);
    this.listening = false;
    this.stop.abort();
  }

  /** Drops the held set here and on every replica; call once a change committed. Resolves once the bus took it. */
  changed(): Promise<void> {
    this.held = undefined;
    return announced(this.bus.publish(POLICY_TOPIC, {}));
  }

  /** The compiled policies: the held set while it is current, else what `load` reads (kept when usable). */
  compiled(load: () => Promise<CompiledPolicies>): Promise<CompiledPolicies> {
    if (!this.usable()) return load();
    const now = Date.now();
    if (this.held && this.held.until > now) return this.held.compiled;
    const held = { compiled: load(), until: now + this.ttlMs };
    this.held = held;
    held.compiled.catch(() => {
      if (this.held === held) this.held = undefined;
    });
    return held.compiled;
  }

  /** Whether the held set may be used now; drops it when changes may have been missed since. */
  private usable(): boolean {
    if (!this.listening) return false;
    const epoch = this.bus.deliveryEpoch();
    if (epoch === null) return false;
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.held = undefined;
    }
    return true;
  }
}
