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

/** Who a policy applies to: principal ids and role names. */
export interface PolicySubjects {
  principals?: string[];
  roles?: string[];
}

/** What a policy applies to: tool name globs (`github.*`), tags and provider names. */
export interface PolicyResources {
  tools?: string[];
  tags?: string[];
  providers?: string[];
}

/** When a policy applies: time windows, source CIDRs and a JSON Schema the arguments must match. */
export interface PolicyConditions {
  timeWindows?: { days?: number[]; from?: string; to?: string; timeZone: string }[];
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
