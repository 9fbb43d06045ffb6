import { type Opt } from '@mikro-orm/core';
import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';

/** The behaviours the registry watches for; each has one tunable rule. */
export enum AlertRuleName {
  /** Calls of one principal in a window. */
  CALL_RATE = 'call_rate',
  /** Refusals (policy denials, limits, fields without the scope, unknown tools) of one principal in a window. */
  DENIAL_RATE = 'denial_rate',
  /** Tools one principal called for the first time, in a window. */
  NEW_TOOLS = 'new_tools',
  /** Calls at an hour of the day (UTC) the principal has not been calling at, in a window. */
  OFF_HOURS = 'off_hours',
  /** Failed authentications (wrong client secret, throttled attempts, bad tokens) per source address and per client id. */
  AUTH_FAILURES = 'auth_failures',
  /** Tool calls whose arguments carry a secret-shaped string (API key, JWT, private key, AWS key). */
  SECRET_ARGUMENT = 'secret_argument',
}

/**
 * One rule: raises an alert when `threshold` events fall in one window of `windowSeconds`. The rate
 * rules (call rate, denial rate) also learn each principal's usual count per window: once a principal
 * has `baselineMinWindows` windows of history, its alert level is
 * max(`baselineFloor`, `baselineMultiple` × its usual count) instead of `threshold`. The other rules
 * have no such baseline (the three are null).
 */
@Entity({ tableName: 'alert_rule' })
export class AlertRule {
  @PrimaryKey({ type: 'string', length: 64 })
  name!: AlertRuleName;

  @Property({ type: 'boolean', default: true })
  enabled: Opt<boolean> = true;

  @Property({ type: 'integer' })
  threshold!: number;

  @Property({ type: 'integer' })
  windowSeconds!: number;

  @Property({ type: 'double', nullable: true })
  baselineMultiple?: number | null;

  @Property({ type: 'integer', nullable: true })
  baselineFloor?: number | null;

  @Property({ type: 'integer', nullable: true })
  baselineMinWindows?: number | null;

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();
}

/**
 * A raised alert: one per rule, subject and window (the unique index deduplicates across replicas).
 * `subject` is `principal:<id>`, `address:<ip>` or `client:<client id>`.
 */
@Entity({ tableName: 'security_alert' })
@Unique({ name: 'security_alert_rule_subject_window_unique', properties: ['rule', 'subject', 'windowStart'] })
@Index({ properties: ['raisedAt', 'id'] })
export class SecurityAlert {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'string', length: 64 })
  rule!: AlertRuleName;

  @Property({ type: 'string', length: 300 })
  subject!: string;

  @Property({ type: 'uuid', nullable: true, index: true })
  principalId?: string | null;

  @Property({ type: 'datetime' })
  windowStart!: Date;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  raisedAt!: Opt<Date>;

  /** Events counted in the window when the alert was raised. */
  @Property({ type: 'integer' })
  count!: number;

  @Property({ type: 'integer' })
  threshold!: number;

  @Property({ type: 'integer' })
  windowSeconds!: number;

  /** What was seen (kinds of secret, tool names, the hour): never an argument value or a secret. */
  @Property({ type: 'json', columnType: 'jsonb', default: '{}' })
  details!: Record<string, unknown>;
}
