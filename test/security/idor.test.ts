import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manual, manualTool } from '../helpers/factories.js';
import { type GraphQLResponse, startRegistry, type TestRegistry } from '../helpers/registry.js';

// Insecure direct object references: every way to name another principal's object by its id (or
// a cursor) and get at it. Each attempt is made by a principal that holds the scope the operation
// needs, so only the ownership check stands between it and the object.

let registry: TestRegistry;
let peer: Server;
let peerUrl: string;

const code = (res: GraphQLResponse<unknown>) => res.errors?.[0]?.extensions?.code;
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const cursor = (...key: unknown[]) => Buffer.from(JSON.stringify(key)).toString('base64url');

interface Principal {
  id: string;
  token: string;
}

let alice: Principal; // publisher and agent: owns provider `alices`, made an execution
let mallory: Principal; // publisher and agent: tries to reach Alice's objects
let auditor: Principal;
let providerId: string;
let toolId: string;
let hiddenToolId: string;
let executionId: string;
let policyId: string;
let attempts = 0;

async function principal(roles: string[], scopes: string[] = []): Promise<Principal> {
  const client = await registry.createClient({ roles, scopes });
  return { id: client.principalId, token: (await registry.tokenFor(client)).access_token };
}

/** Runs one IDOR attempt: the answer must not carry the object (the check is the test's). */
async function attempt<T>(who: Principal, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> {
  attempts += 1;
  const res = await registry.graphql<T>(query, variables, as(who.token));
  expect(res.status, JSON.stringify(res.errors)).toBeLessThan(500);
  expect(JSON.stringify(res.errors ?? [])).not.toContain('INTERNAL_SERVER_ERROR');
  return res;
}

beforeAll(async () => {
  peer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify(
        manual([
          manualTool({ name: 'lookup', tool_call_template: { call_template_type: 'text', content: '"ok"' } }),
          manualTool({ name: 'secret', tags: ['internal'], tool_call_template: { call_template_type: 'text', content: '"classified"' } }),
        ]),
      ),
    );
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  [alice, mallory, auditor] = await Promise.all([principal(['publisher', 'agent']), principal(['publisher', 'agent']), principal([], ['audit:read'])]);

  const registered = await registry.graphql<{ registerProvider: { provider: { id: string }; userErrors: unknown[] } }>(
    'mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { message } } }',
    {
      input: {
        name: 'alices',
        callTemplate: { call_template_type: 'http', url: `${peerUrl}/manual.json`, http_method: 'GET' },
        credential: { authType: 'api_key', apiKey: 'alice-api-key-0123456789', varName: 'X-Api-Key', location: 'header' },
      },
    },
    as(alice.token),
  );
  expect(registered.data!.registerProvider.userErrors).toEqual([]);
  providerId = registered.data!.registerProvider.provider.id;
  const tools = await registry.graphql<{ tools: { edges: { node: { id: string; name: string } }[] } }>('{ tools(first: 10) { edges { node { id name } } } }', {}, as(alice.token));
  toolId = tools.data!.tools.edges.find((e) => e.node.name === 'alices.lookup')!.node.id;
  hiddenToolId = tools.data!.tools.edges.find((e) => e.node.name === 'alices.secret')!.node.id;

  const executed = await registry.graphql<{ executeTool: { id: string; status: string } }>(
    'mutation { executeTool(input: { tool: "alices.lookup", arguments: {} }) { id status } }',
    {},
    as(alice.token),
  );
  expect(executed.data!.executeTool.status).toBe('SUCCEEDED');
  executionId = executed.data!.executeTool.id;

  // Tools tagged `internal` are hidden from Mallory (and readable by Alice, under the default read policy).
  const policy = await registry.graphql<{ createPolicy: { policy: { id: string } } }>(
    'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } } }',
    { input: { name: 'hide-internal', effect: 'DENY', priority: 50, actions: ['READ', 'EXECUTE'], subjects: { principals: [mallory.id] }, resources: { tags: ['internal'] } } },
    as(registry.adminToken),
  );
  policyId = policy.data!.createPolicy.policy.id;
});

afterAll(async () => {
  console.info(`IDOR attempts: ${attempts}`);
  await registry?.close();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
});

describe("another principal's provider and its credential", () => {
  it('shows the credential to its owner and admins only', async () => {
    const query = 'query($id: ID!) { provider(id: $id) { name credential { authType varName hint } } }';
    const own = await attempt<{ provider: { credential: { hint: string } | null } }>(alice, query, { id: providerId });
    expect(own.data!.provider.credential).toMatchObject({ authType: 'api_key', varName: 'X-Api-Key', hint: expect.stringMatching(/6789$/) });
    const admin = await registry.graphql<{ provider: { credential: unknown } }>(query, { id: providerId }, as(registry.adminToken));
    expect(admin.data!.provider.credential).not.toBeNull();

    const other = await attempt<{ provider: { name: string; credential: unknown } | null }>(mallory, query, { id: providerId });
    expect(other.data?.provider?.credential ?? null).toBeNull();
    const listed = await attempt<{ providers: { edges: { node: { credential: unknown } }[] } }>(mallory, '{ providers(first: 10) { edges { node { credential { hint } } } } }');
    expect(listed.data?.providers.edges.map((e) => e.node.credential) ?? []).toEqual([null]);
    const entity = await attempt<{ _entities: ({ credential: unknown } | null)[] }>(
      mallory,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Provider { credential { hint } } } }',
      { r: [{ __typename: 'Provider', id: providerId }] },
    );
    expect(entity.data?._entities?.[0]?.credential ?? null).toBeNull();
  });

  it('refuses refreshing, removing it and switching its tools off', async () => {
    const refresh = await attempt(mallory, 'mutation($id: ID!) { refreshProvider(input: { id: $id }) { provider { id } userErrors { code } } }', { id: providerId });
    expect(code(refresh)).toBe('FORBIDDEN');
    const remove = await attempt(mallory, 'mutation($id: ID!) { removeProvider(input: { id: $id }) { provider { id } userErrors { code } } }', { id: providerId });
    expect(code(remove)).toBe('FORBIDDEN');
    const toggle = await attempt(mallory, 'mutation($id: ID!) { setToolEnabled(input: { toolId: $id, enabled: false }) { tool { enabled } userErrors { code } } }', { id: toolId });
    expect(code(toggle)).toBe('FORBIDDEN');
    const still = await registry.graphql<{ provider: { status: string; tools: { edges: { node: { enabled: boolean } }[] } } }>(
      'query($id: ID!) { provider(id: $id) { status tools { edges { node { enabled } } } } }',
      { id: providerId },
      as(alice.token),
    );
    expect(still.data!.provider).toEqual({ status: 'ACTIVE', tools: { edges: [{ node: { enabled: true } }, { node: { enabled: true } }] } });
  });
});

describe("another principal's provider variables", () => {
  it('shows them to the owner and admins only, by id, in listings and through _entities, and refuses setting or removing them', async () => {
    const set = await registry.graphql<{ setProviderVariables: { userErrors: unknown[] } }>(
      'mutation($input: SetProviderVariablesInput!) { setProviderVariables(input: $input) { userErrors { code } } }',
      { input: { providerId, variables: [{ name: 'REGION', value: 'eu-west', secret: false }, { name: 'ALICE_TOKEN', value: 'alice-variable-secret-0123' }] } },
      as(alice.token),
    );
    expect(set.data!.setProviderVariables.userErrors).toEqual([]);
    const query = 'query($id: ID!) { provider(id: $id) { variables { name value } } }';
    expect((await attempt<{ provider: { variables: unknown[] } }>(alice, query, { id: providerId })).data!.provider.variables).toHaveLength(2);
    const admin = await registry.graphql<{ provider: { variables: unknown[] } }>(query, { id: providerId }, as(registry.adminToken));
    expect(admin.data!.provider.variables).toHaveLength(2);

    const other = await attempt<{ provider: { variables: unknown[] } | null }>(mallory, query, { id: providerId });
    expect(other.data?.provider?.variables ?? []).toEqual([]);
    const listed = await attempt<{ providers: { edges: { node: { variables: unknown[] } }[] } }>(mallory, '{ providers(first: 10) { edges { node { variables { name value } missingVariables } } } }');
    expect(listed.data?.providers.edges.map((e) => e.node.variables) ?? []).toEqual([[]]);
    const entity = await attempt<{ _entities: ({ variables: unknown[] } | null)[] }>(
      mallory,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Provider { variables { name value } } } }',
      { r: [{ __typename: 'Provider', id: providerId }] },
    );
    expect(entity.data?._entities?.[0]?.variables ?? []).toEqual([]);

    for (const input of [{ providerId, variables: [{ name: 'REGION', value: 'mallory-land', secret: false }] }, { providerId, remove: ['ALICE_TOKEN'] }]) {
      const refused = await attempt(mallory, 'mutation($input: SetProviderVariablesInput!) { setProviderVariables(input: $input) { userErrors { code } } }', { input });
      expect(code(refused)).toBe('FORBIDDEN');
    }
    const still = await registry.graphql<{ provider: { variables: { name: string; value: string | null }[] } }>(query, { id: providerId }, as(alice.token));
    expect(still.data!.provider.variables).toEqual([
      { name: 'ALICE_TOKEN', value: null },
      { name: 'REGION', value: 'eu-west' },
    ]);
  });
});

describe("another principal's execution", () => {
  it('is null by id and through _entities, absent from listings, and cannot be cancelled or followed', async () => {
    const byId = await attempt<{ execution: unknown }>(mallory, 'query($id: ID!) { execution(id: $id) { id result } }', { id: executionId });
    expect(byId.data?.execution ?? null).toBeNull();
    const entity = await attempt<{ _entities: unknown[] }>(mallory, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Execution { id result } } }', {
      r: [{ __typename: 'Execution', id: executionId }],
    });
    expect(entity.data!._entities).toEqual([null]);
    const filtered = await attempt<{ executions: { totalCount: number } }>(mallory, 'query($p: ID) { executions(filter: { principal: $p }) { totalCount } }', { p: alice.id });
    expect(filtered.data!.executions.totalCount).toBe(0);
    const cancel = await attempt(mallory, 'mutation($id: ID!) { cancelExecution(id: $id) { id } }', { id: executionId });
    expect(code(cancel)).toBe('NOT_FOUND');
    // The auditor sees it: the refusals above were about ownership.
    const audited = await registry.graphql<{ execution: { id: string } }>('query($id: ID!) { execution(id: $id) { id } }', { id: executionId }, as(auditor.token));
    expect(audited.data!.execution.id).toBe(executionId);
  });

  it('stays out of reach of a cursor forged from its own sort key', async () => {
    const { createdAt } = (await registry.db.fork().execute<{ created_at: Date }[]>('select created_at from execution where id = ?', [executionId])).map((r) => ({
      createdAt: new Date(r.created_at).toISOString(),
    }))[0]!;
    const later = new Date(Date.parse(createdAt) + 60_000).toISOString();
    for (const after of [cursor('executions', later, 'ffffffff-ffff-4fff-bfff-ffffffffffff'), cursor('executions', createdAt, executionId)]) {
      const page = await attempt<{ executions: { edges: { node: { id: string } }[] } }>(mallory, 'query($a: String) { executions(first: 50, after: $a) { edges { node { id } } } }', { a: after });
      expect(page.data!.executions.edges.map((e) => e.node.id)).not.toContain(executionId);
    }
  });
});

describe('another principal', () => {
  it('is null through _entities, and its access cannot be explained or its tokens revoked', async () => {
    const entity = await attempt<{ _entities: unknown[] }>(mallory, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Principal { id name roles } } }', {
      r: [{ __typename: 'Principal', id: alice.id }],
    });
    expect(entity.data!._entities).toEqual([null]);
    const explain = await attempt(mallory, 'query($p: ID) { explainAccess(tool: "alices.lookup", action: EXECUTE, principal: $p) { allowed } }', { p: alice.id });
    expect(code(explain)).toBe('FORBIDDEN');
    const revoke = await attempt(mallory, 'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { revokedAt } }', { id: alice.id });
    expect(code(revoke)).toBe('FORBIDDEN');
    const rotate = await attempt(mallory, 'mutation($id: ID!) { rotatePrincipalSecret(input: { principalId: $id }) { clientSecret } }', { id: alice.id });
    expect(code(rotate)).toBe('FORBIDDEN');
    expect((await registry.graphql('{ me { scopes } }', {}, as(alice.token))).errors).toBeUndefined();
  });
});

describe('a policy by id', () => {
  it('is out of reach without policies:write, for reading, changing and deleting alike', async () => {
    const read = await attempt(mallory, 'query($id: ID!) { policy(id: $id) { name } }', { id: policyId });
    expect(code(read)).toBe('FORBIDDEN');
    const update = await attempt(mallory, 'mutation($id: ID!) { updatePolicy(input: { id: $id, policy: { name: "x", effect: ALLOW, actions: [READ] } }) { policy { id } } }', { id: policyId });
    expect(code(update)).toBe('FORBIDDEN');
    const remove = await attempt(mallory, 'mutation($id: ID!) { deletePolicy(input: { id: $id }) { policy { id } } }', { id: policyId });
    expect(code(remove)).toBe('FORBIDDEN');
    const still = await registry.graphql<{ policy: { name: string } }>('query($id: ID!) { policy(id: $id) { name } }', { id: policyId }, as(registry.adminToken));
    expect(still.data!.policy.name).toBe('hide-internal');
  });
});

describe('a tool hidden by a read policy', () => {
  it('cannot be read by name, id, _entities, search, its provider, a forged cursor or the interop endpoints', async () => {
    const byName = await attempt<{ tool: unknown }>(mallory, '{ tool(name: "alices.secret") { id } }');
    expect(byName.data!.tool).toBeNull();
    const entity = await attempt<{ _entities: unknown[] }>(mallory, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Tool { name } } }', {
      r: [{ __typename: 'Tool', id: hiddenToolId }],
    });
    expect(entity.data!._entities).toEqual([null]);
    const search = await attempt<{ tools: { totalCount: number } }>(mallory, '{ tools(filter: { search: "secret" }) { totalCount } }');
    expect(search.data!.tools.totalCount).toBe(0);
    const tagged = await attempt<{ tools: { totalCount: number } }>(mallory, '{ tools(filter: { tags: ["internal"] }) { totalCount } }');
    expect(tagged.data!.tools.totalCount).toBe(0);
    const viaProvider = await attempt<{ provider: { tools: { edges: { node: { name: string } }[] } } }>(
      mallory,
      'query($id: ID!) { provider(id: $id) { tools(first: 10) { edges { node { name } } } } }',
      { id: providerId },
    );
    expect(viaProvider.data!.provider.tools.edges.map((e) => e.node.name)).toEqual(['alices.lookup']);
    // Cursors forged to start just before the hidden tool, in the plain and the ranked listing.
    for (const [filter, after] of [
      [null, cursor('tools', 'alices.lookup')],
      [null, cursor('tools', 'alices.s')],
      [{ search: 'secret' }, cursor('tools.search', 1, 'alices.')],
      [{ search: 'alices' }, cursor('tools.search', 1e9, '')],
    ] as const) {
      const page = await attempt<{ tools: { edges: { node: { name: string } }[] } }>(mallory, 'query($a: String, $f: ToolFilter) { tools(first: 50, after: $a, filter: $f) { edges { node { name } } } }', {
        a: after,
        f: filter,
      });
      expect(page.data?.tools.edges.map((e) => e.node.name) ?? []).not.toContain('alices.secret');
    }
    const execute = await attempt(mallory, 'mutation { executeTool(input: { tool: "alices.secret", arguments: {} }) { id result } }');
    expect(code(execute)).toBe('NOT_FOUND');

    attempts += 3;
    const utcp = await fetch(`${registry.url}/utcp`, { headers: as(mallory.token) });
    expect(await utcp.text()).not.toContain('alices.secret');
    const call = await fetch(`${registry.url}/tools/alices.secret/call`, { method: 'POST', headers: { ...as(mallory.token), 'content-type': 'application/json' }, body: '{}' });
    expect(call.status).toBe(404);
    const mcp = await fetch(`${registry.url}/mcp`, {
      method: 'POST',
      headers: { ...as(mallory.token), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(await mcp.text()).not.toContain('alices.secret');

    // Alice, whom the policy does not name, still sees it.
    expect((await registry.graphql<{ tool: { id: string } }>('{ tool(name: "alices.secret") { id } }', {}, as(alice.token))).data!.tool.id).toBe(hiddenToolId);
  });

  it('refuses a cursor taken from another listing', async () => {
    const providers = await registry.graphql<{ providers: { pageInfo: { endCursor: string } } }>('{ providers(first: 1) { pageInfo { endCursor } } }', {}, as(mallory.token));
    const res = await attempt(mallory, 'query($a: String) { tools(after: $a) { totalCount } }', { a: providers.data!.providers.pageInfo.endCursor });
    expect(code(res)).toBe('INVALID_CURSOR');
    expect(res.status).toBe(400);
  });
});
