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
    // The ranked search is one statement; a search with a word no tool has one more, the search
    // with the word corrected (`provder` finds the providers' tools as `provider`).
    const statements = await statementsFor({ first: 100, search: 'widgets' });
    expect(statements).toHaveLength(1);
    const typo = await statementsFor({ first: 100, search: 'provder' });
    expect(typo).toHaveLength(2);
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
    // The catalog cache keeps the answer from the request's second time on.
    await fifty(token);
    const again = await fifty(token);
    expect(again.res.data).toEqual(first.res.data);
    expect(again.statements).toEqual([]);
  });

  it('refuses the next request once the tokens are revoked', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    await fifty(token);
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

describe('executing a tool', () => {
  const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status result error { code } attempts idempotencyKey } }`;
  let agent: string;
  /** BEGIN and COMMIT (or ROLLBACK) seen since the last count. */
  const transactions: string[] = [];

  beforeAll(async () => {
    const content = JSON.stringify({ ok: true });
    const tools = [
      manualTool({ name: 'echo', tool_call_template: { call_template_type: 'text', content } }),
      manualTool({ name: 'forbidden', tool_call_template: { call_template_type: 'text', content } }),
      manualTool({ name: 'unread', tool_call_template: { call_template_type: 'text', content } }),
      manualTool({ name: 'keyed', tool_call_template: { call_template_type: 'text', content } }),
    ];
    await new ToolService(registry.db.fork()).importManual('counted', manual(tools), INLINE_MANUAL);
    const policyAdmin = await registry.login({ roles: ['policy_admin'] });
    const created = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
      { input: { name: 'deny-counted-forbidden', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['counted.forbidden'] }, subjects: { roles: ['agent'] } } },
      { authorization: `Bearer ${policyAdmin}` },
    );
    expect(created.data!.createPolicy.userErrors).toEqual([]);
    registry.db.fork().getEventManager().registerSubscriber({
      afterTransactionStart: () => void transactions.push('BEGIN'),
      afterTransactionCommit: () => void transactions.push('COMMIT'),
      afterTransactionRollback: () => void transactions.push('ROLLBACK'),
    });
    agent = await registry.login({ roles: ['agent'] });
    // A first call warms what a process loads once.
    await executeCounted({ tool: 'counted.echo', arguments: {} });
  });

  /**
   * Statements on the wire of one executeTool request, BEGIN and COMMIT included (the ORM's query
   * log does not show them: its transaction events count them). The caller's token holder and the
   * policy set come from the process's caches, warmed by the first call.
   */
  async function executeCounted(input: Record<string, unknown>): Promise<{ execution: { status: string; result: unknown; error: { code: string } | null; attempts: number }; statements: string[] }> {
    registry.resetQueryLog();
    transactions.splice(0);
    const res = await registry.graphql<{ executeTool: { status: string; result: unknown; error: { code: string } | null; attempts: number } }>(EXECUTE, { input }, { authorization: `Bearer ${agent}` });
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    const statements = [...transactions, ...registry.queries];
    return { execution: res.data!.executeTool, statements };
  }

  /** The first words of each statement. */
  const heads = (statements: string[]) => statements.map((sql) => sql.trim().split(/\s+/).slice(0, 3).join(' '));

  it('runs a successful synchronous call of a tool it has not read yet in 3 statements', async () => {
    const { execution, statements } = await executeCounted({ tool: 'counted.unread', arguments: {} });
    expect(execution).toMatchObject({ status: 'SUCCEEDED', result: { ok: true }, attempts: 1 });
    // The tool with its provider, credentials and variables; the claim (stored running); the finish with its audit entry.
    expect(statements.length, statements.join('\n')).toBe(3);
    expect(statements[0]).toMatch(/^select [\s\S]+ from tool t join provider pr/);
    expect(heads(statements.slice(1))).toEqual(['insert into execution', 'with fin as']);
  });

  it('runs a successful synchronous call of a tool it remembers in 2 statements', async () => {
    // The warm-up call read counted.echo: the claim checks that it is unchanged instead of reading it.
    const { execution, statements } = await executeCounted({ tool: 'counted.echo', arguments: {} });
    expect(execution).toMatchObject({ status: 'SUCCEEDED', result: { ok: true }, attempts: 1 });
    expect(heads(statements), statements.join('\n')).toEqual(['insert into execution', 'with fin as']);
    expect(statements[0]).toContain('where exists (select 1 from tool t join provider pr');
  });

  it('stores a denial in one statement after the tool read, and in one alone once the tool is remembered', async () => {
    const first = await executeCounted({ tool: 'counted.forbidden', arguments: {} });
    expect(first.execution).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' } });
    // The tool read, then the refusal stored with its audit entry.
    expect(first.statements.length, first.statements.join('\n')).toBe(2);
    const again = await executeCounted({ tool: 'counted.forbidden', arguments: {} });
    expect(again.execution).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' } });
    expect(again.statements.length, again.statements.join('\n')).toBe(1);
  });

  it('answers an idempotent replay with the first call in a bounded number of statements', async () => {
    const first = await executeCounted({ tool: 'counted.keyed', arguments: {}, idempotencyKey: 'counted-1' });
    expect(first.statements.length, first.statements.join('\n')).toBeLessThanOrEqual(4);
    const replay = await executeCounted({ tool: 'counted.keyed', arguments: {}, idempotencyKey: 'counted-1' });
    expect(replay.execution).toEqual(first.execution);
    // A call with a key reads its tool every time (it may be a replay): the tool read, the claim that
    // finds the key taken, and the read of the call it repeats.
    expect(replay.statements.length, replay.statements.join('\n')).toBeLessThanOrEqual(3);
  });
});
