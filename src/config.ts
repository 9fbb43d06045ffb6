import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseCidr } from './common/ip.js';
import { parseEgressAllowList } from './security/egress-policy.js';

/** Where the registry keeps its data: embedded PGlite, or a PostgreSQL server. */
export type DatabaseConfig =
  | {
      kind: 'pglite';
      /** Where PGlite keeps its files; in memory when unset. */
      dataDir?: string;
      /**
       * A dump of a PGlite data directory (`dumpDataDir`) to start an in-memory database from
       * (`dataDir` is then ignored) instead of a new, empty cluster: loading one takes a third of
       * the time of creating a cluster. `openDatabase` sets it to the build's template for the
       * in-memory database (db/embedded-template.ts); the tests' databases set it themselves.
       */
      initialData?: Blob;
    }
  | {
      kind: 'postgresql';
      url: string;
      poolMax: number;
      /** Whether hot-path statements run as named prepared statements (`DATABASE_PREPARED_STATEMENTS`; default true). */
      preparedStatements?: boolean;
      /** Seconds an unused pooled connection stays open (`DATABASE_POOL_IDLE_SECONDS`; default 300). */
      poolIdleSeconds?: number;
    };

/** Seconds an unused pooled PostgreSQL connection stays open unless `DATABASE_POOL_IDLE_SECONDS` says otherwise. */
export const DEFAULT_POOL_IDLE_SECONDS = 300;

/** How the registry authenticates callers. */
export interface AuthConfig {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /**
   * Longest a replica decides from its cached token holders (principal status, revocations) and
   * policies without hearing of a change; 0 turns those caches off.
   */
  cacheTtlSeconds: number;
  /** JSON array of private JWKs (first signs); generated (and kept in the data directory) when unset in embedded mode. */
  signingKeys?: string;
  bootstrap?: { clientId: string; clientSecret: string };
  oidc?: { issuer: string; jwksUrl: string; audience?: string; scopeClaim: string };
}

/** The OAuth 2.1 authorization server for public clients (src/security/authorize.routes.ts). */
export interface OAuthServerConfig {
  /** `required`: an admin's sign-in at /oauth/authorize needs a TOTP code (RFC 6238). */
  adminMfa: 'required' | 'off';
  /** Dynamically registered clients kept at most; registration is refused beyond. */
  maxClients: number;
  /** Registrations accepted per source address per hour. */
  registrationsPerHour: number;
  /** A registered client that has not signed anyone in for this long is deleted. */
  unusedClientTtlSeconds: number;
  /** Sign-in through the external OIDC provider (OIDC_CLIENT_ID set); unset: only client credentials sign in. */
  oidcLogin?: OidcLoginConfig;
}

/** The registry as a relying party of the external OIDC provider (authorization code, PKCE S256). */
export interface OidcLoginConfig {
  issuer: string;
  jwksUrl: string;
  clientId: string;
  /** Sent with client_secret_basic; unset: a public client. */
  clientSecret?: string;
  /** The id_token claim holding the scopes a login may be granted (OIDC_SCOPE_CLAIM). */
  scopeClaim: string;
}

/** How the registry reaches providers to discover their tools. */
export interface DiscoveryConfig {
  /** Hosts and CIDRs that may be reached although private or loopback (`REGISTRY_EGRESS_ALLOW`). */
  egressAllow?: string;
  /** Executables the `cli` and stdio `mcp` types may run. */
  cliAllow: string[];
  /** The only directory the `file` type may read; unset means `file` is refused. */
  fileRoot?: string;
  timeoutMs: number;
  maxBytes: number;
  /** Operations of an OpenAPI description converted at most (`REGISTRY_OPENAPI_MAX_OPERATIONS`). */
  openApiMaxOperations: number;
  /** Seconds between automatic refreshes of a provider; 0 turns them off. */
  refreshIntervalSeconds: number;
}

/** How the registry runs tool calls. */
export interface ExecutionConfig {
  /** Deadline of a call when the caller gives none, and the largest one a caller may ask for, in ms. */
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /** Largest response (or CLI output) accepted from a tool, in bytes. */
  maxResponseBytes: number;
  /** A running call whose process gave no sign of life for this long was interrupted (the process died). */
  leaseSeconds: number;
}

/** Limits on what one GraphQL request may ask for. */
export interface LimitsConfig {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  /** Query-cost points per principal per hour, unless the principal has its own budget. */
  costBudgetPerHour: number;
}

/** Throttling of client authentication at `POST /oauth/token` (see src/security/login-throttle.ts). */
export interface AuthThrottleConfig {
  /** Failed authentications of one client id from one source address per window. */
  failuresPerClientAddress: number;
  /** Failed authentications from one source address per window, whatever the client id. */
  failuresPerAddress: number;
  /** Failed authentications of one client id per window from addresses it has not logged in from lately. */
  failuresPerClient: number;
  windowSeconds: number;
  /** Client secrets verified (argon2) at the same time; more wait in a bounded queue. */
  maxConcurrentVerifications: number;
}

/** Serving HTTPS/WSS (src/http/tls.ts): the certificate files, reloaded on SIGHUP. */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to; set, a client without a valid certificate is refused at the handshake. */
  caFile?: string;
  /** Oldest TLS version accepted: TLS 1.3 unless lowered to 1.2. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** Transport rules of the registry's outbound calls to providers. */
export interface EgressTransportConfig {
  /**
   * Hosts that may still be reached over `http://` / `ws://` (`REGISTRY_PLAINTEXT_ALLOW`); undefined
   * outside production, where plain-text egress is not refused.
   */
  plaintextAllow?: string[];
  /** PEM bundle of private CAs trusted for outbound TLS besides Node's default roots (`REGISTRY_CA_FILE`). */
  caFile?: string;
}

/** Timeouts and caps of the HTTP server's connections (see src/security/connection-limits.ts). */
export interface ConnectionsConfig {
  /** Time a client has to send the request headers, from the connection's start or the previous response. */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request (headers and body); 0 turns it off. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open between requests. */
  idleTimeoutMs: number;
  /** Open connections one client address may have; 0 turns the cap off. Trusted proxies are not capped. */
  maxPerAddress: number;
}

/** Security alerts (src/modules/alert): where they are sent. The rules themselves live in the database. */
export interface AlertsConfig {
  /** The webhook every alert is POSTed to, signed; unset sends none. */
  webhookUrl?: string;
  /** The HMAC-SHA256 key of the webhook's `X-Registry-Signature`. */
  webhookSecret?: string;
  /** Wait before the first retry of a failed delivery, doubled for each further one (up to an hour). */
  webhookRetryBaseMs: number;
}

/** The registry's whole configuration, parsed once from the environment by {@link loadConfig}. */
export interface Config {
  host: string;
  port: number;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database: DatabaseConfig;
  redisUrl?: string;
  /** `bundled` imports the example manuals whose providers are missing; `none` starts empty. */
  seed: 'bundled' | 'none';
  /** Largest accepted HTTP request body, in bytes. */
  bodyLimitBytes: number;
  /** How long SIGTERM waits for in-flight requests before closing them, in milliseconds. */
  shutdownGraceMs: number;
  /** Answers of catalog queries kept per caller (see src/http/catalog-cache.ts); 0 bytes turns it off. */
  catalogCache: { maxBytes: number; ttlMs: number };
  /** The registry's base URL as clients reach it, for the links it hands out (/utcp, MCP metadata); else from each request. */
  publicUrl?: string;
  /** How often an open subscription connection's token is checked again (expiry, revocation). */
  subscriptionRecheckMs: number;
  /** Serve introspection queries (on by default outside production). */
  introspection: boolean;
  /** Return federation traces (`ftv1`) to authenticated callers that ask (on by default outside production). */
  federationTraces: boolean;
  /** Execute repeated query operations compiled by graphql-jit (see src/http/compiled-execution.ts); else graphql-js runs every one. */
  graphqlJit: boolean;
  /** Serve the catalog console (dist/console) at `/`. */
  console: boolean;
  /** Embedded mode's data directory (database, generated keys); undefined in memory or on PostgreSQL. */
  dataDir?: string;
  auth: AuthConfig;
  oauth: OAuthServerConfig;
  limits: LimitsConfig;
  discovery: DiscoveryConfig;
  execution: ExecutionConfig;
  authThrottle: AuthThrottleConfig;
  connections: ConnectionsConfig;
  alerts: AlertsConfig;
  /** Proxies (CIDRs or addresses) whose X-Forwarded-For is believed when finding the client address. */
  trustedProxies: string[];
  /** base64 of the 32-byte credential master key; generated (and kept in the data directory) when unset in embedded mode. */
  masterKey?: string;
  /** REGISTRY_REQUEST_SIGNING_KEYS: private Ed25519 JWKs for signed tool calls; unset: derived from the master key. */
  requestSigningKeys?: string;
  /** Earlier master keys that still decrypt, while `npm run vault:rotate` re-encrypts under the current one. */
  previousMasterKeys: string[];
  /** Seconds between signed checkpoints of the audit chain's head (one replica writes each); 0 turns the timer off. */
  auditCheckpointSeconds: number;
  /** Registry processes serving one port (src/cluster.ts); more than 1 needs PostgreSQL and Redis. */
  workers: number;
  /** Serve HTTPS/WSS with these certificates; undefined serves plain HTTP (behind a TLS-terminating proxy). */
  tls?: TlsConfig;
  egressTransport: EgressTransportConfig;
  /** Prometheus metrics (src/observability): a listener of their own when `port` is set, else `/metrics` on the main port to `metrics:read`. */
  metrics: { port?: number; host: string; operations: string[]; maxToolLabels: number };
  /** OpenTelemetry tracing: on when an OTLP endpoint is configured (the SDK reads the other OTEL_* variables itself). */
  tracing: { enabled: boolean; tracesUrl?: string; serviceName: string };
}

/** A comma-separated list, trimmed, without empty entries. */
function splitList(value: string | undefined): string[] {
  return value?.split(',').map((v) => v.trim()).filter(Boolean) ?? [];
}

/** A REGISTRY_PLAINTEXT_ALLOW entry as URLs spell their host (lower case, IPv6 without brackets), or undefined when it is not a host. */
function plaintextHost(entry: string): string | undefined {
  if (/[/@?#\s]/.test(entry)) return undefined;
  const parsed = URL.parse(`http://${isIP(entry) === 6 ? `[${entry}]` : entry}/`);
  if (!parsed || parsed.port || !parsed.hostname) return undefined;
  return parsed.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const postgresUrl = z
  .string()
  .url()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// or postgresql:// URL' });

const redisUrl = z
  .string()
  .url()
  .refine((v) => /^rediss?:\/\//.test(v), { message: 'must be a redis:// or rediss:// URL' });

const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_PREPARED_STATEMENTS: boolean.default(true),
  DATABASE_POOL_IDLE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(DEFAULT_POOL_IDLE_SECONDS),
  REDIS_URL: redisUrl.optional(),
  REGISTRY_DATA_DIR: z.string().min(1).optional(),
  REGISTRY_SEED: z.enum(['bundled', 'none']).optional(),
  REGISTRY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(1024 * 1024),
  REGISTRY_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  REGISTRY_CATALOG_CACHE_MB: z.coerce.number().int().min(0).max(4096).default(64),
  REGISTRY_CATALOG_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  REGISTRY_AUTH_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  REGISTRY_PUBLIC_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\/[^/?#]+\/?$/.test(v), { message: 'must be an http(s) origin such as https://registry.example' })
    .transform((v) => v.replace(/\/$/, ''))
    .optional(),
  REGISTRY_SUBSCRIPTION_RECHECK_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  REGISTRY_INTROSPECTION: boolean.optional(),
  REGISTRY_FEDERATION_TRACES: boolean.optional(),
  REGISTRY_GRAPHQL_JIT: boolean.default(true),
  REGISTRY_CONSOLE: boolean.default(true),
  REGISTRY_TOKEN_ISSUER: z.string().optional(),
  REGISTRY_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  REGISTRY_REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(365 * 86_400).default(30 * 86_400),
  REGISTRY_SIGNING_KEYS: z.string().min(2).optional(),
  REGISTRY_MASTER_KEY: z.string().min(40).optional(),
  /** Private Ed25519 JWKs (JSON array, the first signs) for signed tool calls; unset: derived from the master key. */
  REGISTRY_REQUEST_SIGNING_KEYS: z.string().min(2).optional(),
  REGISTRY_PREVIOUS_MASTER_KEYS: z.string().min(40).optional(),
  REGISTRY_BOOTSTRAP_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._:-]{3,128}$/, 'must be 3 to 128 letters, digits or ._:-').optional(),
  REGISTRY_BOOTSTRAP_CLIENT_SECRET: z.string().min(24, 'must be at least 24 characters').max(256).optional(),
  OIDC_ISSUER: z.string().min(1).optional(),
  OIDC_JWKS_URL: z.string().url().optional(),
  OIDC_AUDIENCE: z.string().min(1).optional(),
  OIDC_SCOPE_CLAIM: z.string().min(1).default('scope'),
  /** The registry's client id at the identity provider: enables "Sign in with <issuer>" on the sign-in page. */
  OIDC_CLIENT_ID: z.string().min(1).max(256).optional(),
  /** Its secret (client_secret_basic); unset: a public client (PKCE S256 is used either way). */
  OIDC_CLIENT_SECRET: z.string().min(1).max(1024).optional(),
  REGISTRY_ADMIN_MFA: z.enum(['required', 'off']).default('off'),
  REGISTRY_OAUTH_MAX_CLIENTS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  REGISTRY_OAUTH_REGISTRATIONS_PER_HOUR: z.coerce.number().int().min(1).max(100_000).default(20),
  REGISTRY_OAUTH_UNUSED_CLIENT_TTL_SECONDS: z.coerce.number().int().min(60).max(365 * 86_400).default(86_400),
  REGISTRY_MAX_DEPTH: z.coerce.number().int().min(1).max(100).default(10),
  REGISTRY_MAX_COST: z.coerce.number().int().min(1).max(10_000_000).default(5000),
  REGISTRY_MAX_ALIASES: z.coerce.number().int().min(0).max(1000).default(15),
  REGISTRY_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(1000).default(5),
  REGISTRY_MAX_TOKENS: z.coerce.number().int().min(10).max(1_000_000).default(2000),
  REGISTRY_EGRESS_ALLOW: z.string().optional(),
  REGISTRY_CLI_ALLOW: z.string().optional(),
  REGISTRY_FILE_ROOT: z.string().min(1).optional(),
  REGISTRY_DISCOVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  REGISTRY_DISCOVERY_MAX_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(32 * 1024 * 1024),
  REGISTRY_OPENAPI_MAX_OPERATIONS: z.coerce.number().int().min(1).max(5000).default(5000),
  REGISTRY_REFRESH_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(30 * 86_400).default(3600),
  REGISTRY_EXECUTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  REGISTRY_EXECUTION_MAX_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(300_000),
  REGISTRY_EXECUTION_MAX_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
  REGISTRY_EXECUTION_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  REGISTRY_TRUSTED_PROXIES: z.string().optional(),
  REGISTRY_COST_BUDGET_PER_HOUR: z.coerce.number().int().min(1).max(1_000_000_000).default(10_000),
  REGISTRY_AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(10),
  REGISTRY_AUTH_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(50),
  REGISTRY_AUTH_FAILURES_PER_CLIENT: z.coerce.number().int().min(1).max(1_000_000).default(100),
  REGISTRY_AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  REGISTRY_AUTH_MAX_CONCURRENT_VERIFICATIONS: z.coerce.number().int().min(1).max(64).default(2),
  REGISTRY_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  REGISTRY_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  REGISTRY_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  REGISTRY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(1_000_000).default(256),
  REGISTRY_ALERT_WEBHOOK_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v), { message: 'must be an http(s) URL' })
    .optional(),
  REGISTRY_ALERT_WEBHOOK_SECRET: z.string().min(32, 'must be at least 32 characters').max(512).optional(),
  REGISTRY_ALERT_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  TLS_CA_FILE: z.string().min(1).optional(),
  TLS_MIN_VERSION: z.enum(['TLSv1.2', 'TLSv1.3'], { error: 'must be TLSv1.3 (the default) or TLSv1.2; older versions are not accepted' }).optional(),
  REGISTRY_PLAINTEXT_ALLOW: z.string().optional(),
  REGISTRY_CA_FILE: z.string().min(1).optional(),
  NODE_TLS_REJECT_UNAUTHORIZED: z.string().optional(),
  REGISTRY_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  REGISTRY_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  REGISTRY_METRICS_OPERATIONS: z.string().optional(),
  REGISTRY_METRICS_MAX_TOOLS: z.coerce.number().int().min(0).max(10_000).default(200),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().url().optional(),
  OTEL_SDK_DISABLED: boolean.optional(),
  OTEL_TRACES_EXPORTER: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('tool-registry'),
  REGISTRY_WORKERS: z.coerce.number().int('must be a whole number of processes').min(1, 'must be at least 1').max(256, 'must be at most 256').optional(),
});

/** Raised when the environment does not describe a valid configuration; lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment into a {@link Config}. The only place that reads environment variables.
 * Throws {@link ConfigError} naming every invalid or conflicting variable at once.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as most deployment tools write them for blank values.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  if (parsed.success) {
    const e = parsed.data;
    if (e.DATABASE_URL && e.REGISTRY_DATA_DIR) {
      problems.push('REGISTRY_DATA_DIR: only applies to the embedded database; unset it or DATABASE_URL');
    }
    // Replicas on a shared database must share their keys, so a server deployment brings its own.
    if (e.DATABASE_URL && !e.REGISTRY_SIGNING_KEYS) {
      problems.push('REGISTRY_SIGNING_KEYS: required with DATABASE_URL (generate one with `npm run keys:generate`)');
    }
    if (e.DATABASE_URL && !e.REGISTRY_MASTER_KEY) {
      problems.push('REGISTRY_MASTER_KEY: required with DATABASE_URL (generate one with `npm run keys:generate`)');
    }
    if (Boolean(e.REGISTRY_BOOTSTRAP_CLIENT_ID) !== Boolean(e.REGISTRY_BOOTSTRAP_CLIENT_SECRET)) {
      problems.push('REGISTRY_BOOTSTRAP_CLIENT_ID and REGISTRY_BOOTSTRAP_CLIENT_SECRET: set both or neither');
    }
    try {
      parseEgressAllowList(e.REGISTRY_EGRESS_ALLOW);
    } catch (error) {
      problems.push(`REGISTRY_EGRESS_ALLOW: ${(error as Error).message}`);
    }
    if (e.REGISTRY_EXECUTION_TIMEOUT_MS > e.REGISTRY_EXECUTION_MAX_TIMEOUT_MS) {
      problems.push('REGISTRY_EXECUTION_TIMEOUT_MS: must not exceed REGISTRY_EXECUTION_MAX_TIMEOUT_MS');
    }
    for (const proxy of splitList(e.REGISTRY_TRUSTED_PROXIES)) {
      if (!parseCidr(proxy)) problems.push(`REGISTRY_TRUSTED_PROXIES: "${proxy}" is not an IP address or CIDR`);
    }
    if (e.REGISTRY_PREVIOUS_MASTER_KEYS && !e.REGISTRY_MASTER_KEY) {
      problems.push('REGISTRY_PREVIOUS_MASTER_KEYS: only with REGISTRY_MASTER_KEY (the key to rotate to)');
    }
    // One issuer everywhere: the tokens' `iss` is the OAuth metadata's `issuer`, the registry's origin.
    if (e.REGISTRY_TOKEN_ISSUER) {
      problems.push('REGISTRY_TOKEN_ISSUER: no longer read; the issuer is REGISTRY_PUBLIC_URL (else the listen origin)');
    }
    if (e.REGISTRY_REQUEST_TIMEOUT_MS > 0 && e.REGISTRY_HEADERS_TIMEOUT_MS > e.REGISTRY_REQUEST_TIMEOUT_MS) {
      problems.push('REGISTRY_HEADERS_TIMEOUT_MS: must not exceed REGISTRY_REQUEST_TIMEOUT_MS');
    }
    if (Boolean(e.OIDC_ISSUER) !== Boolean(e.OIDC_JWKS_URL)) {
      problems.push('OIDC_ISSUER and OIDC_JWKS_URL: set both or neither');
    }
    if ((e.OIDC_CLIENT_ID || e.OIDC_CLIENT_SECRET) && !e.OIDC_ISSUER) problems.push('OIDC_CLIENT_ID: needs OIDC_ISSUER and OIDC_JWKS_URL (the provider to sign in with)');
    if (e.OIDC_CLIENT_SECRET && !e.OIDC_CLIENT_ID) problems.push('OIDC_CLIENT_SECRET: needs OIDC_CLIENT_ID');
    if (Boolean(e.REGISTRY_ALERT_WEBHOOK_URL) !== Boolean(e.REGISTRY_ALERT_WEBHOOK_SECRET)) {
      problems.push('REGISTRY_ALERT_WEBHOOK_URL and REGISTRY_ALERT_WEBHOOK_SECRET: set both or neither (deliveries are signed)');
    }
    if (Boolean(e.TLS_CERT_FILE) !== Boolean(e.TLS_KEY_FILE)) {
      problems.push('TLS_CERT_FILE and TLS_KEY_FILE: set both (to serve HTTPS) or neither (plain HTTP, e.g. behind a TLS-terminating proxy)');
    }
    if (!e.TLS_CERT_FILE && e.TLS_CA_FILE) problems.push('TLS_CA_FILE: only applies when serving TLS (set TLS_CERT_FILE and TLS_KEY_FILE)');
    if (!e.TLS_CERT_FILE && e.TLS_MIN_VERSION) problems.push('TLS_MIN_VERSION: only applies when serving TLS (set TLS_CERT_FILE and TLS_KEY_FILE)');
    for (const host of splitList(e.REGISTRY_PLAINTEXT_ALLOW)) {
      if (!plaintextHost(host)) problems.push(`REGISTRY_PLAINTEXT_ALLOW: "${host}" is not a host name or IP address`);
    }
    // The identity provider's keys come over TLS in production too, unless its host is allowed plain text.
    const jwks = e.OIDC_JWKS_URL ? URL.parse(e.OIDC_JWKS_URL) : null;
    if (e.NODE_ENV === 'production' && jwks?.protocol === 'http:' && !splitList(e.REGISTRY_PLAINTEXT_ALLOW).map(plaintextHost).includes(jwks.hostname.replace(/^\[|\]$/g, ''))) {
      problems.push('OIDC_JWKS_URL: must be https:// in production (or its host listed in REGISTRY_PLAINTEXT_ALLOW)');
    }
    // Outbound certificates are always verified in production: Node's switch to turn that off is refused.
    if (e.NODE_ENV === 'production' && e.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
      problems.push('NODE_TLS_REJECT_UNAUTHORIZED: "0" turns off certificate validation and is refused in production; trust a private CA with REGISTRY_CA_FILE instead');
    }
    // Workers are replicas on one port: they need the database and the counters replicas share.
    if (e.REGISTRY_WORKERS !== undefined && e.REGISTRY_WORKERS > 1) {
      if (!e.DATABASE_URL) {
        problems.push('REGISTRY_WORKERS: more than 1 needs DATABASE_URL (the embedded database belongs to one process); set it to 1 or use PostgreSQL');
      }
      if (!e.REDIS_URL) {
        problems.push('REGISTRY_WORKERS: more than 1 needs REDIS_URL (without it each worker keeps its own rate limits, budgets and cache invalidations); set it to 1 or configure Redis');
      }
    }
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    database: e.DATABASE_URL
      ? { kind: 'postgresql', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, preparedStatements: e.DATABASE_PREPARED_STATEMENTS, poolIdleSeconds: e.DATABASE_POOL_IDLE_SECONDS }
      : { kind: 'pglite', dataDir: e.REGISTRY_DATA_DIR && join(e.REGISTRY_DATA_DIR, 'pglite') },
    dataDir: e.REGISTRY_DATA_DIR,
    redisUrl: e.REDIS_URL,
    // The example catalog is for the embedded quick start; a PostgreSQL deployment opts in.
    seed: e.REGISTRY_SEED ?? (e.DATABASE_URL ? 'none' : 'bundled'),
    bodyLimitBytes: e.REGISTRY_BODY_LIMIT_BYTES,
    shutdownGraceMs: e.REGISTRY_SHUTDOWN_GRACE_MS,
    subscriptionRecheckMs: e.REGISTRY_SUBSCRIPTION_RECHECK_SECONDS * 1000,
    publicUrl: e.REGISTRY_PUBLIC_URL,
    catalogCache: { maxBytes: e.REGISTRY_CATALOG_CACHE_MB * 1024 * 1024, ttlMs: e.REGISTRY_CATALOG_CACHE_TTL_SECONDS * 1000 },
    introspection: e.REGISTRY_INTROSPECTION ?? e.NODE_ENV !== 'production',
    federationTraces: e.REGISTRY_FEDERATION_TRACES ?? e.NODE_ENV !== 'production',
    graphqlJit: e.REGISTRY_GRAPHQL_JIT,
    console: e.REGISTRY_CONSOLE,
    masterKey: e.REGISTRY_MASTER_KEY,
    requestSigningKeys: e.REGISTRY_REQUEST_SIGNING_KEYS,
    previousMasterKeys: e.REGISTRY_PREVIOUS_MASTER_KEYS?.split(',').map((k) => k.trim()).filter(Boolean) ?? [],
    auditCheckpointSeconds: e.REGISTRY_AUDIT_CHECKPOINT_SECONDS,
    // One per core in a production deployment that can share state between them; else one.
    workers: e.REGISTRY_WORKERS ?? (e.NODE_ENV === 'production' && e.DATABASE_URL && e.REDIS_URL ? availableParallelism() : 1),
    tls:
      e.TLS_CERT_FILE && e.TLS_KEY_FILE
        ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE, caFile: e.TLS_CA_FILE, minVersion: e.TLS_MIN_VERSION ?? 'TLSv1.3' }
        : undefined,
    egressTransport: {
      plaintextAllow: e.NODE_ENV === 'production' ? splitList(e.REGISTRY_PLAINTEXT_ALLOW).map((h) => plaintextHost(h)!) : undefined,
      caFile: e.REGISTRY_CA_FILE,
    },
    metrics: { port: e.REGISTRY_METRICS_PORT, host: e.REGISTRY_METRICS_HOST, operations: splitList(e.REGISTRY_METRICS_OPERATIONS), maxToolLabels: e.REGISTRY_METRICS_MAX_TOOLS },
    tracing: {
      enabled: Boolean(e.OTEL_EXPORTER_OTLP_ENDPOINT ?? e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && !e.OTEL_SDK_DISABLED && e.OTEL_TRACES_EXPORTER !== 'none',
      // The signal-specific URL as given; the general one with the traces path appended (the OTLP spec's rule).
      tracesUrl: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces` : undefined),
      serviceName: e.OTEL_SERVICE_NAME,
    },
    auth: {
      accessTokenTtlSeconds: e.REGISTRY_ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REGISTRY_REFRESH_TOKEN_TTL_SECONDS,
      cacheTtlSeconds: e.REGISTRY_AUTH_CACHE_TTL_SECONDS,
      signingKeys: e.REGISTRY_SIGNING_KEYS,
      bootstrap:
        e.REGISTRY_BOOTSTRAP_CLIENT_ID && e.REGISTRY_BOOTSTRAP_CLIENT_SECRET
          ? { clientId: e.REGISTRY_BOOTSTRAP_CLIENT_ID, clientSecret: e.REGISTRY_BOOTSTRAP_CLIENT_SECRET }
          : undefined,
      oidc:
        e.OIDC_ISSUER && e.OIDC_JWKS_URL
          ? { issuer: e.OIDC_ISSUER, jwksUrl: e.OIDC_JWKS_URL, audience: e.OIDC_AUDIENCE, scopeClaim: e.OIDC_SCOPE_CLAIM }
          : undefined,
    },
    oauth: {
      adminMfa: e.REGISTRY_ADMIN_MFA,
      oidcLogin:
        e.OIDC_ISSUER && e.OIDC_JWKS_URL && e.OIDC_CLIENT_ID
          ? { issuer: e.OIDC_ISSUER, jwksUrl: e.OIDC_JWKS_URL, clientId: e.OIDC_CLIENT_ID, clientSecret: e.OIDC_CLIENT_SECRET, scopeClaim: e.OIDC_SCOPE_CLAIM }
          : undefined,
      maxClients: e.REGISTRY_OAUTH_MAX_CLIENTS,
      registrationsPerHour: e.REGISTRY_OAUTH_REGISTRATIONS_PER_HOUR,
      unusedClientTtlSeconds: e.REGISTRY_OAUTH_UNUSED_CLIENT_TTL_SECONDS,
    },
    execution: {
      defaultTimeoutMs: e.REGISTRY_EXECUTION_TIMEOUT_MS,
      maxTimeoutMs: e.REGISTRY_EXECUTION_MAX_TIMEOUT_MS,
      maxResponseBytes: e.REGISTRY_EXECUTION_MAX_BYTES,
      leaseSeconds: e.REGISTRY_EXECUTION_LEASE_SECONDS,
    },
    trustedProxies: splitList(e.REGISTRY_TRUSTED_PROXIES),
    authThrottle: {
      failuresPerClientAddress: e.REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS,
      failuresPerAddress: e.REGISTRY_AUTH_FAILURES_PER_ADDRESS,
      failuresPerClient: e.REGISTRY_AUTH_FAILURES_PER_CLIENT,
      windowSeconds: e.REGISTRY_AUTH_FAILURE_WINDOW_SECONDS,
      maxConcurrentVerifications: e.REGISTRY_AUTH_MAX_CONCURRENT_VERIFICATIONS,
    },
    alerts: {
      webhookUrl: e.REGISTRY_ALERT_WEBHOOK_URL,
      webhookSecret: e.REGISTRY_ALERT_WEBHOOK_SECRET,
      webhookRetryBaseMs: e.REGISTRY_ALERT_WEBHOOK_RETRY_BASE_MS,
    },
    connections: {
      headersTimeoutMs: e.REGISTRY_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.REGISTRY_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: e.REGISTRY_IDLE_TIMEOUT_MS,
      maxPerAddress: e.REGISTRY_MAX_CONNECTIONS_PER_ADDRESS,
    },
    discovery: {
      egressAllow: e.REGISTRY_EGRESS_ALLOW,
      cliAllow: e.REGISTRY_CLI_ALLOW?.split(',').map((c) => c.trim()).filter(Boolean) ?? [],
      fileRoot: e.REGISTRY_FILE_ROOT,
      timeoutMs: e.REGISTRY_DISCOVERY_TIMEOUT_MS,
      maxBytes: e.REGISTRY_DISCOVERY_MAX_BYTES,
      openApiMaxOperations: e.REGISTRY_OPENAPI_MAX_OPERATIONS,
      refreshIntervalSeconds: e.REGISTRY_REFRESH_INTERVAL_SECONDS,
    },
    limits: {
      maxDepth: e.REGISTRY_MAX_DEPTH,
      maxCost: e.REGISTRY_MAX_COST,
      maxAliases: e.REGISTRY_MAX_ALIASES,
      maxDirectives: e.REGISTRY_MAX_DIRECTIVES,
      maxTokens: e.REGISTRY_MAX_TOKENS,
      costBudgetPerHour: e.REGISTRY_COST_BUDGET_PER_HOUR,
    },
  };
}
