import { ConnectionException } from '@mikro-orm/core';
import { type Logger } from '../logger.js';

/** What clients are told to wait (`Retry-After`, seconds) while the database is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** The message of an answer refused because the database is unavailable. */
export const DATABASE_UNAVAILABLE_MESSAGE = 'The registry cannot reach its database right now; nothing was done, retry shortly';

/**
 * SQLSTATEs of a database that cannot serve right now, whatever the statement: class 08 (connection
 * exception), 57P01 admin_shutdown ("terminating connection due to administrator command"), 57P02
 * crash_shutdown, 57P03 cannot_connect_now ("the database system is starting up / shutting down"),
 * 53300 too_many_connections.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Socket errors of a connection to the database that could not be opened or was cut. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * What `pg`, `pg-pool`, PGlite and the registry's own pool guard say when a connection is gone or
 * none can be had in time (they carry no code).
 */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^timeout exceeded when trying to connect/,
  /^the database closed this connection while it was in use/,
  /^database did not answer within/,
  /^PGlite is clos(ed|ing)/,
];

function unavailableItself(error: object): boolean {
  if (error instanceof ConnectionException) return true;
  const { code, sqlState, message } = error as { code?: unknown; sqlState?: unknown; message?: unknown };
  for (const state of [code, sqlState]) {
    if (typeof state !== 'string') continue;
    if (UNAVAILABLE_SQLSTATES.has(state) || /^08[0-9A-Z]{3}$/.test(state) || SOCKET_ERRORS.has(state)) return true;
  }
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message));
}

/**
 * Whether `error` (or what it wraps: `cause`, `originalError`, an AggregateError's `errors`) says
 * the database is unreachable or not accepting work right now, as opposed to a failed statement.
 * Classifies by SQLSTATE, by socket error code, by MikroORM's ConnectionException and by the
 * messages of the pg pool and PGlite; never throws.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  if (unavailableItself(error)) return true;
  const { cause, originalError, errors } = error as { cause?: unknown; originalError?: unknown; errors?: unknown };
  if (isDatabaseUnavailable(cause, depth + 1) || isDatabaseUnavailable(originalError, depth + 1)) return true;
  return Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1));
}

/** Options of {@link DatabaseOutage}. */
export interface OutageOptions {
  /** How often the database is probed while it is unavailable. */
  probeIntervalMs?: number;
}

/**
 * The registry's view of whether its database is available, for answers and logs: requests that
 * fail because it is not report it here ({@link observe}); the first such report logs ONE line
 * "database unavailable" and starts probing it (`ping`) until it answers, which logs ONE line
 * "database available again". Requests in between are answered as retryable without a log line each.
 */
export class DatabaseOutage {
  private since: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly probeIntervalMs: number;

  constructor(
    private readonly ping: () => Promise<void>,
    private readonly logger: Logger,
    options: OutageOptions = {},
  ) {
    this.probeIntervalMs = options.probeIntervalMs ?? 500;
  }

  /** Whether an outage is under way (since the first failure, until a probe succeeds). */
  get unavailable(): boolean {
    return this.since !== null;
  }

  /** Seconds a client should wait before retrying. */
  get retryAfterSeconds(): number {
    return DATABASE_RETRY_AFTER_SECONDS;
  }

  /**
   * Whether `error` is the database being unavailable; if it is and no outage was known, the
   * outage starts (logged once, probed until it ends). Never throws.
   */
  observe(error: unknown): boolean {
    if (!isDatabaseUnavailable(error)) return false;
    if (this.since === null) {
      this.since = Date.now();
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error({ reason }, 'database unavailable');
      this.schedule();
    }
    return true;
  }

  /** Stops probing (at shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.probe(), this.probeIntervalMs);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    this.timer = null;
    if (this.since === null) return;
    try {
      await this.ping();
    } catch {
      this.schedule();
      return;
    }
    const downForMs = Date.now() - this.since;
    this.since = null;
    this.logger.info({ downForMs }, 'database available again');
  }
}
