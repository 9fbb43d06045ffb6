import { type AddressInfo } from 'node:net';
import { buildApp } from '../../src/http/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { ensureBootstrapAdmin, PrincipalKind, PrincipalService } from '../../src/modules/principal/index.js';
import { buildRegistrySchema } from '../../src/schema.js';
import { createSecurity, type Security } from '../../src/security/index.js';
import { seedCatalog } from '../../src/seed/seed.js';
import { createTestDatabase, sharedTestDatabase } from './database.js';
import { operation } from './operations.js';

/** A GraphQL response as the registry sends it. */
export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [k: string]: unknown } }[];
  extensions?: Record<string, unknown>;
  headers: Headers;
}

/** An OAuth token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** Client credentials of a principal created for a test. */
export interface TestClient {
  principalId: string;
  clientId: string;
  clientSecret: string;
}

export const BOOTSTRAP = { clientId: 'test-admin', clientSecret: 'test-admin-secret-0123456789abcdef' };

/** A registry running in this process on a real port, over a real database. */
export interface TestRegistry {
  url: string;
  db: Database;
  config: Config;
  security: Security;
  /** A `viewer` token (tools:read), sent by {@link graphql} unless the headers say otherwise. */
  viewerToken: string;
  /** A token of the bootstrap admin. */
  adminToken: string;
  /** SQL statements run since the last {@link TestRegistry.resetQueryLog}. */
  queries: string[];
  resetQueryLog(): void;
  /** POSTs a GraphQL request; pass `{ authorization: '' }` to send it without a token. */
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
  /** Runs a named operation of test/operations; its types come from test/generated/graphql.ts. */
  op<TData, TVariables extends Record<string, unknown> = Record<string, never>>(
    name: string,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<TData>>;
  /** Creates a principal with these roles/scopes (through the service) and returns its credentials. */
  createClient(grants: { roles?: string[]; scopes?: string[]; name?: string }): Promise<TestClient>;
  /** POSTs to /oauth/token as a form, as OAuth clients do. */
  oauth(form: Record<string, string>, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  /** An access token for these client credentials (client_credentials grant). */
  tokenFor(client: Pick<TestClient, 'clientId' | 'clientSecret'>, scope?: string): Promise<TokenResponse>;
  /** A token for a new principal with these roles/scopes. */
  login(grants: { roles?: string[]; scopes?: string[] }): Promise<string>;
  close(): Promise<void>;
}

export interface StartOptions {
  seed?: boolean;
  /** Receives every log line (JSON) the registry writes. */
  logStream?: NodeJS.WritableStream;
  /** Extra environment for {@link loadConfig}, e.g. `NODE_ENV`. */
  env?: Record<string, string>;
  /**
   * Runs on this registry's database instead of a new one, like a second replica (PostgreSQL only);
   * closing this registry leaves the database in place.
   */
  shareDatabaseWith?: TestRegistry;
  /** A PostgreSQL server to create the test database on instead of `TEST_DATABASE_URL`'s (a private one, for fault tests). */
  databaseServerUrl?: string;
  /** Redis to use instead of `TEST_REDIS_URL`'s. */
  redisUrl?: string;
  /** The security monitor's clock (ms since the epoch), to drive alert windows and hours of the day. */
  alertClock?: () => number;
}

/**
 * Starts the registry on 127.0.0.1 with an ephemeral port, its own test database (or the one of
 * `shareDatabaseWith`) and a bootstrap admin.
 */
export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const testDb = options.shareDatabaseWith
    ? sharedTestDatabase(options.shareDatabaseWith.config.database)
    : await createTestDatabase(options.databaseServerUrl ?? process.env.TEST_DATABASE_URL);
  const config = {
    // A generous budget: tests that are about budgets set a principal's own.
    ...loadConfig({
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      REGISTRY_COST_BUDGET_PER_HOUR: '100000000',
      // Replicas of one deployment share its public URL, hence one token issuer.
      ...(options.shareDatabaseWith ? { REGISTRY_PUBLIC_URL: options.shareDatabaseWith.security.tokens.issuer } : {}),
      ...options.env,
    }),
    database: testDb.config,
    redisUrl: options.redisUrl ?? process.env.TEST_REDIS_URL,
  };
  const queries: string[] = [];
  const db = await openDatabase(testDb.config, { onQuery: (sql) => queries.push(sql) });
  const logger = createLogger(config.logLevel, options.logStream);
  if (options.seed) await seedCatalog(db, logger);
  await ensureBootstrapAdmin(db.fork(), BOOTSTRAP);
  const security = await createSecurity(config, logger);
  const app = await buildApp({ config, db, logger, security, schema: await buildRegistrySchema(), alertClock: options.alertClock });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  let viewerToken = '';
  async function graphql<T>(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewerToken}`, ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
    return { ...body, status: response.status, headers: response.headers };
  }
  async function oauth(form: Record<string, string>, headers: Record<string, string> = {}) {
    const response = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }
  async function tokenFor(client: Pick<TestClient, 'clientId' | 'clientSecret'>, scope?: string) {
    const res = await oauth({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      ...(scope === undefined ? {} : { scope }),
    });
    if (res.status !== 200) throw new Error(`token request failed: ${JSON.stringify(res.body)}`);
    return res.body as unknown as TokenResponse;
  }
  async function createClient(grants: { roles?: string[]; scopes?: string[]; name?: string }): Promise<TestClient> {
    const { principal, clientSecret } = await new PrincipalService(db.fork()).create({
      name: grants.name ?? 'test client',
      kind: PrincipalKind.AGENT,
      roles: grants.roles,
      scopes: grants.scopes,
    });
    return { principalId: principal.id, clientId: principal.clientId!, clientSecret };
  }
  async function login(grants: { roles?: string[]; scopes?: string[] }) {
    return (await tokenFor(await createClient(grants))).access_token;
  }

  viewerToken = await login({ roles: ['viewer'] });
  const adminToken = (await tokenFor(BOOTSTRAP)).access_token;
  return {
    url,
    db,
    config,
    security,
    viewerToken,
    adminToken,
    queries,
    resetQueryLog: () => queries.splice(0, queries.length),
    graphql,
    op: (name, variables, headers) => graphql(operation(name), variables, headers),
    createClient,
    oauth,
    tokenFor,
    login,
    async close() {
      await app.close();
      await security.close();
      await db.close();
      await testDb.drop();
    },
  };
}
