import { type Rel } from '@mikro-orm/core';
import { Entity, ManyToOne, Property, Unique } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Provider } from '../provider/provider.entity.js';

/**
 * A value for a variable (`$NAME` / `${NAME}`) the provider's manual refers to. A plain value is
 * stored readable in `value`; a secret one only in `ciphertext`, sealed by the credential vault under
 * the master key `keyId`, and is never shown by the API.
 */
@Entity({ tableName: 'provider_variable' })
@Unique({ properties: ['provider', 'name'] })
export class ProviderVariable extends BaseEntity {
  @ManyToOne(() => Provider, { deleteRule: 'cascade' })
  provider!: Rel<Provider>;

  /** The name as the manual writes it (`NEWS_API_KEY`), without the provider's namespace. */
  @Property({ type: 'string', length: 200 })
  name!: string;

  @Property({ type: 'boolean' })
  secret!: boolean;

  /** The value of a plain variable; null for a secret one. */
  @Property({ type: 'text', nullable: true })
  value?: string | null;

  /** A secret variable's value: base64 of iv ‖ auth tag ‖ ciphertext (see CredentialVault); null for a plain one. */
  @Property({ type: 'text', nullable: true, hidden: true })
  ciphertext?: string | null;

  /** The master key a secret value is sealed under. */
  @Property({ type: 'string', length: 64, nullable: true })
  keyId?: string | null;
}
