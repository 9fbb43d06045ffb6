import { setTimeout as sleep } from 'node:timers/promises';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Database } from '../db/database.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { requireBearerScope } from '../interop/bearer.js';
import { AuditService, MAX_EXPORT_LIMIT } from '../modules/audit/index.js';
import { type Viewer } from '../modules/principal/index.js';
import { Scope } from '../security/scopes.js';

/** Entries an export request returns unless it asks for another number. */
export const DEFAULT_EXPORT_LIMIT = 100;
/** Longest `wait` (seconds) a follow request may ask for. */
export const MAX_EXPORT_WAIT_SECONDS = 30;
/** How often a waiting request looks for new entries. */
const FOLLOW_POLL_MS = 1000;

/** What the audit export is built from. */
export interface AuditExportDependencies {
  db: Database;
  /** The viewer of an `Authorization` header; throws AuthenticationError for a bad token, null without one. */
  authenticate(request: FastifyRequest): Promise<Viewer | null>;
}

/** A whole number from a query parameter, within bounds; BAD_USER_INPUT otherwise. */
function numberParam(query: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`${name}\` must be a whole number from ${min} to ${max}`, { argument: name });
  }
  return value;
}

async function refuse(reply: FastifyReply, status: number, code: ErrorCode, message: string) {
  return reply.status(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/**
 * `GET /audit/export?after=<cursor>&limit=<n>&wait=<seconds>` (bearer token with `audit:read`): the
 * next audit entries as JSON lines (`application/x-ndjson`), each with its hash, its chain and
 * position there, and the cursor to resume after it; the `Audit-Export-Cursor` header carries the last
 * one (or `after` again when nothing is new). With `wait`, a request that finds nothing waits up to
 * that long for entries (follow mode). See `AuditService.exportAfter` for why nothing is skipped.
 */
export async function auditExportRoutes(app: FastifyInstance, deps: AuditExportDependencies): Promise<void> {
  const stopWaiting = new AbortController();
  app.addHook('preClose', async () => {
    stopWaiting.abort();
  });

  app.get('/audit/export', async (request, reply) => {
    const checked = await requireBearerScope(request, deps.authenticate, Scope.AUDIT_READ);
    if (!('viewer' in checked)) {
      reply.header('www-authenticate', ['Bearer', checked.challenge.join(', ')].filter(Boolean).join(' '));
      return refuse(reply, checked.status, checked.code, checked.message);
    }
    const query = request.query as Record<string, unknown>;
    let limit: number;
    let wait: number;
    const after = query.after;
    try {
      if (after !== undefined && typeof after !== 'string') {
        throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`after` must be given once', { argument: 'after' });
      }
      limit = numberParam(query, 'limit', DEFAULT_EXPORT_LIMIT, 1, MAX_EXPORT_LIMIT);
      wait = numberParam(query, 'wait', 0, 0, MAX_EXPORT_WAIT_SECONDS);
    } catch (error) {
      if (error instanceof RegistryError) return refuse(reply, 400, error.code, error.message);
      throw error;
    }

    const audit = new AuditService(deps.db.fork());
    const deadline = Date.now() + wait * 1000;
    let entries;
    for (;;) {
      try {
        entries = await audit.exportAfter(after || null, limit);
      } catch (error) {
        if (error instanceof RegistryError && (error.code === ErrorCode.INVALID_CURSOR || error.code === ErrorCode.BAD_USER_INPUT)) {
          return refuse(reply, 400, error.code, error.message);
        }
        throw error;
      }
      if (entries.length > 0 || Date.now() >= deadline || stopWaiting.signal.aborted || request.raw.destroyed) break;
      try {
        await sleep(Math.min(FOLLOW_POLL_MS, deadline - Date.now()), undefined, { signal: stopWaiting.signal });
      } catch {
        // The registry is shutting down: answer with what there is (nothing).
      }
    }
    const cursor = entries.at(-1)?.cursor ?? (after || '');
    if (cursor) reply.header('audit-export-cursor', cursor);
    reply.header('cache-control', 'no-store');
    return reply.type('application/x-ndjson; charset=utf-8').send(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
  });
}
