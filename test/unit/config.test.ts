import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database on 127.0.0.1:4000 with the bundled example catalog', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4000,
      database: { kind: 'pglite' },
      seed: 'bundled',
      nodeEnv: 'development',
      introspection: true,
    });
  });

  const SERVER_KEYS = { REGISTRY_SIGNING_KEYS: '[{"kty":"OKP"}]', REGISTRY_MASTER_KEY: 'a'.repeat(44) };

  it('uses PostgreSQL when DATABASE_URL is set, and then seeds nothing unless asked', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/registry', DATABASE_POOL_MAX: '4', ...SERVER_KEYS });
    expect(config.database).toEqual({ kind: 'postgresql', url: 'postgres://u@db:5432/registry', poolMax: 4, preparedStatements: true, poolIdleSeconds: 300 });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db/r', DATABASE_POOL_IDLE_SECONDS: '30', ...SERVER_KEYS }).database).toMatchObject({ poolIdleSeconds: 30 });
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@db/r', DATABASE_POOL_IDLE_SECONDS: '0', ...SERVER_KEYS })).toThrow(/DATABASE_POOL_IDLE_SECONDS/);
    const unprepared = loadConfig({ DATABASE_URL: 'postgres://u@db/r', DATABASE_PREPARED_STATEMENTS: 'false', ...SERVER_KEYS });
    expect(unprepared.database).toMatchObject({ kind: 'postgresql', preparedStatements: false });
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@db/r', DATABASE_PREPARED_STATEMENTS: 'sometimes', ...SERVER_KEYS })).toThrow(/DATABASE_PREPARED_STATEMENTS/);
    expect(config.seed).toBe('none');
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db/r', REGISTRY_SEED: 'bundled', ...SERVER_KEYS }).seed).toBe('bundled');
  });

  it('requires shared signing and master keys with PostgreSQL, where replicas share the data', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@db/r' })).toThrow(/REGISTRY_SIGNING_KEYS[\s\S]*REGISTRY_MASTER_KEY/);
  });

  it('takes bootstrap credentials and an OIDC issuer only as complete pairs', () => {
    expect(() => loadConfig({ REGISTRY_BOOTSTRAP_CLIENT_ID: 'ops' })).toThrow(/set both or neither/);
    expect(() => loadConfig({ OIDC_ISSUER: 'https://idp.test' })).toThrow(/set both or neither/);
    expect(() => loadConfig({ REGISTRY_BOOTSTRAP_CLIENT_ID: 'ops', REGISTRY_BOOTSTRAP_CLIENT_SECRET: 'short' })).toThrow(
      /at least 24/,
    );
    const config = loadConfig({ OIDC_ISSUER: 'https://idp.test', OIDC_JWKS_URL: 'https://idp.test/jwks', OIDC_SCOPE_CLAIM: 'scp' });
    expect(config.auth.oidc).toEqual({ issuer: 'https://idp.test', jwksUrl: 'https://idp.test/jwks', audience: undefined, scopeClaim: 'scp' });
  });

  it('enables the sign-in through the OIDC provider with OIDC_CLIENT_ID, only next to OIDC_ISSUER', () => {
    const idp = { OIDC_ISSUER: 'https://idp.test', OIDC_JWKS_URL: 'https://idp.test/jwks' };
    expect(loadConfig(idp).oauth.oidcLogin).toBeUndefined();
    expect(() => loadConfig({ OIDC_CLIENT_ID: 'registry' })).toThrow(/OIDC_CLIENT_ID: needs OIDC_ISSUER/);
    expect(() => loadConfig({ ...idp, OIDC_CLIENT_SECRET: 'shh' })).toThrow(/OIDC_CLIENT_SECRET: needs OIDC_CLIENT_ID/);
    expect(loadConfig({ ...idp, OIDC_CLIENT_ID: 'registry', OIDC_CLIENT_SECRET: 'shh' }).oauth.oidcLogin).toEqual({
      issuer: 'https://idp.test',
      jwksUrl: 'https://idp.test/jwks',
      clientId: 'registry',
      clientSecret: 'shh',
      scopeClaim: 'scope',
    });
  });

  it('sends security alerts to a webhook only with the secret that signs them, and not to a URL of another scheme', () => {
    expect(loadConfig({}).alerts).toEqual({ webhookUrl: undefined, webhookSecret: undefined, webhookRetryBaseMs: 1000 });
    expect(() => loadConfig({ REGISTRY_ALERT_WEBHOOK_URL: 'https://siem.example/hook' })).toThrow(/REGISTRY_ALERT_WEBHOOK_SECRET: set both or neither/);
    expect(() => loadConfig({ REGISTRY_ALERT_WEBHOOK_URL: 'https://siem.example/hook', REGISTRY_ALERT_WEBHOOK_SECRET: 'short' })).toThrow(/at least 32 characters/);
    expect(() => loadConfig({ REGISTRY_ALERT_WEBHOOK_URL: 'ftp://siem.example/hook', REGISTRY_ALERT_WEBHOOK_SECRET: 'x'.repeat(32) })).toThrow(/http\(s\) URL/);
    expect(loadConfig({ REGISTRY_ALERT_WEBHOOK_URL: 'https://siem.example/hook', REGISTRY_ALERT_WEBHOOK_SECRET: 'x'.repeat(32) }).alerts.webhookUrl).toBe('https://siem.example/hook');
  });

  it('has the documented defaults for tokens and query limits', () => {
    const config = loadConfig({});
    expect(config.auth).toMatchObject({ accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 2_592_000 });
    expect(config.limits).toEqual({ maxDepth: 10, maxCost: 5000, maxAliases: 15, maxDirectives: 5, maxTokens: 2000, costBudgetPerHour: 10_000 });
  });

  it('has the documented defaults for login throttling and connection limits, and keeps the header timeout within the request timeout', () => {
    const config = loadConfig({});
    expect(config.authThrottle).toEqual({ failuresPerClientAddress: 10, failuresPerAddress: 50, failuresPerClient: 100, windowSeconds: 900, maxConcurrentVerifications: 2 });
    expect(config.connections).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 5000, maxPerAddress: 256 });
    expect(() => loadConfig({ REGISTRY_HEADERS_TIMEOUT_MS: '5000', REGISTRY_REQUEST_TIMEOUT_MS: '1000' })).toThrow(/REGISTRY_HEADERS_TIMEOUT_MS/);
    expect(loadConfig({ REGISTRY_HEADERS_TIMEOUT_MS: '5000', REGISTRY_REQUEST_TIMEOUT_MS: '0' }).connections.requestTimeoutMs).toBe(0);
  });

  it('keeps the embedded database in REGISTRY_DATA_DIR when given', () => {
    const config = loadConfig({ REGISTRY_DATA_DIR: '/var/lib/registry' });
    expect(config.database).toEqual({ kind: 'pglite', dataDir: '/var/lib/registry/pglite' });
    expect(config.dataDir).toBe('/var/lib/registry');
  });

  it('turns introspection off in production unless explicitly enabled', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', REGISTRY_INTROSPECTION: 'true' }).introspection).toBe(true);
  });

  it('turns federation traces off in production unless explicitly enabled', () => {
    expect(loadConfig({}).federationTraces).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).federationTraces).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', REGISTRY_FEDERATION_TRACES: 'true' }).federationTraces).toBe(true);
  });

  it('refuses REGISTRY_TOKEN_ISSUER: the issuer is REGISTRY_PUBLIC_URL or the listen origin, as in the OAuth metadata', () => {
    expect(() => loadConfig({ REGISTRY_TOKEN_ISSUER: 'urn:tool-registry' })).toThrow(/REGISTRY_TOKEN_ISSUER.*REGISTRY_PUBLIC_URL/);
  });

  it('serves TLS only with both certificate files, at TLS 1.3 unless lowered to 1.2, and refuses older versions and orphan TLS settings', () => {
    expect(loadConfig({}).tls).toBeUndefined();
    expect(loadConfig({ TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' }).tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem', caFile: undefined, minVersion: 'TLSv1.3' });
    expect(loadConfig({ TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem', TLS_CA_FILE: '/ca.pem', TLS_MIN_VERSION: 'TLSv1.2' }).tls).toMatchObject({ caFile: '/ca.pem', minVersion: 'TLSv1.2' });
    for (const version of ['TLSv1.1', 'TLSv1', 'SSLv3', '1.2']) {
      expect(() => loadConfig({ TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem', TLS_MIN_VERSION: version })).toThrow(/TLS_MIN_VERSION: must be TLSv1.3 \(the default\) or TLSv1.2/);
    }
    expect(() => loadConfig({ TLS_KEY_FILE: '/k.pem' })).toThrow(/TLS_CERT_FILE and TLS_KEY_FILE: set both/);
    expect(() => loadConfig({ TLS_CA_FILE: '/ca.pem', TLS_MIN_VERSION: 'TLSv1.2' })).toThrow(/TLS_CA_FILE: only applies when serving TLS[\s\S]*TLS_MIN_VERSION: only applies/);
  });

  it('refuses plain-text egress only in production, except to the hosts of REGISTRY_PLAINTEXT_ALLOW, and refuses turning certificate checks off there', () => {
    expect(loadConfig({ REGISTRY_PLAINTEXT_ALLOW: 'localhost' }).egressTransport.plaintextAllow).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'production' }).egressTransport.plaintextAllow).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production', REGISTRY_PLAINTEXT_ALLOW: 'LocalHost, 10.0.0.7,::1, sidecar.internal.' }).egressTransport.plaintextAllow).toEqual([
      'localhost',
      '10.0.0.7',
      '::1',
      'sidecar.internal',
    ]);
    expect(() => loadConfig({ REGISTRY_PLAINTEXT_ALLOW: 'http://api.test/x' })).toThrow(/REGISTRY_PLAINTEXT_ALLOW: "http:\/\/api.test\/x" is not a host name or IP address/);
    expect(() => loadConfig({ REGISTRY_PLAINTEXT_ALLOW: 'api.test:8080' })).toThrow(/REGISTRY_PLAINTEXT_ALLOW/);
    expect(() => loadConfig({ NODE_ENV: 'production', NODE_TLS_REJECT_UNAUTHORIZED: '0' })).toThrow(/NODE_TLS_REJECT_UNAUTHORIZED: "0" turns off certificate validation/);
    expect(loadConfig({ REGISTRY_CA_FILE: '/ca.pem' }).egressTransport.caFile).toBe('/ca.pem');
    const oidc = { OIDC_ISSUER: 'http://idp.internal', OIDC_JWKS_URL: 'http://idp.internal/jwks' };
    expect(() => loadConfig({ NODE_ENV: 'production', ...oidc })).toThrow(/OIDC_JWKS_URL: must be https:\/\/ in production/);
    expect(loadConfig({ NODE_ENV: 'production', REGISTRY_PLAINTEXT_ALLOW: 'idp.internal', ...oidc }).auth.oidc?.jwksUrl).toBe('http://idp.internal/jwks');
    expect(loadConfig(oidc).auth.oidc?.jwksUrl).toBe('http://idp.internal/jwks');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).port).toBe(4000);
  });

  it('reports every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', REDIS_URL: 'http://r', REGISTRY_SEED: 'all' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'REDIS_URL', 'REGISTRY_SEED']) expect(problems).toContain(name);
  });

  it('refuses a data directory together with a PostgreSQL URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db/r', REGISTRY_DATA_DIR: '/data' })).toThrow(/REGISTRY_DATA_DIR/);
  });
  it('runs one worker per core only in production with PostgreSQL and Redis, and refuses more than one without them', () => {
    const server = { DATABASE_URL: 'postgres://u@db/r', REDIS_URL: 'redis://cache:6379', ...SERVER_KEYS };
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ NODE_ENV: 'production' }).workers).toBe(1);
    expect(loadConfig(server).workers).toBe(1);
    expect(loadConfig({ ...server, NODE_ENV: 'production' }).workers).toBe(availableParallelism());
    expect(loadConfig({ ...server, NODE_ENV: 'production', REDIS_URL: '' }).workers).toBe(1);
    expect(loadConfig({ ...server, REGISTRY_WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ REGISTRY_WORKERS: '1' }).workers).toBe(1);
    expect(() => loadConfig({ REGISTRY_WORKERS: '2' })).toThrow(/REGISTRY_WORKERS: more than 1 needs DATABASE_URL[\s\S]*REGISTRY_WORKERS: more than 1 needs REDIS_URL/);
    expect(() => loadConfig({ ...server, REDIS_URL: undefined, REGISTRY_WORKERS: '2' })).toThrow(/REGISTRY_WORKERS: more than 1 needs REDIS_URL/);
    expect(() => loadConfig({ ...server, REGISTRY_WORKERS: '0' })).toThrow(/REGISTRY_WORKERS: must be at least 1/);
    expect(() => loadConfig({ ...server, REGISTRY_WORKERS: '1.5' })).toThrow(/REGISTRY_WORKERS: must be a whole number/);
  });
});
