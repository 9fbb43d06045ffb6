import DataLoader from 'dataloader';
import { LockMode } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { namespacedVariable, referencedVariables } from '../../utcp/variables.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { Credential, type CredentialVault, resealUnderCurrentKey, secretFieldsOf, VaultError } from '../credential/index.js';
import { type Viewer } from '../principal/viewer.js';
import { Provider, ProviderStatus } from '../provider/provider.entity.js';
import { Tool, ToolStatus } from '../tool/tool.entity.js';
import { ProviderVariable } from './variable.entity.js';

/** One variable to set: a secret value goes into the vault, a plain one is stored readable. */
export interface VariableInput {
  name: string;
  value: string;
  /** Default true: a value is secret unless the caller says it is not. */
  secret?: boolean | null;
}

/** What setProviderVariables changes: variables to create or replace, and names to remove. */
export interface SetVariablesInput {
  providerId: string;
  variables?: VariableInput[] | null;
  remove?: string[] | null;
}

/** What the API shows of a variable: a secret one without its value. */
export interface VariableView {
  name: string;
  secret: boolean;
  /** The value of a plain variable; null for a secret one. */
  value: string | null;
  updatedAt: Date;
}

/** The values a provider's tools are called with, by namespaced variable name, and which of them are secret. */
export interface ResolvedVariables {
  values: Map<string, string>;
  /** The decrypted secret values, to scrub from results, errors and stored rows. */
  secrets: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,199}$/;
/** Longest value accepted, in characters. */
export const MAX_VARIABLE_VALUE_LENGTH = 16_384;
/** Most variables one provider may hold (and one call may name). */
export const MAX_VARIABLES_PER_PROVIDER = 100;
const DEFAULT_BATCH_SIZE = 200;
/** The vault seals objects of strings: a variable's value is sealed as `{ value }`. */
const SEALED_FIELD = 'value';

function badInput(field: string, message: string): RegistryError {
  return new RegistryError(ErrorCode.BAD_USER_INPUT, message, { field });
}

/** The variables a provider's stored credentials provide (`<reference>_<secret field>`, as `${auth_api_key}`). */
function credentialVariables(credentials: readonly Credential[]): Set<string> {
  return new Set(credentials.flatMap((c) => secretFieldsOf(c.authType).map((field) => `${c.reference}_${field}`)));
}

/**
 * Stores the values of the variables (`$NAME`, `${NAME}`) a provider's manual refers to: secret
 * ones sealed by the credential vault and never shown, plain ones readable. Only the provider's
 * owner or an admin may set, remove or read them; every change commits with its audit entry
 * (names, never values) in one transaction. Executors get the values through {@link resolve}.
 */
export class ProviderVariableService {
  private byProvider?: DataLoader<string, ProviderVariable[]>;
  private referencedBy?: DataLoader<string, string[]>;
  private credentialsBy?: DataLoader<string, Credential[]>;

  constructor(
    private readonly em: EntityManager,
    private readonly vault: CredentialVault,
  ) {}

  /** Whether `viewer` may see and change the provider's variables: its owner, or an admin. */
  static manages(viewer: Viewer | null, provider: Provider): boolean {
    return !!viewer && (viewer.isAdmin || provider.owner?.id === viewer.principalId);
  }

  /** The provider's variables ordered by name, batched so a page of providers loads theirs in one query. */
  list(providerId: string): Promise<ProviderVariable[]> {
    this.byProvider ??= new DataLoader(async (ids) => {
      const found = await this.em.find(ProviderVariable, { provider: { $in: [...ids] } }, { orderBy: { name: 'asc' } });
      return ids.map((id) => found.filter((v) => v.provider.id === id));
    });
    return this.byProvider.load(providerId);
  }

  /** What the API may show: a secret variable's value is null. Never decrypts. */
  view(variable: ProviderVariable): VariableView {
    return { name: variable.name, secret: variable.secret, value: variable.secret ? null : (variable.value ?? null), updatedAt: variable.updatedAt };
  }

  /**
   * The variables the provider's tools refer to (plain names, sorted) that neither a stored
   * variable nor one of its credentials provides: what its owner still has to set before they work.
   */
  async missing(providerId: string): Promise<string[]> {
    this.referencedBy ??= new DataLoader(async (ids) => {
      const tools = await this.em.find(Tool, { provider: { $in: [...ids] }, status: { $ne: ToolStatus.REMOVED } });
      return ids.map((id) => referencedVariables(tools.filter((t) => t.provider.id === id).map((t) => t.callTemplate)));
    });
    this.credentialsBy ??= new DataLoader(async (ids) => {
      const found = await this.em.find(Credential, { provider: { $in: [...ids] } });
      return ids.map((id) => found.filter((c) => c.provider.id === id));
    });
    const [referenced, variables, credentials] = await Promise.all([
      this.referencedBy.load(providerId),
      this.list(providerId),
      this.credentialsBy.load(providerId),
    ]);
    const provided = new Set([...variables.map((v) => v.name), ...credentialVariables(credentials)]);
    return referenced.filter((name) => !provided.has(name)).sort();
  }

  /**
   * Creates or replaces `variables` and deletes `remove` (unset names are ignored) for a provider,
   * in one transaction with one 'provider.setVariables' audit entry naming what changed (a refused
   * caller who is not the owner gets a DENIED entry of its own). Throws
   * NOT_FOUND (no such provider), FORBIDDEN (not its owner, not an admin), CONFLICT (a name its
   * credentials provide) or BAD_USER_INPUT (a bad name, a value empty or longer than
   * {@link MAX_VARIABLE_VALUE_LENGTH}, a name given twice, too many variables, a removed provider).
   * No message repeats a value.
   */
  async set(input: SetVariablesInput, viewer: Viewer | null, actor: Actor = {}): Promise<{ provider: Provider; variables: ProviderVariable[] }> {
    const variables = input.variables ?? [];
    const remove = input.remove ?? [];
    if (variables.length + remove.length === 0) throw badInput('variables', 'Give at least one variable to set or remove');
    if (variables.length > MAX_VARIABLES_PER_PROVIDER || remove.length > MAX_VARIABLES_PER_PROVIDER) {
      throw badInput('variables', `At most ${MAX_VARIABLES_PER_PROVIDER} variables may be set or removed at once`);
    }
    const seen = new Set<string>();
    for (const [i, name] of [...variables.map((v) => v.name), ...remove].entries()) {
      const field = i < variables.length ? `variables.${i}.name` : `remove.${i - variables.length}`;
      if (typeof name !== 'string' || !NAME.test(name)) {
        throw badInput(field, 'A variable name is 1 to 200 letters, digits or `_`, not starting with a digit (as in $NEWS_API_KEY)');
      }
      if (seen.has(name)) throw badInput(field, `The variable ${name} is named twice`);
      seen.add(name);
    }
    for (const [i, variable] of variables.entries()) {
      if (typeof variable.value !== 'string' || variable.value.length === 0) {
        throw badInput(`variables.${i}.value`, `The value of ${variable.name} must not be empty (remove the variable instead)`);
      }
      if (variable.value.length > MAX_VARIABLE_VALUE_LENGTH) {
        throw badInput(`variables.${i}.value`, `The value of ${variable.name} may be at most ${MAX_VARIABLE_VALUE_LENGTH} characters`);
      }
    }
    const notFound = () => new RegistryError(ErrorCode.NOT_FOUND, `No provider with id ${JSON.stringify(String(input.providerId).slice(0, 64))}`, { field: 'providerId' });
    if (!isUuid(input.providerId)) throw notFound();
    const target = await this.em.findOne(Provider, { id: input.providerId });
    if (!target) throw notFound();
    const forbidden = () => new RegistryError(ErrorCode.FORBIDDEN, 'Only the provider’s owner or an admin may set its variables');
    if (!ProviderVariableService.manages(viewer, target)) {
      await AuditService.appendAlone(this.em.fork(), {
        ...auditActor(actor),
        action: 'provider.setVariables',
        targetType: 'provider',
        targetId: target.id,
        outcome: AuditOutcome.DENIED,
        details: { provider: target.name, set: variables.map((v) => v.name), removed: remove, reason: 'not the owner' },
      });
      throw forbidden();
    }

    return this.em.transactional(async (em) => {
      // Locking the provider serializes writers of its variables, so two first sets of one name do not collide.
      const provider = await em.findOne(Provider, { id: input.providerId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!provider) throw notFound();
      if (!ProviderVariableService.manages(viewer, provider)) throw forbidden();
      if (provider.status === ProviderStatus.DISABLED) throw badInput('providerId', 'The provider was removed; register it again');
      const fromCredentials = credentialVariables(await em.find(Credential, { provider }));
      const taken = variables.find((v) => fromCredentials.has(v.name));
      if (taken) {
        throw new RegistryError(ErrorCode.CONFLICT, `The variable ${taken.name} is provided by the provider’s credential`, { field: 'variables' });
      }

      const stored = await em.find(ProviderVariable, { provider });
      const byName = new Map(stored.map((v) => [v.name, v]));
      const removed = remove.filter((name) => byName.has(name));
      const remaining = stored.length - removed.length + variables.filter((v) => !byName.has(v.name)).length;
      if (remaining > MAX_VARIABLES_PER_PROVIDER) throw badInput('variables', `A provider may hold at most ${MAX_VARIABLES_PER_PROVIDER} variables`);

      for (const name of removed) {
        em.remove(byName.get(name)!);
        byName.delete(name);
      }
      const changed: { name: string; secret: boolean; replaced: boolean }[] = [];
      for (const input of variables) {
        const secret = input.secret ?? true;
        const sealed = secret ? this.vault.encrypt({ [SEALED_FIELD]: input.value }) : null;
        const fields = { secret, value: secret ? null : input.value, ciphertext: sealed?.ciphertext ?? null, keyId: sealed?.keyId ?? null };
        const existing = byName.get(input.name);
        if (existing) {
          em.assign(existing, fields);
        } else {
          byName.set(input.name, em.create(ProviderVariable, { provider, name: input.name, ...fields }));
        }
        changed.push({ name: input.name, secret, replaced: existing !== undefined });
      }
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'provider.setVariables',
        targetType: 'provider',
        targetId: provider.id,
        outcome: AuditOutcome.SUCCESS,
        details: { provider: provider.name, set: changed, removed },
      });
      return { provider, variables: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)) };
    });
  }

  /**
   * The values of a provider's variables under their namespaced names (`newsapi_NEWS_API_KEY`),
   * secret ones decrypted, for the executor path only. Throws a VaultError (never with a value)
   * when a secret cannot be opened.
   */
  async resolve(providerId: string, providerName: string): Promise<ResolvedVariables> {
    const stored = await this.em.find(ProviderVariable, { provider: providerId });
    const values = new Map<string, string>();
    const secrets: string[] = [];
    for (const variable of stored) {
      const value = variable.secret ? this.reveal(variable) : (variable.value ?? '');
      if (variable.secret) secrets.push(value);
      values.set(namespacedVariable(providerName, variable.name), value);
    }
    return { values, secrets };
  }

  /** A secret variable's decrypted value. Throws a VaultError naming the variable, never its value. */
  private reveal(variable: ProviderVariable): string {
    const opened = this.vault.decrypt(variable.ciphertext ?? '', variable.keyId ?? '');
    const value = opened[SEALED_FIELD];
    if (typeof value !== 'string') throw new VaultError(`The secret variable ${variable.name} does not hold a value`);
    return value;
  }

  /**
   * Re-encrypts, under the vault's current key, every secret variable sealed under another one
   * (which the vault must hold among its previous keys), in one transaction and batches of locked
   * rows, with one 'provider.rotateVariableKeys' audit entry holding the counts per old key id.
   * Variables already under the current key are skipped, so a rerun finishes an interrupted rotation
   * and a rerun with nothing to do changes and audits nothing. Returns how many were re-encrypted.
   * Throws a VaultError, rolling back, for a variable under a key the vault does not hold or that fails to decrypt.
   */
  async rotateMasterKey(actor: Actor = {}, batchSize = DEFAULT_BATCH_SIZE): Promise<number> {
    const current = this.vault.keyId;
    return this.em.transactional(async (em) => {
      const { count, previousKeyIds } = await resealUnderCurrentKey<ProviderVariable, string>(em, this.vault, {
        entity: ProviderVariable,
        table: 'provider_variable',
        where: { secret: true },
        whereSql: 'secret',
        label: 'Provider variables',
        batchSize,
        open: (variable) => {
          try {
            return this.reveal(variable);
          } catch (error) {
            throw new VaultError(`Provider variable ${variable.id} cannot be re-encrypted: ${(error as Error).message}`);
          }
        },
        seal: (variable, value) => Object.assign(variable, this.vault.encrypt({ [SEALED_FIELD]: value })),
      });
      if (count === 0) return 0;
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'provider.rotateVariableKeys',
        targetType: 'provider_variable',
        outcome: AuditOutcome.SUCCESS,
        details: { newKeyId: current, previousKeyIds, reEncrypted: count },
      });
      return count;
    });
  }
}
