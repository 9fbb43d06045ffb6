import { type Opt } from '@mikro-orm/core';
import { Entity, Enum, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';

export enum PrincipalKind {
  AGENT = 'agent',
  USER = 'user',
  SERVICE = 'service',
}

export enum PrincipalStatus {
  ACTIVE = 'active',
  DISABLED = 'disabled',
}

/** An agent, user or service that authenticates to the registry, with its roles and scopes. */
@Entity({ tableName: 'principal' })
export class Principal extends BaseEntity {
  @Property({ type: 'string', length: 200 })
  name!: string;

  @Enum({ items: () => PrincipalKind })
  kind!: PrincipalKind;

  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  roles: Opt<string[]> = [];

  /** Scopes granted directly, in addition to those of the roles. */
  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  scopes: Opt<string[]> = [];

  /** OAuth 2 client id for the client-credentials grant. */
  @Property({ type: 'string', length: 128, unique: true, nullable: true })
  clientId?: string | null;

  /** argon2 hash of the client secret; the secret itself is shown once and never stored. */
  @Property({ type: 'text', nullable: true, hidden: true })
  secretHash?: string | null;

  @Enum({ items: () => PrincipalStatus, default: PrincipalStatus.ACTIVE })
  status: Opt<PrincipalStatus> = PrincipalStatus.ACTIVE;

  /** Query-cost points per hour; null means the registry's default. */
  @Property({ type: 'integer', nullable: true })
  costBudgetPerHour?: number | null;

  /** Access tokens issued before this instant are rejected (set by `revokeTokens`). */
  @Property({ type: 'datetime', nullable: true })
  tokensRevokedBefore?: Date | null;
}
