import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { type Viewer } from '../principal/index.js';
import { Execution } from './execution.entity.js';

/** Reads executions, enforcing that only their principal (or an admin) sees them. */
export class ExecutionService {
  constructor(private readonly em: EntityManager) {}

  /**
   * The execution with this id when `viewer` may see it: its own principal or an admin.
   * Null for anonymous viewers, other principals' executions and unknown ids alike, so the answer
   * never reveals whether an id exists.
   */
  async findVisible(id: string, viewer: Viewer | null): Promise<Execution | null> {
    if (!viewer || !isUuid(id)) return null;
    const execution = await this.em.findOne(Execution, { id });
    if (!execution) return null;
    return viewer.isAdmin || execution.principal.id === viewer.principalId ? execution : null;
  }
}
