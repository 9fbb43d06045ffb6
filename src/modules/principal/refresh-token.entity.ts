import { type Rel } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from './principal.entity.js';

/**
 * An opaque refresh token, stored as its sha-256 hash. Rotated on every use; a reused token
 * revokes every token of its family.
 */
@Entity({ tableName: 'refresh_token' })
@Index({ properties: ['familyId'] })
export class RefreshToken extends BaseEntity {
  @ManyToOne(() => Principal, { deleteRule: 'cascade' })
  principal!: Rel<Principal>;

  @Property({ type: 'string', length: 64, unique: true, hidden: true })
  tokenHash!: string;

  @Property({ type: 'uuid' })
  familyId!: string;

  /** The token this one replaced when it was rotated. */
  @ManyToOne(() => RefreshToken, { nullable: true, deleteRule: 'set null' })
  parent?: Rel<RefreshToken> | null;

  @Property({ type: 'datetime' })
  expiresAt!: Date;

  /** When it was exchanged for a new token; a second use after this is a reuse. */
  @Property({ type: 'datetime', nullable: true })
  usedAt?: Date | null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt?: Date | null;
}
