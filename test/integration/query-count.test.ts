import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

const PAGE = `query Page($first: Int, $search: String) {
  tools(first: $first, filter: { search: $search }) {
    edges { node { name tags provider { id name status } } }
    pageInfo { hasNextPage }
  }
}`;

/** Statements a GraphQL request ran (reads, with or without CTEs), without transaction bookkeeping. */
async function statementsFor(variables: Record<string, unknown>): Promise<string[]> {
  registry.resetQueryLog();
  const res = await registry.graphql<{ tools: { edges: unknown[] } }>(PAGE, variables);
  expect(res.errors).toBeUndefined();
  return registry.queries.filter((sql) => /^\s*(select|with)\b/i.test(sql));
}

beforeAll(async () => {
  // Token holders and policies stay cached for the whole file, however slow the machine.
  registry = await startRegistry({ env: { REGISTRY_AUTH_CACHE_TTL_SECONDS: '300' } });
  const tools = new ToolService(registry.db.fork());
  for (let p = 0; p < 12; p += 1) {
    const entries = Array.from({ length: 12 }, (_, t) =>
      manualTool({ name: `tool_${t}`, description: `Tool ${t} of provider ${p}, about widgets.`, tags: [`group${t % 3}`] }),
    );
    await tools.importManual(`provider_${p}`, manual(entries), INLINE_MANUAL);
  }
});

afterAll(() => registry?.close());

describe('listing tools with their providers', () => {
  it('runs the same small number of queries for 100 tools from 12 providers as for 5', async () => {
    // The caller's token holder and the policies are read once, then held by the process.
    await statementsFor({ first: 1 });
    const large = await statementsFor({ first: 100 });
    const small = await statementsFor({ first: 5 });
    // One query reads the page of tools with their providers.
    expect(large).toHaveLength(1);
    expect(small).toHaveLength(large.length);
  });

  it('loads the versions of a page of tools in one more query', async () => {
    registry.resetQueryLog();
    const res = await registry.graphql<{ tools: { edges: { node: { versions: { version: number }[] } }[] } }>(
      '{ tools(first: 100) { edges { node { name versions { version status } } } } }',
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.tools.edges.every((e) => e.node.versions.length === 1)).toBe(true);
    expect(registry.queries.filter((sql) => /^\s*select/i.test(sql))).toHaveLength(2);
  });

  it('stays bounded when searching', async () => {
    // The ranked search is one statement, its typo fallback (`provder` finds the providers' tools) included.
    const statements = await statementsFor({ first: 100, search: 'widgets' });
    expect(statements).toHaveLength(1);
    const typo = await statementsFor({ first: 100, search: 'provder' });
    expect(typo).toHaveLength(statements.length);
  });

  it('reads the providers of a page in the query of the page, never in one of their own', async () => {
    // A page size no other case asks for, so the catalog cache cannot answer it.
    const statements = await statementsFor({ first: 37 });
    const page = statements.filter((sql) => /\bfrom\s+"?tool"?\s+"?t"?\b/i.test(sql));
    expect(page).toHaveLength(1);
    expect(page[0]).toMatch(/join\s+"?provider"?\s+"?p"?\s+on/i);
    expect(statements.filter((sql) => /^\s*select\b[^]*\bfrom\s+"?provider"?(?:\s+as)?\s+"?p\d*"?\s+where\s+"?p\d*"?\."?id"?\s+in/i.test(sql))).toHaveLength(0);
  });
});

describe('authenticated requests of a warm process', () => {
  const FIFTY = `{ tools(first: 50) { edges { node { name } } } }`;
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  /** The answer to `tools(first: 50)` with `token`, and every statement it ran. */
  async function fifty(token: string) {
    registry.resetQueryLog();
    const res = await registry.graphql<{ tools: { edges: { node: { name: string } }[] } }>(FIFTY, undefined, as(token));
    return { res, statements: [...registry.queries] };
  }

  it('answers a repeated tools(first: 50) with the same token without any SQL', async () => {
    const token = (await registry.tokenFor(await registry.createClient({ roles: ['viewer'] }))).access_token;
    const first = await fifty(token);
    expect(first.res.errors).toBeUndefined();
    expect(first.res.data!.tools.edges).toHaveLength(50);
    const again = await fifty(token);
    expect(again.res.data).toEqual(first.res.data);
    expect(again.statements).toEqual([]);
  });

  it('refuses the next request once the tokens are revoked', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    await fifty(token);
    expect((await fifty(token)).statements).toEqual([]);
    const revoke = await registry.graphql<{ revokeTokens: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { userErrors { message } } }',
      { id: client.principalId },
      as(registry.adminToken),
    );
    expect(revoke.data!.revokeTokens.userErrors).toEqual([]);
    const refused = await fifty(token);
    expect(refused.res.status).toBe(401);
    expect(refused.res.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('refuses the next request once the principal is disabled', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    await fifty(token);
    expect((await fifty(token)).statements).toEqual([]);
    const disabled = await registry.graphql<{ setPrincipalStatus: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { setPrincipalStatus(input: { principalId: $id, status: DISABLED }) { userErrors { message } } }',
      { id: client.principalId },
      as(registry.adminToken),
    );
    expect(disabled.data!.setPrincipalStatus.userErrors).toEqual([]);
    const refused = await fifty(token);
    expect(refused.res.status).toBe(401);
    expect(refused.res.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('follows a policy change at once', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    await fifty(token);
    expect((await fifty(token)).res.data!.tools.edges).toHaveLength(50);
    const policy = {
      name: `deny ${client.principalId}`,
      effect: 'DENY',
      priority: 1000,
      actions: ['READ'],
      subjects: { principals: [client.principalId] },
      resources: { providers: ['provider_0'] },
    };
    const created = await registry.graphql<{ createPolicy: { policy: { id: string } } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }',
      { input: policy },
      as(registry.adminToken),
    );
    const denied = await fifty(token);
    expect(denied.res.data!.tools.edges.length).toBeGreaterThan(0);
    expect(denied.res.data!.tools.edges.some((e) => e.node.name.startsWith('provider_0.'))).toBe(false);
    expect((await fifty(token)).statements).toEqual([]);

    await registry.graphql(
      'mutation($id: ID!, $policy: PolicyInput!) { updatePolicy(input: { id: $id, policy: $policy }) { userErrors { message } } }',
      { id: created.data!.createPolicy.policy.id, policy: { ...policy, active: false } },
      as(registry.adminToken),
    );
    const allowed = await fifty(token);
    expect(allowed.res.data!.tools.edges.some((e) => e.node.name.startsWith('provider_0.'))).toBe(true);
  });
});
