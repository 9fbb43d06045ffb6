import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

async function post(body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(`${registry.url}/graphql`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as { errors?: { message: string; extensions: { code: string } }[] } };
}

beforeAll(async () => {
  registry = await startRegistry({ env: { REGISTRY_BODY_LIMIT_BYTES: '65536' } });
});

afterAll(() => registry?.close());

describe('the HTTP surface', () => {
  it('answers /healthz while the process runs and /readyz while the database answers', async () => {
    const health = await fetch(`${registry.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${registry.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('returns a request id on every response, keeping a well-formed one the client sent', async () => {
    const mine = await fetch(`${registry.url}/healthz`, { headers: { 'x-request-id': 'trace-42' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-42');
    const hostile = await fetch(`${registry.url}/healthz`, { headers: { 'x-request-id': 'a b;c' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const res = await registry.graphql('{ __typename }');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('marks every GraphQL answer uncacheable (cache-control: no-store), refusals and errors included', async () => {
    for (const query of ['{ __typename }', '{ tools(first: 1) { totalCount } }', '{ tools(first: ', '{ tol { name } }']) {
      const res = await registry.graphql(query);
      expect(res.headers.get('cache-control'), query).toBe('no-store');
    }
  });

  it('answers malformed JSON with a coded 400', async () => {
    const res = await post('{"query": ');
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
  });

  it('answers malformed GraphQL with a parse error and an unknown field without suggestions', async () => {
    const parse = await registry.graphql('{ tools(first: ');
    expect(parse.status).toBe(400);
    expect(parse.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const unknown = await registry.graphql('{ tol { name } }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(unknown.errors?.[0]?.message).not.toMatch(/did you mean/i);
  });

  it('refuses bodies over the configured limit with a coded 413', async () => {
    const res = await post(JSON.stringify({ query: `{ __typename } # ${'x'.repeat(70_000)}` }));
    expect(res.status).toBe(413);
    expect(res.body.errors?.[0]?.extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses batched requests and form posts (CSRF)', async () => {
    const batch = await post(JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(batch.status).toBe(400);
    const form = await post('query=%7B__typename%7D', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(form.status).toBeLessThan(500);
    expect(form.body.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
  });

  it('answers unknown routes with a coded 404', async () => {
    const response = await fetch(`${registry.url}/nope?secret=1`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('NOT_FOUND');
    expect(body.errors[0]!.message).not.toContain('secret');
  });
});

describe('a registry in production mode', () => {
  let production: TestRegistry;
  beforeAll(async () => {
    production = await startRegistry({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => production?.close());

  it('refuses introspection', async () => {
    const res = await production.graphql('{ __schema { types { name } } }');
    expect(res.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

// PGlite lives inside the process and cannot become unreachable; PostgreSQL can.
describe.runIf(process.env.TEST_DATABASE_URL)('readiness against PostgreSQL', () => {
  async function setConnections(allowed: boolean): Promise<void> {
    const { url } = registry.config.database as { url: string };
    const name = new URL(url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`alter database "${name}" allow_connections ${allowed}`);
      if (!allowed) await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
    } finally {
      await admin.end();
    }
  }

  it('reports 503 while the database refuses connections and recovers without a restart', async () => {
    await setConnections(false);
    try {
      const down = await fetch(`${registry.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'unavailable' });
      expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
    } finally {
      await setConnections(true);
    }
    const up = await fetch(`${registry.url}/readyz`);
    expect(up.status).toBe(200);
  });
});
