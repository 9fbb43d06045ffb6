import { Redis } from 'ioredis';
import { type Config } from '../config.js';
import { type Logger } from '../logger.js';
import { AccessTokens } from './access-tokens.js';
import { Authenticator } from './authenticate.js';
import { CostBudgets } from './budgets.js';
import { loadOrCreateSigningKeys, parseSigningKeys, type SigningKeyRing } from './signing-keys.js';

/** The security services a running registry shares across requests. */
export interface Security {
  keys: SigningKeyRing;
  tokens: AccessTokens;
  authenticator: Authenticator;
  budgets: CostBudgets;
  close(): Promise<void>;
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
  const tokens = new AccessTokens(keys, {
    issuer: config.auth.issuer,
    ttlSeconds: config.auth.accessTokenTtlSeconds,
    oidc: config.auth.oidc,
  });
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'redis unavailable'));
  return {
    keys,
    tokens,
    authenticator: new Authenticator(tokens),
    budgets: new CostBudgets(redis),
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export { Scope, ROLE_SCOPES, effectiveScopes } from './scopes.js';
