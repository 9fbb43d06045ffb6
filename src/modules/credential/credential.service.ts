import { LockMode } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { assertTransportAllowed, type EgressPolicy } from '../../security/egress.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { Provider } from '../provider/provider.entity.js';
import { Credential, CredentialAuthType } from './credential.entity.js';
import { type CredentialVault, VaultError } from './vault.js';
import { resealUnderCurrentKey } from './vault.reseal.js';

/** What `set` stores: the secret is encrypted, the settings are kept in the clear. */
export interface CredentialInput {
  providerId: string;
  /** The variable name call templates use, e.g. `API_KEY` for `${API_KEY}`. */
  reference: string;
  authType: CredentialAuthType;
  secret: Record<string, string>;
  settings?: Record<string, unknown>;
  expiresAt?: Date | null;
}

/** What the API may show of a credential: everything but the secret, whose fields only say they are set. */
export interface CredentialView {
  id: string;
  providerId: string;
  reference: string;
  authType: CredentialAuthType;
  settings: Record<string, unknown>;
  keyId: string;
  createdAt: Date;
  rotatedAt: Date | null;
  expiresAt: Date | null;
  secret: Record<string, '[set]'>;
  /** The main secret's last 4 characters behind bullets, when it is long enough to spare them. */
  hint: string;
}

type Setting = (value: unknown) => string | null;

/** The secret fields and settings of one auth type. A setting returns a problem, or null when valid. */
interface AuthShape {
  secret: readonly string[];
  settings: Record<string, { check: Setting; default?: unknown; optional?: boolean }>;
}

const REFERENCE = /^[A-Za-z_][A-Za-z0-9_]{0,199}$/;
const HTTP_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,200}$/;
const MAX_SECRET_LENGTH = 16_384;
const DEFAULT_BATCH_SIZE = 200;

const oneOf =
  (...values: string[]): Setting =>
  (value) =>
    typeof value === 'string' && values.includes(value) ? null : `must be one of ${values.join(', ')}`;

const httpUrl: Setting = (value) => {
  if (typeof value !== 'string' || value.length > 2048 || !URL.canParse(value)) return 'must be an http(s) URL';
  return ['http:', 'https:'].includes(new URL(value).protocol) ? null : 'must be an http(s) URL';
};

const SHAPES: Record<CredentialAuthType, AuthShape> = {
  [CredentialAuthType.API_KEY]: {
    secret: ['api_key'],
    settings: {
      var_name: {
        check: (v) => (typeof v === 'string' && HTTP_TOKEN.test(v) ? null : 'must be a header, query or cookie name'),
        default: 'X-Api-Key',
      },
      location: { check: oneOf('header', 'query', 'cookie'), default: 'header' },
    },
  },
  [CredentialAuthType.BASIC]: { secret: ['username', 'password'], settings: {} },
  [CredentialAuthType.OAUTH2]: {
    secret: ['client_id', 'client_secret'],
    settings: {
      token_url: { check: httpUrl },
      scope: {
        check: (v) => (typeof v === 'string' && v.length <= 1000 ? null : 'must be a string of at most 1000 characters'),
        optional: true,
      },
    },
  },
};

/** The secret fields of an auth type, as UTCP names them in `auth` blocks. */
export function secretFieldsOf(authType: CredentialAuthType): readonly string[] {
  return SHAPES[authType].secret;
}

/** The non-secret settings of an auth type, kept in the clear beside the encrypted secret. */
export function settingFieldsOf(authType: CredentialAuthType): readonly string[] {
  return Object.keys(SHAPES[authType].settings);
}

function badInput(argument: string, message: string): RegistryError {
  return new RegistryError(ErrorCode.BAD_USER_INPUT, message, { argument });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Settings key of the masked hint, computed when the secret is set (the view never decrypts). */
const HINT = 'hint';

/** `••••abcd` for a secret of 16 characters or more, `••••` otherwise. */
function hintOf(authType: CredentialAuthType, secret: Record<string, string>): string {
  const main = SHAPES[authType].secret.at(-1)!;
  const value = secret[main] ?? '';
  return value.length >= 16 ? `••••${value.slice(-4)}` : '••••';
}

/**
 * Checks the secret against its auth type: exactly the expected fields, each a non-empty string.
 * Messages name fields, never values, and do not repeat unexpected field names (they might be secrets).
 */
function validSecret(authType: CredentialAuthType, secret: unknown): Record<string, string> {
  const expected = SHAPES[authType].secret;
  if (!isRecord(secret)) throw badInput('secret', `\`secret\` must be an object with ${expected.join(', ')}`);
  for (const field of expected) {
    const value = secret[field];
    if (typeof value !== 'string' || value.length === 0) {
      throw badInput(`secret.${field}`, `\`secret.${field}\` is required for ${authType} credentials`);
    }
    if (value.length > MAX_SECRET_LENGTH) {
      throw badInput(`secret.${field}`, `\`secret.${field}\` may be at most ${MAX_SECRET_LENGTH} characters`);
    }
  }
  if (Object.keys(secret).some((field) => !expected.includes(field))) {
    throw badInput('secret', `\`secret\` of ${authType} credentials may only hold ${expected.join(', ')}`);
  }
  if (authType === CredentialAuthType.BASIC && (secret.username as string).includes(':')) {
    throw badInput('secret.username', '`secret.username` must not contain ":" (RFC 7617)');
  }
  return Object.fromEntries(expected.map((field) => [field, secret[field] as string]));
}

/** Checks the settings against the auth type, filling in defaults; unknown settings are refused. */
function validSettings(authType: CredentialAuthType, settings: unknown = {}): Record<string, unknown> {
  if (!isRecord(settings)) throw badInput('settings', '`settings` must be an object');
  const shape = SHAPES[authType].settings;
  const unknown = Object.keys(settings).find((name) => !(name in shape));
  if (unknown !== undefined) {
    throw badInput(`settings.${unknown.slice(0, 64)}`, `\`settings.${unknown.slice(0, 64)}\` is not a setting of ${authType} credentials`);
  }
  const result: Record<string, unknown> = {};
  for (const [name, rule] of Object.entries(shape)) {
    const value = settings[name] ?? rule.default;
    if (value === undefined) {
      if (rule.optional) continue;
      throw badInput(`settings.${name}`, `\`settings.${name}\` is required for ${authType} credentials`);
    }
    const problem = rule.check(value);
    if (problem) throw badInput(`settings.${name}`, `\`settings.${name}\` ${problem}`);
    result[name] = value;
  }
  return result;
}

/**
 * Stores provider credentials encrypted by a {@link CredentialVault}, shows them redacted, reveals
 * them to executors and re-encrypts them when the master key rotates. Every change commits with
 * its audit entry in one transaction; no secret reaches an error message or the audit log.
 */
export class CredentialService {
  constructor(
    private readonly em: EntityManager,
    private readonly vault: CredentialVault,
    /** The egress rules a `token_url` must meet (in production, no plain-text http://); unchecked when absent. */
    private readonly egress?: EgressPolicy,
  ) {}

  /** The credential `reference` of a provider, or null. */
  async findByReference(providerId: string, reference: string): Promise<Credential | null> {
    return isUuid(providerId) ? this.em.findOne(Credential, { provider: providerId, reference }) : null;
  }

  /**
   * Creates or replaces (all fields, setting `rotatedAt`) the credential `reference` of a provider,
   * encrypted under the vault's current key. Secret shape per auth type: api_key `{ api_key }`
   * with settings `var_name` (default `X-Api-Key`) and `location` (header, query or cookie; default
   * header); basic `{ username, password }`; oauth2 `{ client_id, client_secret }` with settings
   * `token_url` and optional `scope`. Throws BAD_USER_INPUT naming the offending field (never its
   * value), PLAINTEXT_EGRESS_REFUSED for an http:// `token_url` in production, or NOT_FOUND for an
   * unknown provider.
   */
  async set(input: CredentialInput, actor: Actor = {}): Promise<Credential> {
    if (typeof input.reference !== 'string' || !REFERENCE.test(input.reference)) {
      throw badInput('reference', 'A credential reference is 1 to 200 letters, digits or `_`, not starting with a digit');
    }
    if (!Object.values(CredentialAuthType).includes(input.authType)) {
      throw badInput('authType', `\`authType\` must be one of ${Object.values(CredentialAuthType).join(', ')}`);
    }
    const secret = validSecret(input.authType, input.secret);
    const settings = validSettings(input.authType, input.settings);
    if (this.egress && typeof settings.token_url === 'string') assertTransportAllowed(settings.token_url, this.egress);
    const stored = { ...settings, [HINT]: hintOf(input.authType, secret) };
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null && !(expiresAt instanceof Date && Number.isFinite(expiresAt.getTime()))) {
      throw badInput('expiresAt', '`expiresAt` must be a valid date');
    }
    const notFound = () => new RegistryError(ErrorCode.NOT_FOUND, `No provider with id ${JSON.stringify(input.providerId)}`);
    if (!isUuid(input.providerId)) throw notFound();

    return this.em.transactional(async (em) => {
      // Locking the provider serializes writers of its credentials, so two first sets of one reference do not collide.
      const provider = await em.findOne(Provider, { id: input.providerId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!provider) throw notFound();
      const sealed = this.vault.encrypt(secret);
      let credential = await em.findOne(Credential, { provider, reference: input.reference });
      const replaced = credential !== null;
      if (credential) {
        credential.authType = input.authType;
        credential.settings = stored;
        credential.ciphertext = sealed.ciphertext;
        credential.keyId = sealed.keyId;
        credential.expiresAt = expiresAt;
        credential.rotatedAt = new Date();
      } else {
        credential = em.create(Credential, {
          provider,
          reference: input.reference,
          authType: input.authType,
          settings: stored,
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
          expiresAt,
        });
      }
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'credential.set',
        targetType: 'credential',
        targetId: credential.id,
        outcome: AuditOutcome.SUCCESS,
        details: { provider: provider.name, reference: input.reference, authType: input.authType, settings, replaced },
      });
      return credential;
    });
  }

  /** The decrypted secret, for executors only. Throws a VaultError (without the secret) when it cannot be opened. */
  reveal(credential: Credential): Record<string, string> {
    return this.vault.decrypt(credential.ciphertext, credential.keyId);
  }

  /** What the API may show: no secret, only which secret fields are set and a masked hint. Does not decrypt. */
  redacted(credential: Credential): CredentialView {
    const { [HINT]: hint, ...settings } = credential.settings;
    return {
      id: credential.id,
      providerId: credential.provider.id,
      reference: credential.reference,
      authType: credential.authType,
      settings,
      hint: typeof hint === 'string' ? hint : '••••',
      keyId: credential.keyId,
      createdAt: credential.createdAt,
      rotatedAt: credential.rotatedAt ?? null,
      expiresAt: credential.expiresAt ?? null,
      secret: Object.fromEntries(SHAPES[credential.authType].secret.map((field) => [field, '[set]' as const])),
    };
  }

  /**
   * Re-encrypts, under the vault's current key, every credential sealed under another one (which
   * the vault must hold among its previous keys). Runs in one transaction, in batches of locked
   * rows, and appends one 'credential.rotateMasterKey' audit entry with the counts per old key id.
   * Credentials already under the current key are skipped, so a rerun finishes an interrupted
   * rotation and a rerun with nothing left to do changes nothing and audits nothing. Returns how
   * many were re-encrypted. Throws a VaultError, rolling everything back, when a credential is
   * sealed under a key the vault does not hold or fails to decrypt.
   */
  async rotateMasterKey(actor: Actor = {}, batchSize = DEFAULT_BATCH_SIZE): Promise<number> {
    const current = this.vault.keyId;
    return this.em.transactional(async (em) => {
      const { count, previousKeyIds } = await resealUnderCurrentKey<Credential, Record<string, string>>(em, this.vault, {
        entity: Credential,
        table: 'credential',
        label: 'Credentials',
        batchSize,
        open: (credential) => {
          try {
            return this.vault.decrypt(credential.ciphertext, credential.keyId);
          } catch (error) {
            throw new VaultError(`Credential ${credential.id} cannot be re-encrypted: ${(error as Error).message}`);
          }
        },
        seal: (credential, secret) => Object.assign(credential, this.vault.encrypt(secret)),
      });
      if (count === 0) return 0;
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'credential.rotateMasterKey',
        targetType: 'credential',
        outcome: AuditOutcome.SUCCESS,
        details: { newKeyId: current, previousKeyIds, reEncrypted: count },
      });
      return count;
    });
  }
}
