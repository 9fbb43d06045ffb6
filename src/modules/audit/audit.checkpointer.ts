import { type EntityManager } from '@mikro-orm/postgresql';
import { PeriodicTask } from '../../common/periodic-task.js';
import { type Database } from '../../db/database.js';
import { type Logger } from '../../logger.js';
import { type AuditCheckpoint } from './audit-checkpoint.entity.js';
import { type AuditCheckpointSigner, CHECKPOINT_LOCK } from './audit.checkpoints.js';
import { AuditService } from './audit.service.js';

/**
 * Takes a checkpoint of each audit chain's head every `intervalSeconds` (jittered ±20%), when the
 * head moved since the last one. One replica at a time (a transaction-scoped advisory lock, which
 * `createAuditCheckpoint` takes too); appends themselves do no checkpoint work.
 */
export class AuditCheckpointer {
  private readonly schedule: PeriodicTask;

  constructor(
    private readonly db: Database,
    private readonly signer: AuditCheckpointSigner,
    intervalSeconds: number,
    logger: Logger,
  ) {
    this.schedule = new PeriodicTask(intervalSeconds, () => this.tick(), (error) => logger.error({ err: error }, 'audit checkpoint failed'));
  }

  start(): void {
    this.schedule.start();
  }

  /** Stops scheduling and waits for a checkpoint in progress. */
  stop(): Promise<void> {
    return this.schedule.stop();
  }

  /** Takes a checkpoint of every chain whose head moved, unless another replica is taking them; returns them. */
  async tick(): Promise<AuditCheckpoint[]> {
    const checkpoints = await this.db.fork().transactional(async (em: EntityManager) => {
      const [lock] = await em.execute<{ locked: boolean }[]>(`select pg_try_advisory_xact_lock(hashtext(?)) as locked`, [CHECKPOINT_LOCK]);
      if (!lock?.locked) return [];
      return new AuditService(em, this.signer).writeCheckpoints({ onlyIfMoved: true });
    });
    for (const checkpoint of checkpoints) this.signer.publish(checkpoint);
    return checkpoints;
  }
}
