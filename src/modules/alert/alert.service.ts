import { randomUUID } from 'node:crypto';
import { type FilterQuery } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { decodeCursor, encodeCursor, type Page, pageSize, toPage } from '../../common/pagination.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { RATE_HISTORY } from './alert.counters.js';
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

/** How a rate rule judges a principal against its own usual rate (see {@link AlertRule}). */
export interface RateBaseline {
  multiple: number;
  floor: number;
  minWindows: number;
}

/** A rule as the monitor applies it. */
export interface RuleSettings {
  name: AlertRuleName;
  enabled: boolean;
  threshold: number;
  windowSeconds: number;
  /** Null for the rules that learn no usual rate. */
  baseline: RateBaseline | null;
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
  baselineMultiple?: number | null;
  baselineFloor?: number | null;
  baselineMinWindows?: number | null;
}

export const MAX_THRESHOLD = 1_000_000;
export const MIN_WINDOW_SECONDS = 1;
export const MAX_WINDOW_SECONDS = 7 * 86_400;
export const MIN_BASELINE_MULTIPLE = 1;
export const MAX_BASELINE_MULTIPLE = 1000;

/** The rules that learn each principal's usual rate. */
export const RATE_RULES: ReadonlySet<AlertRuleName> = new Set([AlertRuleName.CALL_RATE, AlertRuleName.DENIAL_RATE]);

function badInput(field: string, message: string): RegistryError {
  return new RegistryError(ErrorCode.BAD_USER_INPUT, message, { field });
}

/** Throws BAD_USER_INPUT naming the first field of `input` out of range (or given to a rule without a baseline). */
function checkRuleInput(input: UpdateAlertRuleInput): void {
  const whole = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;
  if (input.threshold != null && !whole(input.threshold, 1, MAX_THRESHOLD)) {
    throw badInput('threshold', `\`threshold\` must be a whole number from 1 to ${MAX_THRESHOLD}`);
  }
  if (input.windowSeconds != null && !whole(input.windowSeconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS)) {
    throw badInput('windowSeconds', `\`windowSeconds\` must be a whole number from ${MIN_WINDOW_SECONDS} to ${MAX_WINDOW_SECONDS}`);
  }
  for (const field of ['baselineMultiple', 'baselineFloor', 'baselineMinWindows'] as const) {
    if (input[field] != null && !RATE_RULES.has(input.name)) throw badInput(field, `Only the call-rate and denial-rate rules learn a usual rate`);
  }
  const multiple = input.baselineMultiple;
  if (multiple != null && !(Number.isFinite(multiple) && multiple >= MIN_BASELINE_MULTIPLE && multiple <= MAX_BASELINE_MULTIPLE)) {
    throw badInput('baselineMultiple', `\`baselineMultiple\` must be from ${MIN_BASELINE_MULTIPLE} to ${MAX_BASELINE_MULTIPLE}`);
  }
  if (input.baselineFloor != null && !whole(input.baselineFloor, 1, MAX_THRESHOLD)) {
    throw badInput('baselineFloor', `\`baselineFloor\` must be a whole number from 1 to ${MAX_THRESHOLD}`);
  }
  if (input.baselineMinWindows != null && !whole(input.baselineMinWindows, 1, RATE_HISTORY)) {
    throw badInput('baselineMinWindows', `\`baselineMinWindows\` must be a whole number from 1 to ${RATE_HISTORY}`);
  }
}

/** What an audit entry of a rule change records of the rule. */
function ruleState(rule: AlertRule): Record<string, unknown> {
  return {
    enabled: rule.enabled,
    threshold: rule.threshold,
    windowSeconds: rule.windowSeconds,
    ...(RATE_RULES.has(rule.name) ? { baselineMultiple: rule.baselineMultiple, baselineFloor: rule.baselineFloor, baselineMinWindows: rule.baselineMinWindows } : {}),
  };
}

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
   * (naming the field) for a value out of range or a baseline setting of a rule that has none,
   * NOT_FOUND for an unknown rule.
   */
  async updateRule(input: UpdateAlertRuleInput, actor: Actor): Promise<{ rule: AlertRule }> {
    checkRuleInput(input);
    const rule = await this.em.transactional(async (em) => {
      const found = await em.findOne(AlertRule, { name: input.name });
      if (!found) throw new RegistryError(ErrorCode.NOT_FOUND, `No alert rule named ${input.name}`, { field: 'name' });
      const before = ruleState(found);
      if (input.enabled != null) found.enabled = input.enabled;
      if (input.threshold != null) found.threshold = input.threshold;
      if (input.windowSeconds != null) found.windowSeconds = input.windowSeconds;
      if (input.baselineMultiple != null) found.baselineMultiple = input.baselineMultiple;
      if (input.baselineFloor != null) found.baselineFloor = input.baselineFloor;
      if (input.baselineMinWindows != null) found.baselineMinWindows = input.baselineMinWindows;
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'alert_rule.update',
        targetType: 'alert_rule',
        targetId: found.name,
        outcome: AuditOutcome.SUCCESS,
        details: { before, after: ruleState(found) },
      });
      return found;
    });
    return { rule };
  }
}

/** The rules as settings, by name. */
export function settingsOf(rules: readonly AlertRule[]): RuleSettings[] {
  return rules.map((r) => ({
    name: r.name,
    enabled: r.enabled,
    threshold: r.threshold,
    windowSeconds: r.windowSeconds,
    baseline:
      RATE_RULES.has(r.name) && r.baselineMultiple != null && r.baselineFloor != null && r.baselineMinWindows != null
        ? { multiple: r.baselineMultiple, floor: r.baselineFloor, minWindows: r.baselineMinWindows }
        : null,
  }));
}

export { AlertRuleName };
