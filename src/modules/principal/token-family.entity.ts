import { type Rel } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from './principal.entity.js';

/**
 * One sign-in of a client (a `client_credentials` grant) and everything rotated from it: its
 * refresh tokens share the family's id, and its access tokens carry it as `sid`. Revoking the
 * family (refresh-token reuse, `revokeTokens`) refuses all of them at once.
 */
@Entity({ tableName: 'token_family' })
@Index({ properties: ['principal'] })
export class TokenFamily extends BaseEntity {
  @ManyToOne(() => Principal, { deleteRule: 'cascade' })
  principal!: Rel<Principal>;

  @Property({ type: 'datetime', nullable: true })
  revokedAt?: Date | null;

  /**
   * The audiences (`aud`) every access token of the family carries; null for a family from before
   * audiences, which gets every resource of the registry.
   */
  @Property({ type: 'text[]', nullable: true })
  audience?: string[] | null;

  /** The scopes consented to at an authorization-code sign-in; null: the principal's (client_credentials). */
  @Property({ type: 'text[]', nullable: true })
  scopes?: string[] | null;

  /** The public OAuth client the family was issued to (authorization code), which alone may refresh it. */
  @Property({ type: 'string', length: 64, nullable: true })
  oauthClientId?: string | null;
}
