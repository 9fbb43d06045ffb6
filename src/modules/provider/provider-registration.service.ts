import { type EntityManager, LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { isUuid } from '../../common/ids.js';
import { type DiscoveryOptions, discoverManual } from '../../discovery/index.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { assertTemplateTransportAllowed } from '../../security/egress.js';
import { parseCallTemplate, parseManualWithWarnings, type UtcpManual } from '../../utcp/manual.schema.js';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';
import { Credential, CredentialService, type CredentialVault } from '../credential/index.js';
import { Policy, resourcesName } from '../policy/index.js';
import { type Viewer } from '../principal/viewer.js';
import {
  approvePendingVersion,
  CatalogChangeKind,
  type CatalogEvents,
  changesOf,
  type SyncOptions,
  type SyncResult,
  syncTools,
  Tool,
  toolDefinition,
} from '../tool/index.js';
import { referencedVariables } from '../../utcp/variables.js';
import { ProviderVariable } from '../variable/variable.entity.js';
import {
  type CredentialFields,
  discoveryHeaders,
  type ExtractedAuth,
  extractAuth,
  PROVIDER_AUTH_REFERENCE,
  withCredential,
} from './provider-auth.js';
import { type CallTemplateType, Provider, ProviderStatus, RequestSigning } from './provider.entity.js';
import { normaliseTlsPins, pinnedPolicy } from '../../security/tls-pins.js';
import { tlsPinMismatchAudit } from './provider-pins.js';

const PROVIDER_NAME = /^[A-Za-z0-9_]{1,128}$/;

/**
 * How a registration may take a name: it is free (`new`), its removed provider's owner registers it
 * again (`again`: kept tools, changes quarantined as on a refresh), or an admin released it
 * (`replace`: the old provider and its tools give way to new ones that start quarantined).
 */
type Claim = 'new' | 'again' | 'replace';

/** The outcome of releasing a removed provider's name. */
export interface NameRelease {
  provider: Provider;
  /** Policies naming the provider or its tools: they will apply to the next owner's tools once approved. */
  policies: string[];
}

/** The outcome of registering or refreshing a provider. */
export interface ProviderChange {
  provider: Provider;
  sync: SyncResult | null;
  warnings: string[];
  /** Why discovery failed, when it did (the provider is then in status `error`). */
  discoveryError?: RegistryError;
}

/** What registration and refresh need besides the database. */
export interface RegistrationDependencies {
  vault: CredentialVault;
  discovery: Omit<DiscoveryOptions, 'headers'>;
  /** Where committed catalog changes are announced. */
  catalogEvents: CatalogEvents;
}

/**
 * Registers providers, discovers their tools and keeps the catalog in step with them: refresh
 * quarantines changed tools, approval releases them, removal retires a provider. Every change is
 * audited in the transaction that makes it, and announced to `catalogChanged` once committed;
 * discovery itself never runs inside a transaction.
 */
export class ProviderRegistrationService {
  constructor(
    private readonly em: EntityManager,
    private readonly deps: RegistrationDependencies,
  ) {}

  /**
   * Validates the call template strictly (UTCP 1.1), moves literal secrets of its `auth` block
   * into the vault, discovers the manual and stores its tools. A removed provider's name is its
   * owner's to register again: its tools come back with their history, changed ones quarantined as
   * on a refresh. Anyone else needs an admin to release the name first; then the old provider is
   * replaced and every new tool starts quarantined. Throws, storing nothing, for a bad template
   * (BAD_USER_INPUT / INVALID_MANUAL with JSON paths), a name in use or reserved (CONFLICT), or a
   * failed discovery (its own code: DISCOVERY_FAILED, EGRESS_DENIED, PLAINTEXT_EGRESS_REFUSED, UPSTREAM_*, INVALID_MANUAL).
   */
  async register(
    input: {
      name: string;
      callTemplate: unknown;
      credential?: CredentialFields | null;
      tlsPins?: string[] | null;
      requestSigning?: RequestSigning | null;
    },
    actor: Actor = {},
  ): Promise<ProviderChange> {
    if (!PROVIDER_NAME.test(input.name)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'A provider name is 1 to 128 letters, digits or `_`', { field: 'name' });
    }
    if (!input.callTemplate || typeof input.callTemplate !== 'object' || Array.isArray(input.callTemplate)) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`callTemplate` must be a UTCP call template object', { field: 'callTemplate' });
    }
    const { template: withoutSecrets, auth } = extractAuth(withCredential(input.callTemplate as Record<string, unknown>, input.credential));
    const template = parseCallTemplate({ ...withoutSecrets, name: input.name }, '$.callTemplate') as Record<string, unknown> & {
      call_template_type: CallTemplateType;
    };
    const tlsPins = normaliseTlsPins(input.tlsPins);
    const requestSigning = input.requestSigning ?? RequestSigning.OFF;
    // Checked before discovery (no outbound call for a refused name) and again under a row lock.
    claimOf(await this.em.findOne(Provider, { name: input.name }), input.name, actor);

    const discovered = await this.discover(template, auth, [], tlsPins);
    if (discovered instanceof RegistryError) {
      // Nothing is stored for a failed registration, but a pin refusal is audited all the same.
      if (discovered.code === ErrorCode.TLS_PIN_MISMATCH) {
        const failure = { providerId: null, providerName: input.name, host: pinFailureHost(discovered) };
        await AuditService.appendAlone(this.em, tlsPinMismatchAudit(failure, { discovery: 'register' }, actor));
      }
      throw discovered;
    }
    const registered = await this.em
      .transactional(async (em) => {
        const existing = await em.findOne(Provider, { name: input.name }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
        const claim = claimOf(existing, input.name, actor);
        let provider: Provider;
        if (claim === 'again') {
          provider = existing!;
        } else {
          if (claim === 'replace') {
            // The released provider's tools, versions and credentials go with it (executions keep the tool's name).
            em.remove(existing!);
            await em.flush();
          }
          provider = em.create(Provider, { name: input.name, callTemplateType: template.call_template_type, callTemplate: template });
        }
        em.assign(provider, {
          callTemplateType: template.call_template_type,
          callTemplate: template,
          owner: actor.principalId ?? null,
          lastDiscoveredAt: new Date(),
          tlsPins,
          requestSigning,
          tlsPinFailureAt: null,
          tlsPinFailureHost: null,
        });
        await em.flush();
        await em.nativeDelete(Credential, { provider });
        // A registration over a removed provider starts afresh: the previous owner's variables go too.
        await em.nativeDelete(ProviderVariable, { provider });
        if (auth) {
          await new CredentialService(em, this.deps.vault).set(
            { providerId: provider.id, reference: PROVIDER_AUTH_REFERENCE, authType: auth.authType, secret: auth.secret, settings: auth.settings },
            actor,
          );
        }
        // Again: changed tools wait for approval exactly as on a refresh. Replaced: every tool does.
        const change = await this.apply(em, provider, discovered, { quarantineChanges: claim !== 'new', quarantineNew: claim === 'replace' }, actor, 'register');
        await this.audit(em, 'provider.register', provider, actor, change, claim === 'replace' ? { replaced: existing!.id } : {});
        return change;
      })
      .catch((error: unknown) => {
        // Two registrations of a new name at once: the second finds it taken.
        if (error instanceof UniqueConstraintViolationException) {
          throw new RegistryError(ErrorCode.CONFLICT, `A provider named ${input.name} already exists`, { field: 'name' });
        }
        throw error;
      });
    this.announce(registered.sync);
    return registered;
  }

  /**
   * Discovers the provider's manual again. New tools are added; vanished ones marked removed;
   * changed ones get a new version, quarantined unless the change only adds optional inputs.
   * A failed discovery leaves the catalog as it was and the provider in status `error`.
   * Throws NOT_FOUND, FORBIDDEN (not the owner, not an admin) or BAD_USER_INPUT (removed provider).
   */
  async refresh(providerId: string, viewer: Viewer | null, actor: Actor = {}): Promise<ProviderChange> {
    const provider = await this.manageable(providerId, viewer);
    if (provider.status === ProviderStatus.DISABLED) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'The provider was removed; register it again', { field: 'id' });
    }
    const credential = await this.em.findOne(Credential, { provider, reference: PROVIDER_AUTH_REFERENCE });
    const auth = credential
      ? { authType: credential.authType, secret: new CredentialService(this.em, this.deps.vault).reveal(credential), settings: credential.settings }
      : undefined;
    const variables = await this.em.find(ProviderVariable, { provider });
    const discovered = await this.discover(
      provider.callTemplate as Record<string, unknown> & { call_template_type: string },
      auth,
      variables.map((v) => v.name),
      provider.tlsPins,
    );
    const refreshed = await this.em.transactional(async (em) => {
      const managed = em.merge(provider);
      managed.lastDiscoveredAt = new Date();
      const change = await this.apply(em, managed, discovered, { quarantineChanges: true }, actor, 'refresh');
      await this.audit(em, 'provider.refresh', managed, actor, change);
      return change;
    });
    this.announce(refreshed.sync);
    return refreshed;
  }

  /**
   * Sets a provider's TLS pins (the whole set: add the new key's pin beside the old, then drop the
   * old) and request signing; omitted fields stay. A new pin set clears the recorded pin failure.
   * Audited as `provider.transport_security` with the pins (public values) and the signing mode.
   * Throws NOT_FOUND, FORBIDDEN (not the owner, not an admin) or BAD_USER_INPUT (a malformed pin).
   */
  async setTransportSecurity(
    input: { id: string; tlsPins?: string[] | null; requestSigning?: RequestSigning | null },
    viewer: Viewer | null,
    actor: Actor = {},
  ): Promise<Provider> {
    const tlsPins = input.tlsPins == null ? undefined : normaliseTlsPins(input.tlsPins);
    const provider = await this.manageable(input.id, viewer);
    return this.em.transactional(async (em) => {
      const managed = em.merge(provider);
      if (tlsPins) em.assign(managed, { tlsPins, tlsPinFailureAt: null, tlsPinFailureHost: null });
      if (input.requestSigning) managed.requestSigning = input.requestSigning;
      await em.flush();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'provider.transport_security',
        targetType: 'provider',
        targetId: managed.id,
        outcome: AuditOutcome.SUCCESS,
        details: { provider: managed.name, tlsPins: managed.tlsPins, requestSigning: managed.requestSigning },
      });
      return managed;
    });
  }

  /** Retires a provider: its tools are marked removed, its credentials deleted. Throws NOT_FOUND or FORBIDDEN. */
  async remove(providerId: string, viewer: Viewer | null, actor: Actor = {}): Promise<Provider> {
    const provider = await this.manageable(providerId, viewer);
    const { managed, sync } = await this.em.transactional(async (em) => {
      const managed = em.merge(provider);
      managed.status = ProviderStatus.DISABLED;
      const sync = await syncTools(em, managed, [], { quarantineChanges: true });
      const credentials = await em.nativeDelete(Credential, { provider: managed });
      await em.nativeDelete(ProviderVariable, { provider: managed });
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'provider.remove',
        targetType: 'provider',
        targetId: managed.id,
        outcome: AuditOutcome.SUCCESS,
        details: { provider: managed.name, removedTools: sync.removed, credentials },
      });
      return { managed, sync };
    });
    this.announce(sync);
    return managed;
  }

  /**
   * Releases the name of a removed provider (admin): until then only its owner may register the name
   * again. The provider and its tools stay as they are, with their history, until the name is
   * registered again; that registration replaces them with a new provider whose tools start
   * quarantined, so an admin decides before the policies naming them (returned here) apply to the
   * new owner's tools. Audited. Throws FORBIDDEN (not an admin), NOT_FOUND, or CONFLICT (not removed).
   */
  async releaseName(name: string, viewer: Viewer | null, actor: Actor = {}): Promise<NameRelease> {
    if (viewer && !viewer.isAdmin) throw new RegistryError(ErrorCode.FORBIDDEN, 'Only an admin may release a provider name');
    const release = await this.em.transactional(async (em) => {
      const provider = PROVIDER_NAME.test(name) ? await em.findOne(Provider, { name }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true }) : null;
      if (!provider) throw new RegistryError(ErrorCode.NOT_FOUND, `No provider named ${name}`, { field: 'name' });
      if (provider.status !== ProviderStatus.DISABLED) {
        throw new RegistryError(ErrorCode.CONFLICT, `Provider ${name} is in use: remove it before releasing its name`, { field: 'name' });
      }
      const tools = await em.find(Tool, { provider }, { orderBy: { name: 'asc' } });
      const toolNames = tools.map((t) => t.name);
      const policies = (await em.find(Policy, {}, { orderBy: { name: 'asc' } })).filter((p) => resourcesName(p.resources, name, toolNames)).map((p) => p.name);
      provider.releasedAt ??= new Date();
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'provider.releaseName',
        targetType: 'provider',
        targetId: provider.id,
        outcome: AuditOutcome.SUCCESS,
        details: {
          provider: name,
          previousOwner: provider.owner?.id ?? null,
          tools: toolNames,
          definitionHashes: Object.fromEntries(tools.map((t) => [t.name, t.definitionHash])),
          policies,
        },
      });
      return { provider, policies };
    });
    this.announce(null);
    return release;
  }

  /** Releases a quarantined tool's pending version (admin). Throws NOT_FOUND when there is none. */
  async approveToolVersion(toolId: string, version: number, actor: Actor = {}): Promise<Tool> {
    const approved = await this.em.transactional(async (em) => {
      const tool = isUuid(toolId) ? await em.findOne(Tool, { id: toolId }) : null;
      if (!tool) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such tool', { field: 'toolId' });
      const approved = await approvePendingVersion(em, tool, version, actor.principalId ?? null);
      if (!approved) throw new RegistryError(ErrorCode.NOT_FOUND, `Tool ${tool.name} has no pending version ${version}`, { field: 'version' });
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'tool.approveVersion',
        targetType: 'tool',
        targetId: tool.id,
        outcome: AuditOutcome.SUCCESS,
        details: { tool: tool.name, version, definitionHash: approved.definitionHash },
      });
      return tool;
    });
    this.deps.catalogEvents.publish([{ kind: CatalogChangeKind.CHANGED, tool: approved.name }]);
    return approved;
  }

  /** Enables or disables a tool (its provider's owner, or an admin). Throws NOT_FOUND or FORBIDDEN. */
  async setToolEnabled(toolId: string, enabled: boolean, viewer: Viewer | null, actor: Actor = {}): Promise<Tool> {
    const tool = isUuid(toolId) ? await this.em.findOne(Tool, { id: toolId }, { populate: ['provider'] }) : null;
    if (!tool) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such tool', { field: 'toolId' });
    await this.manageable(tool.provider.id, viewer);
    const changed = await this.em.transactional(async (em) => {
      const managed = em.merge(tool);
      managed.enabled = enabled;
      await new AuditService(em).append({
        ...auditActor(actor),
        action: 'tool.setEnabled',
        targetType: 'tool',
        targetId: managed.id,
        outcome: AuditOutcome.SUCCESS,
        details: { tool: managed.name, enabled },
      });
      return managed;
    });
    this.deps.catalogEvents.publish([{ kind: CatalogChangeKind.CHANGED, tool: changed.name }]);
    return changed;
  }

  /** Announces what a committed sync changed (nothing but the provider's state, without one). */
  private announce(sync: SyncResult | null): void {
    this.deps.catalogEvents.publish(sync ? changesOf(sync) : []);
  }

  /** The provider, when `viewer` owns it or is an admin. */
  private async manageable(providerId: string, viewer: Viewer | null): Promise<Provider> {
    const provider = isUuid(providerId) ? await this.em.findOne(Provider, { id: providerId }) : null;
    if (!provider) throw new RegistryError(ErrorCode.NOT_FOUND, 'No such provider', { field: 'id' });
    if (viewer && !viewer.isAdmin && provider.owner?.id !== viewer.principalId) {
      throw new RegistryError(ErrorCode.FORBIDDEN, 'Only the provider’s owner or an admin may change it');
    }
    return provider;
  }

  /** Runs discovery outside any transaction; a failure is returned, not thrown. `variables`: the names the provider's stored variables provide. */
  private async discover(
    template: Record<string, unknown> & { call_template_type: string },
    auth: ExtractedAuth | undefined,
    variables: readonly string[] = [],
    tlsPins: readonly string[] = [],
  ): Promise<{ definitions: ReturnType<typeof toolDefinition>[]; warnings: string[] } | RegistryError> {
    try {
      // In production, plain-text URLs (the template's, its tools', OAuth token URLs) are refused before any call.
      assertTemplateTransportAllowed(template, this.deps.discovery.egress);
      const egress = pinnedPolicy(this.deps.discovery.egress, tlsPins);
      const discovered = await discoverManual(template, { ...this.deps.discovery, egress, headers: discoveryHeaders(auth) });
      const { warnings } = discovered;
      const parsed = discovered.validated ? { manual: discovered.manual as UtcpManual, warnings: [] } : parseManualWithWarnings(discovered.manual);
      const providerName = String(template.name);
      const definitions = parsed.manual.tools.map((tool) => toolDefinition(providerName, tool));
      for (const definition of definitions) assertTemplateTransportAllowed(definition.callTemplate, this.deps.discovery.egress);
      const provided = new Set([...variables, ...(auth ? Object.keys(auth.secret).map((f) => `${PROVIDER_AUTH_REFERENCE}_${f}`) : [])]);
      const missing = referencedVariables([template, ...definitions.map((d) => d.callTemplate)]).filter((v) => !provided.has(v));
      const needs = missing.length
        ? [`Tools refer to variables nobody provided yet: ${missing.sort().join(', ')} (set them with setProviderVariables)`]
        : [];
      return { definitions, warnings: [...warnings, ...parsed.warnings, ...needs] };
    } catch (error) {
      if (error instanceof RegistryError) return error;
      throw error;
    }
  }

  /**
   * Stores a discovery's outcome: the tools, or the failure on the provider. A pin refusal is also
   * recorded as a call's is: `tlsPinFailure` set and a `provider.tls_pin_mismatch` entry.
   */
  private async apply(
    em: EntityManager,
    provider: Provider,
    discovered: Awaited<ReturnType<ProviderRegistrationService['discover']>>,
    options: SyncOptions,
    actor: Actor,
    discovery: 'register' | 'refresh',
  ): Promise<ProviderChange> {
    if (discovered instanceof RegistryError) {
      provider.status = ProviderStatus.ERROR;
      provider.lastError = discovered.message;
      if (discovered.code === ErrorCode.TLS_PIN_MISMATCH) {
        const host = pinFailureHost(discovered);
        provider.tlsPinFailureAt = new Date();
        provider.tlsPinFailureHost = host;
        await new AuditService(em).append(tlsPinMismatchAudit({ providerId: provider.id, providerName: provider.name, host }, { discovery }, actor));
      }
      await em.flush();
      return { provider, sync: null, warnings: [], discoveryError: discovered };
    }
    provider.status = ProviderStatus.ACTIVE;
    provider.lastError = null;
    const sync = await syncTools(em, provider, discovered.definitions, options);
    return { provider, sync, warnings: discovered.warnings };
  }

  private async audit(
    em: EntityManager,
    action: string,
    provider: Provider,
    actor: Actor,
    change: ProviderChange,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const { sync } = change;
    await new AuditService(em).append({
      ...auditActor(actor),
      action,
      targetType: 'provider',
      targetId: provider.id,
      outcome: change.discoveryError ? AuditOutcome.FAILURE : AuditOutcome.SUCCESS,
      details: {
        provider: provider.name,
        callTemplateType: provider.callTemplateType,
        ...extra,
        ...(change.discoveryError ? { error: change.discoveryError.message } : {}),
        ...(sync
          ? { created: sync.created, updated: sync.updated, quarantined: sync.quarantined, removed: sync.removed, restored: sync.restored }
          : {}),
      },
    });
  }
}

/** The host a pin refusal names (the error carries nothing else of the connection). */
function pinFailureHost(error: RegistryError): string {
  return String(error.extensions.host ?? '').slice(0, 255) || 'unknown';
}

/**
 * Whether `actor` may register `name`, given the provider that holds it (if any), and how. A removed
 * provider's name stays reserved to its owner until an admin releases it; the refusal names neither
 * the owner nor anything else about them. Throws CONFLICT.
 */
function claimOf(existing: Provider | null, name: string, actor: Actor): Claim {
  if (!existing) return 'new';
  if (existing.status !== ProviderStatus.DISABLED) {
    throw new RegistryError(ErrorCode.CONFLICT, `A provider named ${name} already exists`, { field: 'name' });
  }
  if (existing.releasedAt) return 'replace';
  if (actor.principalId && existing.owner?.id === actor.principalId) return 'again';
  throw new RegistryError(
    ErrorCode.CONFLICT,
    `The name ${name} belongs to a removed provider: only its owner may register it again, unless an admin releases the name (releaseProviderName)`,
    { field: 'name' },
  );
}
