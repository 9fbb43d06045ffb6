import { type EventBus } from '../../common/event-bus.js';
import { type Database } from '../../db/database.js';
import { type Logger } from '../../logger.js';
import { secretsBySchema } from '../execution/execution.redaction.js';
import { AlertRuleName, type SecurityAlert } from './alert.entity.js';
import { type AlertCounters } from './alert.counters.js';
import { secretKindsInValue } from './alert.secrets.js';
import { alertJson, AlertService, type NewAlert, type RuleSettings, settingsOf } from './alert.service.js';

/** Something the monitor is told of, on the answer path; it is only queued there. */
export type SecurityEvent =
  /** A tool call the runtime decided (`tool` null when the name matched no tool the caller may read). */
  | { kind: 'call'; principalId: string; tool: string | null; denied: boolean; args: Record<string, unknown> | null; inputs: unknown }
  /** A refusal of a field or operation to an authenticated caller (missing scope, spent budget). */
  | { kind: 'denial'; principalId: string }
  /** A failed authentication: a wrong client secret or throttled attempt at /oauth/token, a bad bearer token. */
  | { kind: 'auth_failure'; sourceIp: string; clientId: string | null };

/** The bus topics of raised alerts and of rule changes. */
export const ALERTS_TOPIC = 'security-alerts';
const RULES_TOPIC = 'alert-rules';

/** How long events wait to be evaluated together, and how many may wait (beyond that they are dropped and logged). */
const FLUSH_MS = 200;
const MAX_QUEUE = 50_000;
/** Calls a principal must have made on the baseline days before a call at an hour it never calls at counts as unusual. */
export const OFF_HOURS_MIN_HISTORY = 30;
const DAY_MS = 86_400_000;
/** Tool names kept in an alert's details. */
const SAMPLE = 20;
/** How often rules are read again while their change announcements cannot be heard. */
const RULES_RELOAD_MS = 30_000;

/** What the monitor works with; one per process. */
export interface SecurityMonitorDependencies {
  db: Database;
  counters: AlertCounters;
  bus: EventBus;
  logger: Logger;
  /** Whether a raised alert gets an outbox row for the webhook. */
  deliver: boolean;
  /** Told after an alert was stored (wakes the webhook). */
  onRaised?: (alert: SecurityAlert) => void;
  /** The monitor's clock (ms since the epoch): tests move it to drive windows and hours. */
  clock?: () => number;
}

interface PrincipalBatch {
  /** When each of its events (call or refusal) happened, and whether it was a call and a refusal. */
  seen: { at: number; call: boolean; denied: boolean }[];
  tools: Set<string>;
  /** Calls by hour of day (UTC). */
  hours: Map<number, number>;
  /** Calls by `day:hour` they were made at, for the baseline: a batch evaluated after midnight may hold the day before's. */
  dayHours: Map<string, number>;
  secretCalls: number;
  secretKinds: Set<string>;
  secretTools: Set<string>;
}

/**
 * Anomaly detection: keeps per-principal baselines and counts (usual call and denial rates, tools
 * never called before, usual hours, secret-shaped arguments) and per-address and per-client counts of
 * failed authentications in {@link AlertCounters} (memory or Redis), and raises an alert when a rule's
 * threshold is reached in one of its windows: at most one per rule, subject and window. The answer
 * path only queues events ({@link observe}: no I/O); they are evaluated together shortly after,
 * and the database is written only when an alert is raised.
 */
export class SecurityMonitor {
  private queue: { event: SecurityEvent; at: number }[] = [];
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private rules = new Map<AlertRuleName, RuleSettings>();
  private rulesReadAt = 0;
  private rulesEpoch: number | null = null;
  private listening = false;
  private readonly raised = new Map<string, number>();
  private readonly stop = new AbortController();
  private readonly clock: () => number;

  constructor(private readonly deps: SecurityMonitorDependencies) {
    this.clock = deps.clock ?? Date.now;
  }

  /** Queues an event for evaluation; never throws, never waits. */
  observe(event: SecurityEvent): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.dropped += 1;
      return;
    }
    this.queue.push({ event, at: this.clock() });
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Reads the rules and listens for their changes. */
  async start(): Promise<void> {
    await this.loadRules();
    void this.listenForRules();
  }

  /** Evaluates what is queued and stops listening. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.stop.abort();
  }

  /** Tells every replica's monitor the rules changed (after the change committed). */
  async announceRules(): Promise<void> {
    const rules = settingsOf(await new AlertService(this.deps.db.fork()).rules());
    this.apply(rules);
    await this.deps.bus.publish(RULES_TOPIC, rules);
  }

  /** Raised alerts (as JSON) from every replica until `signal` aborts; resolves once listening. */
  listen(signal: AbortSignal): Promise<AsyncIterable<Record<string, unknown>>> {
    return this.deps.bus.listen(ALERTS_TOPIC, signal) as Promise<AsyncIterable<Record<string, unknown>>>;
  }

  /** Evaluates every queued event now (waits for an evaluation in progress first). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.evaluate()).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'could not evaluate security events');
    });
    return this.flushing;
  }

  private apply(rules: readonly RuleSettings[]): void {
    this.rules = new Map(rules.map((r) => [r.name, r]));
    this.rulesReadAt = this.clock();
  }

  private async loadRules(): Promise<void> {
    this.rulesEpoch = this.deps.bus.deliveryEpoch();
    this.apply(settingsOf(await new AlertService(this.deps.db.fork()).rules()));
  }

  private async listenForRules(): Promise<void> {
    try {
      const messages = await this.deps.bus.listen(RULES_TOPIC, this.stop.signal);
      this.listening = true;
      for await (const message of messages) if (Array.isArray(message)) this.apply(message as RuleSettings[]);
    } catch (error) {
      if (!this.stop.signal.aborted) this.deps.logger.warn({ err: error }, 'not hearing alert rule changes; reading them again now and then');
    } finally {
      this.listening = false;
    }
  }

  private async evaluate(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (this.dropped > 0) {
      this.deps.logger.warn({ dropped: this.dropped }, 'security events dropped: the monitor fell behind');
      this.dropped = 0;
    }
    if (batch.length === 0) return;
    const now = this.clock();
    // Announcements may have been missed while the bus was away (or never heard): read the rules again.
    const epoch = this.deps.bus.deliveryEpoch();
    if (epoch !== this.rulesEpoch || (!this.listening && now - this.rulesReadAt > RULES_RELOAD_MS)) await this.loadRules();

    const principals = new Map<string, PrincipalBatch>();
    const addresses = new Map<string, number>();
    const clients = new Map<string, number>();
    for (const { event, at } of batch) {
      if (event.kind === 'auth_failure') {
        addresses.set(event.sourceIp, (addresses.get(event.sourceIp) ?? 0) + 1);
        if (event.clientId) clients.set(event.clientId, (clients.get(event.clientId) ?? 0) + 1);
        continue;
      }
      let p = principals.get(event.principalId);
      if (!p) {
        p = { seen: [], tools: new Set(), hours: new Map(), dayHours: new Map(), secretCalls: 0, secretKinds: new Set(), secretTools: new Set() };
        principals.set(event.principalId, p);
      }
      if (event.kind === 'denial') {
        p.seen.push({ at, call: false, denied: true });
        continue;
      }
      p.seen.push({ at, call: true, denied: event.denied });
      const hour = new Date(at).getUTCHours();
      p.hours.set(hour, (p.hours.get(hour) ?? 0) + 1);
      const dayHour = `${Math.floor(at / DAY_MS)}:${hour}`;
      p.dayHours.set(dayHour, (p.dayHours.get(dayHour) ?? 0) + 1);
      if (event.tool) p.tools.add(event.tool);
      if (event.args) {
        const kinds = secretKindsInValue(event.args, new Set(secretsBySchema(event.args, event.inputs)));
        if (kinds.length) {
          p.secretCalls += 1;
          for (const k of kinds) p.secretKinds.add(k);
          if (event.tool) p.secretTools.add(event.tool);
        }
      }
    }

    for (const [principalId, p] of principals) await this.evaluatePrincipal(principalId, p, now);
    for (const [ip, n] of addresses) await this.count(AlertRuleName.AUTH_FAILURES, `address:${ip}`, null, n, now, {});
    for (const [clientId, n] of clients) await this.count(AlertRuleName.AUTH_FAILURES, `client:${clientId}`, null, n, now, {});
    this.forgetOldWindows(now);
  }

  private async evaluatePrincipal(principalId: string, p: PrincipalBatch, now: number): Promise<void> {
    const subject = `principal:${principalId}`;
    const { counters } = this.deps;
    // Baselines learn whether or not their rule is on.
    await this.rate(AlertRuleName.CALL_RATE, principalId, p.seen, (e) => e.call);
    await this.rate(AlertRuleName.DENIAL_RATE, principalId, p.seen, (e) => e.denied);
    if (p.tools.size) {
      const fresh = await counters.addNew(`tools:${principalId}`, [...p.tools]);
      if (fresh.length) await this.count(AlertRuleName.NEW_TOOLS, subject, principalId, fresh.length, now, { tools: fresh.slice(0, SAMPLE) });
    }
    if (p.hours.size) {
      const history = await counters.hours(`hours:${principalId}`, Math.floor(now / DAY_MS), p.dayHours);
      const total = history.reduce((a, b) => a + b, 0);
      if (total >= OFF_HOURS_MIN_HISTORY) {
        // An hour is usual when the principal called at it, or at the hour before or after, on one of the baseline days.
        const unusual = [...p.hours].filter(([h]) => history[h]! + history[(h + 23) % 24]! + history[(h + 1) % 24]! === 0);
        const calls = unusual.reduce((a, [, n]) => a + n, 0);
        if (calls) {
          const usualHours = history.flatMap((n, h) => (n > 0 ? [h] : []));
          await this.count(AlertRuleName.OFF_HOURS, subject, principalId, calls, now, { hoursUtc: unusual.map(([h]) => h), usualHoursUtc: usualHours });
        }
      }
    }
    if (p.secretCalls) {
      await this.count(AlertRuleName.SECRET_ARGUMENT, subject, principalId, p.secretCalls, now, { kinds: [...p.secretKinds].sort(), tools: [...p.secretTools].slice(0, SAMPLE) });
    }
  }

  /**
   * Counts a principal's events that `counts` selects per window of the rate rule `rule` they happened
   * in, learning its usual count per window from the windows it was seen in (a window it was seen in
   * without such an event counts 0), and raises the window's alert once the count reaches the
   * principal's alert level: `threshold` until it has `baselineMinWindows` windows of history, then
   * max(`baselineFloor`, `baselineMultiple` × its average count per window).
   */
  private async rate(rule: AlertRuleName, principalId: string, seen: PrincipalBatch['seen'], counts: (e: PrincipalBatch['seen'][number]) => boolean): Promise<void> {
    const settings = this.rules.get(rule);
    if (!settings) return;
    const windowMs = settings.windowSeconds * 1000;
    const windows = new Map<number, number>();
    for (const e of seen) {
      const window = Math.floor(e.at / windowMs);
      windows.set(window, (windows.get(window) ?? 0) + (counts(e) ? 1 : 0));
    }
    const subject = `principal:${principalId}`;
    // The window is part of the key: counts of windows of another length are not comparable.
    const key = `${rule}:${settings.windowSeconds}:${subject}`;
    for (const [window, n] of [...windows].sort((a, b) => a[0] - b[0])) {
      const { count, history } = await this.deps.counters.rates(key, window, n);
      if (!settings.enabled || n === 0) continue;
      const { baseline } = settings;
      if (baseline && history.length >= baseline.minWindows) {
        const usual = history.reduce((a, b) => a + b, 0) / history.length;
        const level = Math.max(baseline.floor, Math.ceil(baseline.multiple * usual));
        if (count < level) continue;
        const details = { usualPerWindow: Math.round(usual * 100) / 100, historyWindows: history.length, baselineMultiple: baseline.multiple, baselineFloor: baseline.floor };
        await this.raise(rule, settings, subject, principalId, window * windowMs, count, level, details);
      } else if (count >= settings.threshold) {
        await this.raise(rule, settings, subject, principalId, window * windowMs, count, settings.threshold, {});
      }
    }
  }

  /** Counts `n` events of `rule` for `subject` in the current window, and raises the window's alert once the threshold is reached. */
  private async count(rule: AlertRuleName, subject: string, principalId: string | null, n: number, now: number, details: Record<string, unknown>): Promise<void> {
    const settings = this.rules.get(rule);
    if (!settings?.enabled) return;
    const windowMs = settings.windowSeconds * 1000;
    const count = await this.deps.counters.add(`${rule}:${subject}`, windowMs, n, now);
    if (count < settings.threshold) return;
    await this.raise(rule, settings, subject, principalId, Math.floor(now / windowMs) * windowMs, count, settings.threshold, details);
  }

  /** Raises the alert of `rule`, `subject` and the window from `windowStart`, unless it already was. */
  private async raise(
    rule: AlertRuleName,
    settings: RuleSettings,
    subject: string,
    principalId: string | null,
    windowStart: number,
    count: number,
    threshold: number,
    details: Record<string, unknown>,
  ): Promise<void> {
    const windowMs = settings.windowSeconds * 1000;
    const key = `${rule}|${subject}|${windowStart}`;
    if (this.raised.has(key)) return;
    const alert: NewAlert = {
      rule,
      subject,
      principalId,
      windowStart: new Date(windowStart),
      count,
      threshold,
      windowSeconds: settings.windowSeconds,
      details,
    };
    let stored: SecurityAlert | null;
    try {
      stored = await AlertService.raise(this.deps.db.fork(), alert, { deliver: this.deps.deliver });
    } catch (error) {
      // Not remembered: the next event of this window tries again.
      this.deps.logger.error({ err: error, rule, subject }, 'could not store a security alert');
      return;
    }
    this.raised.set(key, windowStart + windowMs);
    if (!stored) return;
    this.deps.logger.warn({ alertId: stored.id, rule, subject, count, threshold, windowSeconds: settings.windowSeconds }, 'security alert raised');
    await this.deps.bus.publish(ALERTS_TOPIC, alertJson(stored));
    this.deps.onRaised?.(stored);
  }

  private forgetOldWindows(now: number): void {
    for (const [key, endsAt] of this.raised) if (endsAt <= now) this.raised.delete(key);
  }
}
