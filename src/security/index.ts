import { createHash, randomUUID } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { Redis } from 'ioredis';
import { type Config } from '../config.js';
import { type EventBus, LocalEventBus, RedisEventBus } from '../common/event-bus.js';
import { type Logger } from '../logger.js';
import { CredentialVault, loadOrCreateMasterKey, type MasterKey, parseMasterKey } from '../modules/credential/index.js';
import { type DiscoveryOptions } from '../discovery/index.js';
import { TokenHolderCache } from '../modules/principal/index.js';
import { PolicyCache } from '../modules/policy/index.js';
import { AccessTokens, listenOrigin } from './access-tokens.js';
import { Authenticator } from './authenticate.js';
import { CostBudgets } from './budgets.js';
import { ExecutionLimiter } from '../modules/execution/execution.limits.js';
import { closeEgressAgents, type EgressPolicy, parseEgressAllowList } from './egress.js';
import { readCertificateBundle } from './certificates.js';
import { LoginThrottle } from './login-throttle.js';
import { type AlertCounters, MemoryAlertCounters, RedisAlertCounters } from '../modules/alert/alert.counters.js';
import { MemorySlidingWindow, RedisSlidingWindow, type SlidingWindow } from './sliding-window.js';
import { loadOrCreateSigningKeys, parseSigningKeys, type SigningKeyRing } from './signing-keys.js';
import { RequestSigner } from './request-signing.js';

/** The security services a running registry shares across requests. */
export interface Security {
  keys: SigningKeyRing;
  /** Signs the calls of providers with `requestSigning: SIGN`; its public keys are at /.well-known/request-signing-keys.json. */
  requestSigner: RequestSigner;
  /** Who discovery may reach, run and read. */
  discovery: Omit<DiscoveryOptions, 'headers'>;
  /** Encrypts provider credentials under the master key. */
  vault: CredentialVault;
  tokens: AccessTokens;
  authenticator: Authenticator;
  /** Token holders (principal status, revocations) held per process; also announces their changes. */
  tokenHolders: TokenHolderCache;
  /** The compiled policy set held per process; also announces policy changes. */
  policies: PolicyCache;
  budgets: CostBudgets;
  /** Rate limits and quotas of tool calls (Redis when configured). */
  executionLimiter: ExecutionLimiter;
  /** Throttling of failed client authentications at the token endpoint (Redis when configured). */
  loginThrottle: LoginThrottle;
  /** Baselines and counts of the security alert rules (Redis when configured, so replicas share them). */
  alertCounters: AlertCounters;
  /** Counts dynamic OAuth client registrations per address (Redis when configured). */
  oauthRegistrations: SlidingWindow;
  /** Events for subscriptions: through Redis across replicas when configured, else in this process. */
  events: EventBus;
  close(): Promise<void>;
}

/**
 * The Redis channel namespace of this registry's events: one per database, so replicas of one
 * registry hear each other and registries that merely share a Redis server do not.
 */
function eventNamespace(config: Config): string {
  if (config.database.kind !== 'postgresql') return randomUUID();
  const url = new URL(config.database.url);
  return createHash('sha256').update(`${url.hostname}:${url.port || '5432'}${url.pathname}`).digest('hex').slice(0, 16);
}

/** A sliding window whose keys live under this registry's namespace (registries may share a Redis). */
function namespaced(window: SlidingWindow, namespace: string): SlidingWindow {
  return {
    take: (key, limit, windowMs) => window.take(`${namespace}${key}`, limit, windowMs),
    giveBack: (key, windowMs, slot) => window.giveBack(`${namespace}${key}`, windowMs, slot),
  };
}

/**
 * Loads the signing keys (from REGISTRY_SIGNING_KEYS, else generated and kept in the embedded
 * data directory), and connects to Redis when configured. Throws for invalid keys.
 */
export async function createSecurity(config: Config, logger: Logger): Promise<Security> {
  let keys: SigningKeyRing;
  if (config.auth.signingKeys) {
    keys = await parseSigningKeys(config.auth.signingKeys);
  } else {
    const loaded = await loadOrCreateSigningKeys(config.dataDir);
    keys = loaded.keys;
    if (loaded.created) {
      logger.warn(
        { persistent: Boolean(config.dataDir) },
        config.dataDir ? 'generated a signing key in the data directory' : 'generated an in-memory signing key: tokens end with the process',
      );
    }
  }
  let masterKey: MasterKey;
  if (config.masterKey) {
    masterKey = parseMasterKey(config.masterKey);
  } else {
    const loaded = await loadOrCreateMasterKey(config.dataDir);
    masterKey = loaded.key;
    if (loaded.created) {
      logger.warn(
        { keyId: masterKey.id, path: loaded.path },
        loaded.path
          ? 'generated a credential master key in the data directory; back it up, or set REGISTRY_MASTER_KEY'
          : 'generated an in-memory credential master key: stored credentials end with the process',
      );
    }
  }
  const requestSigner = await RequestSigner.create({ jwks: config.requestSigningKeys, masterKey: masterKey.key });
  const tokens = new AccessTokens(keys, {
    // With port 0 (tests) the app sets the real origin once it listens.
    issuer: config.publicUrl ?? listenOrigin(config.host, config.port, config.tls ? 'https' : 'http'),
    ttlSeconds: config.auth.accessTokenTtlSeconds,
    oidc: config.auth.oidc,
  });
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'redis unavailable'));
  const namespace = `registry:${eventNamespace(config)}:`;
  const events = redis ? new RedisEventBus(redis, logger, namespace) : new LocalEventBus();
  const privateCas = config.egressTransport.caFile ? await readCertificateBundle(config.egressTransport.caFile, 'REGISTRY_CA_FILE') : undefined;
  const egress: EgressPolicy = {
    ...parseEgressAllowList(config.discovery.egressAllow),
    ...(config.egressTransport.plaintextAllow ? { plaintextAllow: config.egressTransport.plaintextAllow } : {}),
    // Given as `ca`, the private CAs would replace the default roots rather than add to them.
    ...(privateCas ? { ca: [...rootCertificates, ...privateCas] } : {}),
  };
  // Both listen for changes in the background (and keep trying while the bus is out of reach).
  const cacheTtlMs = config.auth.cacheTtlSeconds * 1000;
  const tokenHolders = new TokenHolderCache(events, logger, cacheTtlMs);
  const policies = new PolicyCache(events, logger, cacheTtlMs);
  void tokenHolders.start();
  void policies.start();
  return {
    keys,
    requestSigner,
    discovery: {
      egress,
      cliAllow: config.discovery.cliAllow,
      fileRoot: config.discovery.fileRoot,
      timeoutMs: config.discovery.timeoutMs,
      maxBytes: config.discovery.maxBytes,
      openApiMaxOperations: config.discovery.openApiMaxOperations,
    },
    vault: new CredentialVault(masterKey, config.previousMasterKeys.map(parseMasterKey)),
    tokens,
    authenticator: new Authenticator(tokens, tokenHolders),
    tokenHolders,
    policies,
    budgets: new CostBudgets(redis),
    executionLimiter: new ExecutionLimiter(redis),
    loginThrottle: new LoginThrottle(config.authThrottle, redis, namespace),
    alertCounters: redis ? new RedisAlertCounters(redis, namespace) : new MemoryAlertCounters(),
    oauthRegistrations: namespaced(redis ? new RedisSlidingWindow(redis) : new MemorySlidingWindow(), namespace),
    events,
    async close() {
      // The pooled keep-alive connections of every outbound request (in-flight calls are drained by now).
      await closeEgressAgents(egress);
      tokenHolders.close();
      policies.close();
      await events.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export { Scope, ROLE_SCOPES, effectiveScopes } from './scopes.js';
