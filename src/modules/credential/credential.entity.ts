import { type Opt, type Rel } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, Property, Unique } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Provider } from '../provider/provider.entity.js';

export enum CredentialAuthType {
  API_KEY = 'api_key',
  BASIC = 'basic',
  OAUTH2 = 'oauth2',
}

/**
 * Encrypted authentication material of a provider (AES-256-GCM under the master key `keyId`).
 * Never exposed as a GraphQL type: the API shows a redacted view only.
 */
@Entity({ tableName: 'credential' })
@Unique({ properties: ['provider', 'reference'] })
export class Credential extends BaseEntity {
  @ManyToOne(() => Provider, { deleteRule: 'cascade' })
  provider!: Rel<Provider>;

  /** The name call templates use to refer to this credential. */
  @Property({ type: 'string', length: 200 })
  reference!: string;

  @Enum({ items: () => CredentialAuthType })
  authType!: CredentialAuthType;

  /** Non-secret settings: `var_name` and `location`, `token_url` and `scope`. */
  @Property({ type: 'json' })
  settings: Opt<Record<string, unknown>> = {};

  /** base64 of iv ‖ auth tag ‖ ciphertext. */
  @Property({ type: 'text', hidden: true })
  ciphertext!: string;

  @Property({ type: 'string', length: 64 })
  keyId!: string;

  @Property({ type: 'datetime', nullable: true })
  rotatedAt?: Date | null;

  @Property({ type: 'datetime', nullable: true })
  expiresAt?: Date | null;
}
