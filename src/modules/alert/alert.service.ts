import { randomUUID } from 'node:crypto';
import { type FilterQuery } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { AlertRule, AlertRuleName, SecurityAlert } from './alert.entity.js';

/** An alert to raise: the rule, who, the window it counts in, and what was seen. */
export interface NewAlert {
  rule: AlertRuleName;
  subject: string;
  principalId: string | null;
  windowStart: Date;
  count: number;
  threshold: number;
  windowSeconds: number;
  details: Record<string, unknown>;
}

/** A rule as the monitor applies it. */
export interface RuleSettings {
  name: AlertRuleName;
  enabled: boolean;
  threshold: number;
  windowSeconds: number;
}

/** Criteria of a `securityAlerts` listing; every given one must hold. */
export interface SecurityAlertFilterInput {
  principal?: string | null;
  rule?: AlertRuleName | null;
  since?: Date | null;
}

/** `updateAlertRule`'s input: the rule, and what to change. */
export interface UpdateAlertRuleInput {
  name: AlertRuleName;
  enabled?: boolean | null;
  threshold?: number | null;
  windowSeconds?: number | null;
}

export const MAX_THRESHOLD = 1_000_000;
export const MIN_WINDOW_SECONDS = 1;
export const MAX_WINDOW_SECONDS = 7 * 86_400;

/** The JSON a subscriber, the audit log and the webhook see of an alert. */
export function alertJson(alert: SecurityAlert): Record<string, unknown> {
  return {
    id: alert.id,
    rule: alert.rule,
    subject: alert.subject,
    principalId: alert.principalId ?? null,
    windowStart: alert.windowStart.toISOString(),
    raisedAt: alert.raisedAt.toISOString(),
    count: alert.count,
    threshold: alert.threshold,
    windowSeconds: alert.windowSeconds,
    details: alert.details,
  };
}

/** An alert from its JSON (a bus message). */
export function alertFromJson(json: Record<string, unknown>): SecurityAlert {
  return Object.assign(new SecurityAlert(), json, { windowStart: new Date(json.windowStart as string), raisedAt: new Date(json.raisedAt as string) });
}

/** Stores and lists security alerts, and reads and tunes their rules. */
export class AlertService {
  constructor(private readonly em: EntityManager) {}

  /**
   * Stores an alert with its audit entry (and, when a webhook is configured, its delivery in the
   * outbox) in ONE statement; returns null when this rule, subject and window already has one
   * (raised by this or another replica), in which case nothing is written.
   */
  static async raise(em: EntityManager, alert: NewAlert, options: { deliver: boolean }): Promise<SecurityAlert | null> {
    const id = randomUUID();
    const raisedAt = new Date();
    const audit = AuditService.appendSql(
      {
        actorId: null,
        action: 'security.alert',
        targetType: alert.principalId ? 'principal' : alert.subject.split(':')[0]!,
        targetId: alert.principalId ?? alert.subject.slice(alert.subject.indexOf(':') + 1),
        outcome: AuditOutcome.FAILURE,
        details: { alertId: id, rule: alert.rule, count: alert.count, threshold: alert.threshold, windowSeconds: alert.windowSeconds, ...alert.details },
      },
      { guard: 'raised' },
    );
    const delivery = options.deliver ? `, delivery as (insert into security_alert_delivery (alert_id, next_attempt_at) select id, now() from raised)` : '';
    const rows = await em.fork().execute<{ seq: string }[]>(
      `with raised as (
         insert into security_alert (id, rule, subject, principal_id, window_start, raised_at, count, threshold, window_seconds, details)
         values (?, ?, ?, ?::uuid, ?::timestamptz, ?::timestamptz, ?, ?, ?, ?::jsonb)
         on conflict (rule, subject, window_start) do nothing returning id)${delivery}${audit.sql}`,
      [
        id,
        alert.rule,
        alert.subject,
        alert.principalId,
        alert.windowStart.toISOString(),
        raisedAt.toISOString(),
        alert.count,
        alert.threshold,
        alert.windowSeconds,
        JSON.stringify(alert.details),
        ...audit.params,
      ],
    );
    if (rows.length === 0) return null;
    return Object.assign(new SecurityAlert(), { ...alert, id, raisedAt });
  }

  /** Alerts newest first, a page at a time. Throws PAGE_SIZE_EXCEEDED or INVALID_CURSOR. */
  async list(args: { first?: number | null; after?: string | null; filter?: SecurityAlertFilterInput | null }): Promise<Page<SecurityAlert>> {
    const size = pageSize(args.first);
    const filter = args.filter ?? {};
    const where: FilterQuery<SecurityAlert>[] = [];
    if (filter.principal) where.push(isUuid(filter.principal) ? { principalId: filter.principal } : { id: null });
    if (filter.rule) where.push({ rule: filter.rule });
    if (filter.since) where.push({ raisedAt: { $gte: filter.since } });
    const base: FilterQuery<SecurityAlert> = where.length ? { $and: where } : {};
    let page = base;
    if (args.after) {
      const [raisedAt, id] = decodeCursor<[string, string]>('security-alerts', args.after, ['string', 'string']);
      const at = new Date(raisedAt);
      if (Number.isNaN(at.getTime()) || !isUuid(id)) {
        throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
      }
      page = { $and: [base, { $or: [{ raisedAt: { $lt: at } }, { raisedAt: at, id: { $lt: id } }] }] };
    }
    const rows = await this.em.find(SecurityAlert, page, { orderBy: { raisedAt: 'desc', id: 'desc' }, limit: size + 1 });
    return toPage(rows, size, args.after, (a) => encodeCursor('security-alerts', [a.raisedAt.toISOString(), a.id]), () => this.em.count(SecurityAlert, base));
  }

  /** Every rule, by name. */
  rules(): Promise<AlertRule[]> {
    return this.em.find(AlertRule, {}, { orderBy: { name: 'asc' } });
  }

  /**
   * Changes a rule and audits the change in one transaction; returns the rule. Throws BAD_USER_INPUT
   * (naming the field) for a threshold or window out of range, NOT_FOUND for an unknown rule.
   */
  async updateRule(input: UpdateAlertRuleInput, actor: Actor): Promise<{ rule: AlertRule }> {
    if (input.threshold != null && (!Number.isInteger(input.threshold) || input.threshold < 1 || input.threshold > MAX_THRESHOLD)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`threshold\` must be a whole number from 1 to ${MAX_THRESHOLD}`, { field: 'threshold' });
    }
    if (input.windowSeconds != null && (!Number.isInteger(input.windowSeconds) || input.windowSeconds < MIN_WINDOW_SECONDS || input.windowSeconds > MAX_WINDOW_SECONDS)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`windowSeconds\` must be a whole number from ${MIN_WINDOW_SECONDS} to ${MAX_WINDOW_SECONDS}`, { field: 'windowSeconds' });
    }
    const rule = await this.em.transactional(async (em) => {
      const found = await em.findOne(AlertRule, { name: input.name });
      if (!found) throw new RegistryError(ErrorCode.NOT_FOUND, `No alert rule named ${input.name}`, { field: 'name' });
      const before = { enabled: found.enabled, threshold: found.threshold, windowSeconds: found.windowSeconds };
      if (input.enabled != null) found.enabled = input.enabled;
      if (input.threshold != null) found.threshold = input.threshold;
      if (input.windowSeconds != null) found.windowSeconds = input.windowSeconds;
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'alert_rule.update',
        targetType: 'alert_rule',
        targetId: found.name,
        outcome: AuditOutcome.SUCCESS,
        details: { before, after: { enabled: found.enabled, threshold: found.threshold, windowSeconds: found.windowSeconds } },
      });
      return found;
    });
    return { rule };
  }
}

/** The rules as settings, by name. */
export function settingsOf(rules: readonly AlertRule[]): RuleSettings[] {
  return rules.map((r) => ({ name: r.name, enabled: r.enabled, threshold: r.threshold, windowSeconds: r.windowSeconds }));
}

export { AlertRuleName };
