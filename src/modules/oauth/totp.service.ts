import { type EntityManager } from '@mikro-orm/postgresql';
import { Secret, TOTP } from 'otpauth';
import { AuditOutcome, AuditService } from '../audit/index.js';
import { resealUnderCurrentKey } from '../credential/vault.reseal.js';
import { type CredentialVault, VaultError } from '../credential/vault.js';
import { type Principal } from '../principal/principal.entity.js';
import { TotpEnrolment } from './totp-enrolment.entity.js';

const ISSUER = 'Tool Registry';

function totpOf(secret: string, label: string): TOTP {
  return new TOTP({ issuer: ISSUER, label, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
}

/**
 * TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s) of principals; secrets are sealed by the
 * credential vault and only decrypted to check a code. A code is accepted once (its time step is
 * remembered), within one step of clock drift.
 */
export class TotpService {
  constructor(
    private readonly em: EntityManager,
    private readonly vault: CredentialVault,
  ) {}

  /** Enrols (or re-enrols) `principal` with a new secret; returns the `otpauth://` URI for an authenticator app, once. */
  async enrol(principal: Principal): Promise<{ uri: string; secret: string }> {
    const secret = new Secret({ size: 20 }).base32;
    const { ciphertext, keyId } = this.vault.encrypt({ secret });
    const known = await this.em.findOne(TotpEnrolment, { principal });
    if (known) Object.assign(known, { ciphertext, keyId, lastStep: null });
    else this.em.create(TotpEnrolment, { principal, ciphertext, keyId });
    await this.em.flush();
    return { uri: totpOf(secret, principal.clientId ?? principal.name).toString(), secret };
  }

  /** Whether `principalId` has a second factor. */
  async enrolled(principalId: string): Promise<boolean> {
    return (await this.em.count(TotpEnrolment, { principal: principalId })) > 0;
  }

  /** Whether `code` is the principal's current TOTP code, not used before; accepting it spends it. */
  async verify(principalId: string, code: string): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false;
    const enrolment = await this.em.findOne(TotpEnrolment, { principal: principalId });
    if (!enrolment) return false;
    const { secret } = this.vault.decrypt(enrolment.ciphertext, enrolment.keyId);
    const delta = totpOf(secret!, '').validate({ token: code, window: 1 });
    if (delta === null) return false;
    const step = Math.floor(Date.now() / 30_000) + delta;
    // Spent atomically: a code (its step, or an earlier one) is never accepted twice.
    const spent = await this.em.nativeUpdate(
      TotpEnrolment,
      { id: enrolment.id, $or: [{ lastStep: null }, { lastStep: { $lt: step } }] },
      { lastStep: step },
    );
    return spent === 1;
  }

  /**
   * Re-encrypts every TOTP secret sealed under a previous master key under the current one, in one
   * transaction, with one audit entry (counts per old key id, never a secret). Returns how many; safe
   * to run again. Part of `npm run vault:rotate`.
   */
  async rotateMasterKey(batchSize = 500): Promise<number> {
    const current = this.vault.keyId;
    return this.em.transactional(async (em) => {
      const { count, previousKeyIds } = await resealUnderCurrentKey<TotpEnrolment, string>(em, this.vault, {
        entity: TotpEnrolment,
        table: 'totp_enrolment',
        label: 'TOTP second factors',
        batchSize,
        open: (enrolment) => {
          try {
            return this.vault.decrypt(enrolment.ciphertext, enrolment.keyId).secret!;
          } catch (error) {
            throw new VaultError(`TOTP enrolment ${enrolment.id} cannot be re-encrypted: ${(error as Error).message}`);
          }
        },
        seal: (enrolment, secret) => Object.assign(enrolment, this.vault.encrypt({ secret })),
      });
      if (count === 0) return 0;
      await new AuditService(em).append({
        action: 'principal.rotateTotpKeys',
        targetType: 'totp_enrolment',
        outcome: AuditOutcome.SUCCESS,
        details: { newKeyId: current, previousKeyIds, reEncrypted: count },
      });
      return count;
    });
  }
}
