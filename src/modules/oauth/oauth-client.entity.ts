import { Entity, Index, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';

/**
 * A public OAuth client (`token_endpoint_auth_method: none`) registered through RFC 7591 dynamic
 * client registration, e.g. an MCP client. It has no secret: PKCE and the exact redirect URIs
 * registered here are what bind a code to it. A client that never completed a sign-in expires.
 */
@Entity({ tableName: 'oauth_client' })
@Index({ properties: ['lastUsedAt'] })
export class OAuthClient extends BaseEntity {
  @Property({ type: 'string', length: 64, unique: true })
  clientId!: string;

  @Property({ type: 'string', length: 200 })
  clientName!: string;

  @Property({ type: 'text[]' })
  redirectUris!: string[];

  /** Scopes the client asked for at registration (informational; a sign-in grants at most the principal's). */
  @Property({ type: 'string', length: 500, nullable: true })
  scope?: string | null;

  /** The address it was registered from (trusted proxies applied). */
  @Property({ type: 'string', length: 64 })
  registeredFrom!: string;

  /** When it last obtained a code; null until its first sign-in. */
  @Property({ type: 'datetime', nullable: true })
  lastUsedAt?: Date | null = null;
}
