import { type Rel } from '@mikro-orm/core';
import { Entity, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { BaseEntity } from '../../db/base.entity.js';
import { Principal } from '../principal/principal.entity.js';

/** A principal's TOTP (RFC 6238) second factor: the secret sealed by the credential vault. Never exposed. */
@Entity({ tableName: 'totp_enrolment' })
export class TotpEnrolment extends BaseEntity {
  @ManyToOne(() => Principal, { deleteRule: 'cascade', unique: true })
  principal!: Rel<Principal>;

  /** The vault's AES-256-GCM ciphertext of `{ secret }` (base32). */
  @Property({ type: 'text', hidden: true })
  ciphertext!: string;

  @Property({ type: 'string', length: 64 })
  keyId!: string;

  /** The last time step accepted, so a code is not accepted twice. */
  @Property({ type: 'integer', nullable: true })
  lastStep?: number | null = null;
}
