import { type EntityManager } from '@mikro-orm/postgresql';
import { PeriodicTask } from '../../common/periodic-task.js';
import { type Database } from '../../db/database.js';
import { type Logger } from '../../logger.js';
import { ProviderRegistrationService, type RegistrationDependencies } from './provider-registration.service.js';
import { Provider, ProviderStatus } from './provider.entity.js';

/** Providers refreshed per tick at most, so one tick stays short. */
const BATCH = 20;

/**
 * Re-discovers providers periodically. Each tick, one replica at a time (a transaction-scoped
 * PostgreSQL advisory lock) claims the providers whose last discovery is older than the interval
 * by stamping them, then refreshes them outside any transaction. Ticks are jittered (±20%) so
 * replicas do not wake together.
 */
export class ProviderRefresher {
  private readonly schedule: PeriodicTask;

  constructor(
    private readonly db: Database,
    private readonly deps: RegistrationDependencies,
    private readonly intervalSeconds: number,
    private readonly logger: Logger,
  ) {
    this.schedule = new PeriodicTask(intervalSeconds, () => this.tick(), (error) => logger.error({ err: error }, 'provider refresh tick failed'));
  }

  start(): void {
    this.schedule.start();
  }

  /** Stops scheduling and waits for a tick in progress. */
  stop(): Promise<void> {
    return this.schedule.stop();
  }

  /** Refreshes the providers that are due; returns how many this replica refreshed. */
  async tick(): Promise<number> {
    const due = await this.claim();
    for (const id of due) {
      try {
        const change = await new ProviderRegistrationService(this.db.fork(), this.deps).refresh(id, null, {});
        this.logger.info(
          { provider: change.provider.name, status: change.provider.status, quarantined: change.sync?.quarantined.length ?? 0 },
          'provider refreshed',
        );
      } catch (error) {
        this.logger.warn({ err: error, providerId: id }, 'provider refresh failed');
      }
    }
    return due.length;
  }

  private claim(): Promise<string[]> {
    return this.db.fork().transactional(async (em: EntityManager) => {
      const [lock] = await em.execute<{ locked: boolean }[]>(`select pg_try_advisory_xact_lock(hashtext('tool_registry_refresh')) as locked`);
      if (!lock?.locked) return [];
      const cutoff = new Date(Date.now() - this.intervalSeconds * 1000);
      const due = await em.find(
        Provider,
        { status: { $in: [ProviderStatus.ACTIVE, ProviderStatus.ERROR] }, $or: [{ lastDiscoveredAt: null }, { lastDiscoveredAt: { $lt: cutoff } }] },
        { orderBy: { lastDiscoveredAt: 'asc' }, limit: BATCH },
      );
      const now = new Date();
      for (const provider of due) provider.lastDiscoveredAt = now;
      await em.flush();
      return due.map((p) => p.id);
    });
  }
}
