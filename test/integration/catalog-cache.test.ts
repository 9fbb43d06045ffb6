import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const LIST = `query Cached($first: Int) { tools(first: $first, filter: { provider: "cachecat" }) { edges { node { name enabled provider { name } } } } }`;

let registry: TestRegistry;

const as = (token: string) => ({ authorization: `Bearer ${token}` });
type Listing = { tools: { edges: { node: { name: string; enabled: boolean } }[] } };
const names = (data: Listing | null | undefined) => data!.tools.edges.map((e) => e.node.name);

/** POSTs a GraphQL request and returns status, body and the tool-table statements it ran. */
async function post(query: string, variables: Record<string, unknown>, token: string, contentType = 'application/json') {
  registry.resetQueryLog();
  const res = await fetch(`${registry.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...as(token) },
    body: contentType === 'application/json' ? JSON.stringify({ query, variables }) : new URLSearchParams({ query, variables: JSON.stringify(variables) }),
  });
  const body = (await res.json()) as { data?: Listing | null; errors?: { extensions?: Record<string, unknown> }[]; extensions?: { cost?: { remaining: number } } };
  return { status: res.status, body, toolQueries: registry.queries.filter((q) => /\bfrom "?tool"? "?t"?\b/i.test(q)).length };
}

beforeAll(async () => {
  registry = await startRegistry();
  await new ToolService(registry.db.fork()).importManual(
    'cachecat',
    manual([manualTool({ name: 'alpha' }), manualTool({ name: 'beta' }), manualTool({ name: 'secret_gamma' })]),
    INLINE_MANUAL,
  );
});

afterAll(() => registry?.close());

describe('the catalog cache', () => {
  it('answers a catalog read asked for again from the cache with the same data, charging the budget each time', async () => {
    const token = await registry.login({ roles: ['agent'] });
    const first = await post(LIST, { first: 10 }, token);
    expect(first.status).toBe(200);
    expect(first.toolQueries).toBeGreaterThan(0);
    // An answer is kept from its request's second time on: a request seen once is not stored.
    const second = await post(LIST, { first: 10 }, token);
    expect(second.toolQueries).toBeGreaterThan(0);
    const third = await post(LIST, { first: 10 }, token);
    expect(third.status).toBe(200);
    expect(third.body.data).toEqual(first.body.data);
    expect(third.toolQueries).toBe(0);
    expect(third.body.extensions!.cost!.remaining).toBeLessThan(second.body.extensions!.cost!.remaining);
    // Other variables are another request.
    expect((await post(LIST, { first: 1 }, token)).toolQueries).toBeGreaterThan(0);
  });

  it('never serves one principal’s answer to another, and applies a policy change at once', async () => {
    const reader = await registry.createClient({ roles: ['viewer'] });
    const restricted = (await registry.tokenFor(reader)).access_token;
    const other = await registry.login({ roles: ['viewer'] });
    await post(LIST, { first: 10 }, other);
    expect(names((await post(LIST, { first: 10 }, other)).body.data)).toEqual(['cachecat.alpha', 'cachecat.beta', 'cachecat.secret_gamma']);

    await post(LIST, { first: 10 }, restricted);
    const res = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      `mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }`,
      {
        input: {
          name: `hide-${randomUUID().slice(0, 8)}`,
          effect: 'DENY',
          priority: 100,
          actions: ['READ'],
          subjects: { principals: [reader.principalId] },
          resources: { tools: ['cachecat.secret_*'] },
        },
      },
      as(registry.adminToken),
    );
    expect(res.data!.createPolicy.userErrors).toEqual([]);
    expect(names((await post(LIST, { first: 10 }, restricted)).body.data)).toEqual(['cachecat.alpha', 'cachecat.beta']);
    // The other principal still sees its own answer (from the cache).
    const again = await post(LIST, { first: 10 }, other);
    expect(names(again.body.data)).toEqual(['cachecat.alpha', 'cachecat.beta', 'cachecat.secret_gamma']);
  });

  it('drops cached answers when the catalog changes', async () => {
    const token = await registry.login({ roles: ['agent'] });
    await post(LIST, { first: 10 }, token);
    await post(LIST, { first: 10 }, token);
    expect((await post(LIST, { first: 10 }, token)).toolQueries).toBe(0);
    const alpha = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "cachecat.alpha") { id } }', {}, as(registry.adminToken));
    const toggled = await registry.graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
      `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
      { input: { toolId: alpha.data!.tool.id, enabled: false } },
      as(registry.adminToken),
    );
    expect(toggled.data!.setToolEnabled.userErrors).toEqual([]);
    const after = await post(LIST, { first: 10 }, token);
    expect(after.toolQueries).toBeGreaterThan(0);
    expect(after.body.data!.tools.edges.find((e) => e.node.name === 'cachecat.alpha')!.node.enabled).toBe(false);
  });

  it('refuses a revoked token on a cached request, and serves no form-encoded (CSRF-able) request from the cache', async () => {
    const client = await registry.createClient({ roles: ['agent'] });
    const token = (await registry.tokenFor(client)).access_token;
    await post(LIST, { first: 10 }, token);
    await post(LIST, { first: 10 }, token);
    expect((await post(LIST, { first: 10 }, token)).toolQueries).toBe(0);
    const form = await post(LIST, { first: 10 }, token, 'application/x-www-form-urlencoded');
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(form.status).toBeLessThan(500);
    expect(form.body.data ?? null).toBeNull();

    await registry.graphql(`mutation($input: PrincipalIdInput!) { revokeTokens(input: $input) { userErrors { message } } }`, { input: { principalId: client.principalId } }, as(registry.adminToken));
    const revoked = await post(LIST, { first: 10 }, token);
    expect(revoked.status).toBe(401);
    expect(revoked.body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  describe.runIf(SHARED)('across replicas', () => {
    let second: TestRegistry;
    beforeAll(async () => {
      second = await startRegistry({ shareDatabaseWith: registry });
    });
    afterAll(() => second?.close());

    it('drops a replica’s cached answers when the catalog changes on another', async () => {
      const token = await second.login({ roles: ['agent'] });
      const ask = async () => {
        second.resetQueryLog();
        const res = await second.graphql<Listing>(LIST, { first: 10 }, as(token));
        return { data: res.data, toolQueries: second.queries.filter((q) => /\bfrom "?tool"? "?t"?\b/i.test(q)).length };
      };
      await ask();
      await ask();
      expect((await ask()).toolQueries).toBe(0);
      const beta = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "cachecat.beta") { id } }', {}, as(registry.adminToken));
      await registry.graphql(
        `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
        { input: { toolId: beta.data!.tool.id, enabled: false } },
        as(registry.adminToken),
      );
      let seen = await ask();
      for (let i = 0; i < 50 && seen.data!.tools.edges.find((e) => e.node.name === 'cachecat.beta')!.node.enabled; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen = await ask();
      }
      expect(seen.data!.tools.edges.find((e) => e.node.name === 'cachecat.beta')!.node.enabled).toBe(false);
    });

    it('drops what a replica cached before it was cut off from the invalidations of the others', async () => {
      // The third replica reaches Redis through a proxy that can take it away.
      const flaky = await startTcpProxy(process.env.TEST_REDIS_URL!);
      const third = await startRegistry({ shareDatabaseWith: registry, redisUrl: flaky.url });
      try {
        const token = await third.login({ roles: ['agent'] });
        const ask = async () => {
          third.resetQueryLog();
          const res = await third.graphql<Listing>(LIST, { first: 10 }, as(token));
          return { res, toolQueries: third.queries.filter((q) => /\bfrom "?tool"? "?t"?\b/i.test(q)).length };
        };
        await ask();
        await expect.poll(async () => (await ask()).toolQueries).toBe(0);

        // The catalog changes on another replica while this one cannot hear of it.
        flaky.down();
        const alpha = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "cachecat.alpha") { id } }', {}, as(registry.adminToken));
        await registry.graphql(
          `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
          { input: { toolId: alpha.data!.tool.id, enabled: false } },
          as(registry.adminToken),
        );
        flaky.up();

        // Once it answers again, it answers from the database, not from what it cached before.
        let answer = await ask();
        for (let i = 0; i < 100 && answer.res.errors; i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          answer = await ask();
        }
        expect(answer.res.errors).toBeUndefined();
        expect(answer.res.data!.tools.edges.find((e) => e.node.name === 'cachecat.alpha')!.node.enabled).toBe(false);
      } finally {
        await third.close();
        await flaky.close();
      }
    });
  });
});
