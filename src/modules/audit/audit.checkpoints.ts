import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { type Logger } from '../../logger.js';
import { type SigningKeyRing } from '../../security/signing-keys.js';
import { type AuditCheckpoint } from './audit-checkpoint.entity.js';

/** The JOSE `typ` of a checkpoint: never accepted as an access token (`at+jwt`), nor the other way round. */
export const CHECKPOINT_TYP = 'audit-checkpoint+jwt';

/** The advisory lock that lets one writer at a time take a checkpoint. */
export const CHECKPOINT_LOCK = 'audit_checkpoint';

/** What a checkpoint states about the chain's head. */
export interface CheckpointClaims {
  /** Sequence number of the newest entry (a decimal string: bigint). */
  seq: string;
  /** That entry's hash. */
  hash: string;
  /** Entries with a sequence number up to `seq`. */
  count: number;
  /** When it was signed. */
  at: Date;
  keyId: string;
  jws: string;
}

/** Why a JWS is not a checkpoint of this registry; never includes the JWS. */
export class InvalidCheckpointError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidCheckpointError';
  }
}

/**
 * Signs and verifies checkpoints with the registry's signing keys (the current one signs, all of
 * them verify, and all are published at `/.well-known/jwks.json`, so anyone can verify an exported
 * checkpoint), and publishes each new checkpoint to the log, which ships outside the database.
 */
export class AuditCheckpointSigner {
  private readonly jwks: ReturnType<typeof createLocalJWKSet>;

  constructor(
    private readonly keys: SigningKeyRing,
    /** The registry's current issuer (known once it listens, unless REGISTRY_PUBLIC_URL sets it). */
    private readonly issuer: () => string,
    private readonly logger: Logger,
  ) {
    this.jwks = createLocalJWKSet(keys.jwks);
  }

  /** A compact JWS of `{ iss, iat, seq, hash, count }` under the current key. */
  async sign(head: { seq: string; hash: string; count: number }): Promise<CheckpointClaims> {
    const { current } = this.keys;
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const jws = await new SignJWT({ seq: head.seq, hash: head.hash, count: head.count })
      .setProtectedHeader({ alg: current.alg, kid: current.kid, typ: CHECKPOINT_TYP })
      .setIssuer(this.issuer())
      .setIssuedAt(at)
      .sign(current.privateKey);
    return { ...head, at, keyId: current.kid, jws };
  }

  /** The claims of a checkpoint this registry's keys signed. Throws {@link InvalidCheckpointError}. */
  async verify(jws: string): Promise<CheckpointClaims> {
    let payload: Record<string, unknown>;
    try {
      // No issuer check: an embedded registry's issuer is its listen origin, which may change between
      // starts, while its keys (and so what a checkpoint proves) stay the same.
      ({ payload } = await jwtVerify(jws, this.jwks, { typ: CHECKPOINT_TYP, algorithms: ['EdDSA', 'ES256'] }));
    } catch {
      throw new InvalidCheckpointError('its signature does not verify with the registry’s keys (or it is no audit checkpoint)');
    }
    const { seq, hash, count, iat } = payload;
    if (typeof seq !== 'string' || !/^\d{1,19}$/.test(seq) || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
      throw new InvalidCheckpointError('its claims are not those of an audit checkpoint');
    }
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || typeof iat !== 'number') {
      throw new InvalidCheckpointError('its claims are not those of an audit checkpoint');
    }
    return { seq, hash, count, at: new Date(iat * 1000), keyId: String(decodeProtectedHeader(jws).kid ?? ''), jws };
  }

  /** Writes a new checkpoint to the log: the copy a superuser of the database cannot delete. */
  publish(checkpoint: Pick<AuditCheckpoint, 'seq' | 'hash' | 'count' | 'at' | 'keyId' | 'jws'>): void {
    this.logger.info(
      { auditCheckpoint: checkpoint.jws, seq: checkpoint.seq, hash: checkpoint.hash, count: Number(checkpoint.count), at: checkpoint.at.toISOString() },
      'audit checkpoint',
    );
  }
}
