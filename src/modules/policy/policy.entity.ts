import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';

export enum PolicyEffect {
  ALLOW = 'allow',
  DENY = 'deny',
}

export enum PolicyAction {
  READ = 'read',
  EXECUTE = 'execute',
  ADMIN = 'admin',
}

/** Who a policy applies to: principal ids and role names (either matches; both absent or empty: everyone). */
export interface PolicySubjects {
  principals?: string[];
  roles?: string[];
}

/**
 * What a policy applies to: tool name globs (`github.*`, `*`; `*` any run of characters, `?` one),
 * tags and provider names. Each listed kind must match (any of its entries); an absent or empty kind matches any tool.
 */
export interface PolicyResources {
  tools?: string[];
  tags?: string[];
  providers?: string[];
}

/** A weekday: 0 (Sunday) to 6 (Saturday), or its English name or three-letter abbreviation (any case). */
export type PolicyDay = number | string;

/**
 * A weekly window in an IANA time zone. `from` (inclusive) and `to` (exclusive) are "HH:MM" local
 * times (`to` may be "24:00"); absent, the window starts at 00:00 and ends at 24:00. When `from` is
 * later than `to` the window crosses midnight and `days` name the day it starts on; `from` equal to
 * `to` means the whole day. Absent `days`: every day.
 */
export interface PolicyTimeWindow {
  days?: PolicyDay[];
  from?: string;
  to?: string;
  timeZone: string;
}

/**
 * When a policy applies; every present condition must hold. `timeWindows`: any window contains the
 * instant. `sourceCidrs`: the client address is in any CIDR (single addresses allowed). `arguments`: a
 * JSON Schema (draft-07) the call's arguments must satisfy.
 */
export interface PolicyConditions {
  timeWindows?: PolicyTimeWindow[];
  sourceCidrs?: string[];
  arguments?: Record<string, unknown>;
}

/** Rate (calls per window) and quota (calls per day or month) per principal and tool. */
export interface PolicyLimits {
  rate?: { calls: number; windowSeconds: number };
  quota?: { calls: number; period: 'day' | 'month' };
}

/** An access rule: highest priority wins, deny wins ties, a child inherits its parent's conditions. */
@Entity({ tableName: 'policy' })
@Index({ properties: ['active', 'priority'] })
export class Policy extends BaseEntity {
  @Property({ type: 'string', length: 200, unique: true })
  name!: string;

  @Property({ type: 'text', default: '' })
  description: Opt<string> = '';

  @Enum({ items: () => PolicyEffect })
  effect!: PolicyEffect;

  @Property({ type: 'integer', default: 0 })
  priority: Opt<number> = 0;

  @ManyToOne(() => Policy, { nullable: true, deleteRule: 'restrict' })
  parent?: Rel<Policy> | null;

  @Property({ type: 'json' })
  subjects: Opt<PolicySubjects> = {};

  @Property({ type: 'json' })
  resources: Opt<PolicyResources> = {};

  @Property({ type: 'text[]' })
  actions!: PolicyAction[];

  @Property({ type: 'json' })
  conditions: Opt<PolicyConditions> = {};

  @Property({ type: 'json' })
  limits: Opt<PolicyLimits> = {};

  @Property({ type: 'boolean', default: true })
  active: Opt<boolean> = true;
}
