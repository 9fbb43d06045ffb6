import { type AddressInfo } from 'node:net';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { buildRegistrySchema } from '../../src/schema.js';
import { seedCatalog } from '../../src/seed/seed.js';
import { createTestDatabase } from './database.js';
import { operation } from './operations.js';

/** A GraphQL response as the registry sends it. */
export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [k: string]: unknown } }[];
  headers: Headers;
}

/** A registry running in this process on a real port, over a real database. */
export interface TestRegistry {
  url: string;
  db: Database;
  config: Config;
  /** SQL statements run since the last {@link TestRegistry.resetQueryLog}. */
  queries: string[];
  resetQueryLog(): void;
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
  /** Runs a named operation of test/operations; its types come from test/generated/graphql.ts. */
  op<TData, TVariables extends Record<string, unknown> = Record<string, never>>(
    name: string,
    variables?: TVariables,
  ): Promise<GraphQLResponse<TData>>;
  close(): Promise<void>;
}

export interface StartOptions {
  seed?: boolean;
  /** Extra environment for {@link loadConfig}, e.g. `NODE_ENV`. */
  env?: Record<string, string>;
}

/** Starts the registry on 127.0.0.1 with an ephemeral port and its own test database. */
export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const testDb = await createTestDatabase();
  const config = { ...loadConfig({ PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...options.env }), database: testDb.config };
  const queries: string[] = [];
  const db = await openDatabase(testDb.config, { onQuery: (sql) => queries.push(sql) });
  const logger = createLogger(config.logLevel);
  if (options.seed) await seedCatalog(db, logger);
  const app = await buildApp({ config, db, logger, schema: await buildRegistrySchema() });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  async function graphql<T>(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
    return { ...body, status: response.status, headers: response.headers };
  }
  return {
    url,
    db,
    config,
    queries,
    resetQueryLog: () => queries.splice(0, queries.length),
    graphql,
    op: (name, variables) => graphql(operation(name), variables),
    async close() {
      await app.close();
      await db.close();
      await testDb.drop();
    },
  };
}
