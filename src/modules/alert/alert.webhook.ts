import { createHmac } from 'node:crypto';
import { type Database } from '../../db/database.js';
import { type Logger } from '../../logger.js';
import { boundedFetch } from '../../security/bounded-fetch.js';
import { type EgressPolicy } from '../../security/egress.js';
import { type SecurityAlert } from './alert.entity.js';
import { alertJson } from './alert.service.js';

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-registry-signature';

/** Deliveries claimed per round; how long a claimed delivery is left to the replica that claimed it. */
const BATCH = 20;
const CLAIM_SECONDS = 60;
const TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 3_600_000;
/** How often the outbox is looked at while nothing wakes the deliverer (alerts raised on other replicas, retries). */
const POLL_MS = 5_000;

/** `t=…,v1=…` for `body` sent at `timestampSeconds`: HMAC-SHA256 under `secret` over `<t>.<body>` (the Stripe scheme). */
export function signatureOf(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/** What the webhook is sent with. */
export interface AlertWebhookOptions {
  db: Database;
  url: string;
  secret: string;
  egress: EgressPolicy;
  logger: Logger;
  /** Wait before the first retry; doubled for each further one, up to an hour. */
  retryBaseMs: number;
}

interface ClaimedRow {
  id: string;
  rule: string;
  subject: string;
  principal_id: string | null;
  window_start: Date | string;
  raised_at: Date | string;
  count: number;
  threshold: number;
  window_seconds: number;
  details: Record<string, unknown> | string;
  attempts: number;
}

/**
 * Delivers raised alerts to the configured webhook, at least once: every alert has an outbox row
 * (written with the alert), claimed for a while by one replica at a time (`for update skip locked`),
 * and marked delivered only after a 2xx answer; failures are retried with exponential backoff, and
 * an outbox row outlives a restart. Egress goes through the registry's SSRF-guarded fetch.
 */
export class AlertWebhook {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: AlertWebhookOptions) {}

  start(): void {
    this.schedule(0);
  }

  /** Delivers soon (an alert was raised here). */
  poke(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(() => this.round()).catch((error: unknown) => this.options.logger.warn({ err: error }, 'alert webhook round failed'));
    }, delayMs);
    this.timer.unref();
  }

  /** Delivers every due alert, then sleeps until the next retry is due (or the poll interval). */
  private async round(): Promise<void> {
    let next = POLL_MS;
    try {
      for (;;) {
        const claimed = await this.claim();
        for (const row of claimed) await this.deliver(row);
        if (claimed.length < BATCH) break;
      }
      const [due] = await this.options.db.fork().execute<{ wait_ms: number | null }[]>(
        `select (extract(epoch from (min(next_attempt_at) - now())) * 1000)::float8 as wait_ms from security_alert_delivery where delivered_at is null`,
      );
      if (due?.wait_ms != null) next = Math.max(10, Math.min(POLL_MS, Math.ceil(Number(due.wait_ms))));
    } finally {
      this.schedule(next);
    }
  }

  private claim(): Promise<ClaimedRow[]> {
    return this.options.db.fork().execute<ClaimedRow[]>(
      `with due as (
         select alert_id from security_alert_delivery where delivered_at is null and next_attempt_at <= now()
         order by next_attempt_at limit ? for update skip locked),
       claimed as (
         update security_alert_delivery d set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ?)
         from due where d.alert_id = due.alert_id returning d.alert_id, d.attempts)
       select a.id, a.rule, a.subject, a.principal_id, a.window_start, a.raised_at, a.count, a.threshold, a.window_seconds, a.details, c.attempts
       from claimed c join security_alert a on a.id = c.alert_id`,
      [BATCH, CLAIM_SECONDS],
    );
  }

  private async deliver(row: ClaimedRow): Promise<void> {
    const alert = Object.assign({} as SecurityAlert, {
      id: row.id,
      rule: row.rule,
      subject: row.subject,
      principalId: row.principal_id,
      windowStart: new Date(row.window_start),
      raisedAt: new Date(row.raised_at),
      count: row.count,
      threshold: row.threshold,
      windowSeconds: row.window_seconds,
      details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details,
    });
    const body = JSON.stringify({ type: 'security.alert', alert: alertJson(alert) });
    const timestamp = Math.floor(Date.now() / 1000);
    const db = this.options.db.fork();
    let failure: string;
    try {
      const response = await boundedFetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'tool-registry-alerts',
          [SIGNATURE_HEADER]: signatureOf(this.options.secret, timestamp, body),
          'x-registry-alert-id': alert.id,
          'x-registry-delivery-attempt': String(row.attempts),
        },
        body,
        redirect: 'manual',
        timeoutMs: TIMEOUT_MS,
        maxBytes: 64 * 1024,
        policy: this.options.egress,
      });
      if (response.status >= 200 && response.status < 300) {
        await db.execute(`update security_alert_delivery set delivered_at = now(), last_error = null where alert_id = ?`, [alert.id]);
        return;
      }
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    const backoffMs = Math.min(MAX_BACKOFF_MS, this.options.retryBaseMs * 2 ** Math.min(30, row.attempts - 1));
    this.options.logger.warn({ alertId: alert.id, attempts: row.attempts, retryInMs: backoffMs, reason: failure }, 'alert webhook delivery failed; will retry');
    await db.execute(`update security_alert_delivery set next_attempt_at = now() + make_interval(secs => ?), last_error = ? where alert_id = ?`, [
      backoffMs / 1000,
      failure.slice(0, 500),
      alert.id,
    ]);
  }
}
