import { type EventBus } from '../../common/event-bus.js';
import { InvalidationListener } from '../../common/invalidations.js';
import { type Logger } from '../../logger.js';
import { announced } from '../principal/token-holders.js';
import { type CompiledPolicies } from './policy.engine.js';

/** Topic on which a replica announces that the stored policies changed. */
export const POLICY_TOPIC = 'policies-changed';

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
  private readonly invalidations: InvalidationListener;

  constructor(
    private readonly bus: EventBus,
    logger: Logger,
    private readonly ttlMs: number,
  ) {
    const drop = () => (this.held = undefined);
    this.invalidations = new InvalidationListener(bus, [POLICY_TOPIC], { onMessage: drop, onMissed: drop }, logger, 'policy cache');
  }

  /** Listens for changes from every replica; retried in the background while the bus is out of reach. */
  async start(): Promise<void> {
    if (this.ttlMs > 0) await this.invalidations.start();
  }

  /** Stops listening; the cache is off from now on. */
  close(): void {
    this.invalidations.close();
  }

  /** Drops the held set here and on every replica; call once a change committed. Resolves once the bus took it. */
  changed(): Promise<void> {
    this.held = undefined;
    return announced(this.bus.publish(POLICY_TOPIC, {}));
  }

  /** The compiled policies: the held set while it is current, else what `load` reads (kept when usable). */
  compiled(load: () => Promise<CompiledPolicies>): Promise<CompiledPolicies> {
    if (!this.invalidations.usable()) return load();
    const now = Date.now();
    if (this.held && this.held.until > now) return this.held.compiled;
    const held = { compiled: load(), until: now + this.ttlMs };
    this.held = held;
    held.compiled.catch(() => {
      if (this.held === held) this.held = undefined;
    });
    return held.compiled;
  }
}
