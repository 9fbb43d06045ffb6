import { type EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { Scope } from '../../security/scopes.js';
import { type Viewer } from '../principal/viewer.js';
import { Execution, type ExecutionStatus } from './execution.entity.js';

/** Criteria of an execution listing; every given one must hold. */
export interface ExecutionListFilter {
  status?: ExecutionStatus[] | null;
  tool?: string | null;
  /** Only with `audit:read`: another principal's executions. */
  principal?: string | null;
}

/** Whether a viewer may see every principal's executions. */
function seesAll(viewer: Viewer): boolean {
  return viewer.isAdmin || viewer.scopes.has(Scope.AUDIT_READ);
}

/** Reads executions: a principal sees its own, `audit:read` (and admins) see all. */
export class ExecutionService {
  constructor(private readonly em: EntityManager) {}

  /**
   * The execution with this id when `viewer` may see it. Null for anonymous viewers, other
   * principals' executions and unknown ids alike, so the answer never reveals whether an id exists.
   */
  async findVisible(id: string, viewer: Viewer | null): Promise<Execution | null> {
    if (!viewer || !isUuid(id)) return null;
    const execution = await this.em.findOne(Execution, { id });
    if (!execution) return null;
    return seesAll(viewer) || execution.principal.id === viewer.principalId ? execution : null;
  }

  /** One page of executions the viewer may see, newest first. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async list(viewer: Viewer, args: { first?: number | null; after?: string | null; filter?: ExecutionListFilter | null }): Promise<Page<Execution>> {
    const size = pageSize(args.first);
    const filter = args.filter ?? {};
    const where: FilterQuery<Execution>[] = [];
    if (!seesAll(viewer)) where.push({ principal: viewer.principalId });
    else if (filter.principal) where.push(isUuid(filter.principal) ? { principal: filter.principal } : { id: null });
    if (filter.status?.length) where.push({ status: { $in: filter.status } });
    if (filter.tool) where.push({ toolName: filter.tool });
    const base: FilterQuery<Execution> = where.length ? { $and: where } : {};
    let page = base;
    if (args.after) {
      const [createdAt, id] = decodeCursor<[string, string]>('executions', args.after, ['string', 'string']);
      const at = new Date(createdAt);
      // A forged cursor must not reach the database as an invalid date or id.
      if (Number.isNaN(at.getTime()) || !isUuid(id)) {
        throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
      }
      page = { $and: [base, { $or: [{ createdAt: { $lt: at } }, { createdAt: at, id: { $lt: id } }] }] };
    }
    const rows = await this.em.find(Execution, page, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (e) => encodeCursor('executions', [e.createdAt.toISOString(), e.id]), () => this.em.count(Execution, base));
  }
}
