import { type Rel } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from '../principal/principal.entity.js';

/**
 * An authorization code (RFC 6749 §4.1), stored as its sha-256: single-use, short-lived, bound to
 * the client, the redirect URI, the PKCE challenge (S256), the resources and the scopes consented
 * to. Redeeming it records the token family it started, so a replayed code revokes that family.
 */
@Entity({ tableName: 'oauth_authorization_code' })
@Index({ properties: ['expiresAt'] })
export class AuthorizationCode extends BaseEntity {
  @Property({ type: 'string', length: 64, unique: true, hidden: true })
  codeHash!: string;

  /** The public client's `client_id`. */
  @Property({ type: 'string', length: 64 })
  clientId!: string;

  @ManyToOne(() => Principal, { deleteRule: 'cascade' })
  principal!: Rel<Principal>;

  @Property({ type: 'text' })
  redirectUri!: string;

  /** BASE64URL(SHA256(code_verifier)). */
  @Property({ type: 'string', length: 128 })
  codeChallenge!: string;

  /** The audiences (canonical resource URLs) the tokens will carry. */
  @Property({ type: 'text[]' })
  audience!: string[];

  @Property({ type: 'text[]' })
  scopes!: string[];

  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  usedAt?: Date | null = null;

  /** The token family the code was exchanged for. */
  @Property({ type: 'uuid', nullable: true })
  familyId?: string | null = null;
}
