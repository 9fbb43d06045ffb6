import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// Policies end to end through the GraphQL API: CRUD with validation and audit, the catalog filtered
// by read policies, and executeTool decided by execute policies (conditions, inheritance, priorities,
// limits), each checked against explainAccess.

const as = (token: string) => ({ authorization: `Bearer ${token}` });

const POLICY_FIELDS = `id name description effect priority parentId active createdAt updatedAt
  subjects { principals roles } resources { tools tags providers } actions
  conditions { timeWindows { days from to timeZone } sourceCidrs arguments }
  limits { rate { calls windowSeconds } quota { calls period } }`;
const CREATE = `mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { ${POLICY_FIELDS} } userErrors { field message code } } }`;
const UPDATE = `mutation($id: ID!, $policy: PolicyInput!) { updatePolicy(input: { id: $id, policy: $policy }) { policy { ${POLICY_FIELDS} } userErrors { field message code } } }`;
const DELETE = `mutation($id: ID!) { deletePolicy(input: { id: $id }) { policy { id name } userErrors { field message code } } }`;
const POLICY = `query($id: ID!) { policy(id: $id) { ${POLICY_FIELDS} } }`;
const POLICIES = `query($first: Int, $after: String) { policies(first: $first, after: $after) {
  edges { cursor node { ${POLICY_FIELDS} } } pageInfo { hasNextPage endCursor } totalCount } }`;
const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status result error { code message details } decision } }`;
const EXPLAIN = `query($tool: String!, $action: PolicyAction!, $arguments: JSON, $principal: ID, $sourceIp: String) {
  explainAccess(tool: $tool, action: $action, arguments: $arguments, principal: $principal, sourceIp: $sourceIp) {
    allowed reason decidingPolicy { id name effect priority } evaluations { policyId name matched applied reasons } } }`;
const TOOLS = `query($first: Int, $after: String, $filter: ToolFilter) { tools(first: $first, after: $after, filter: $filter) {
  edges { node { id name } } pageInfo { hasNextPage endCursor } totalCount } }`;
const TOOL = `query($name: String!) { tool(name: $name) { id name } }`;
const ENTITIES = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Tool { name } } }`;
const AUDIT = `query($filter: AuditLogFilter) { auditLog(first: 100, filter: $filter) { edges { node { action actorId outcome targetType targetId details } } } }`;

interface PolicyNode {
  id: string;
  name: string;
  description: string;
  effect: 'ALLOW' | 'DENY';
  priority: number;
  parentId: string | null;
  active: boolean;
  createdAt: string;
  updatedAt: string;
  subjects: { principals: string[] | null; roles: string[] | null };
  resources: { tools: string[] | null; tags: string[] | null; providers: string[] | null };
  actions: string[];
  conditions: {
    timeWindows: { days: string[] | null; from: string | null; to: string | null; timeZone: string }[] | null;
    sourceCidrs: string[] | null;
    arguments: Record<string, unknown> | null;
  };
  limits: { rate: { calls: number; windowSeconds: number } | null; quota: { calls: number; period: string } | null };
}
interface UserError {
  field: string[];
  message: string;
  code: string;
}
interface Payload {
  policy: PolicyNode | null;
  userErrors: UserError[];
}
interface ExecutionNode {
  id: string;
  status: string;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
  decision: { allowed: boolean; reason: string; policy: { id: string; name: string } | null } | null;
}
interface Explanation {
  allowed: boolean;
  reason: string;
  decidingPolicy: { id: string; name: string; effect: string; priority: number } | null;
  evaluations: { policyId: string; name: string; matched: boolean; applied: boolean; reasons: string[] }[];
}

/** A policy input: what a test names, everything else absent. */
type PolicyFields = Record<string, unknown> & { name: string; effect: 'ALLOW' | 'DENY'; actions: string[] };

/** A name no earlier run (sharing Redis or a database) has used. */
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function createPolicy(registry: TestRegistry, input: PolicyFields, token = registry.adminToken): Promise<PolicyNode> {
  const res = await registry.graphql<{ createPolicy: Payload }>(CREATE, { input }, as(token));
  expect(res.errors).toBeUndefined();
  expect(res.data!.createPolicy.userErrors).toEqual([]);
  return res.data!.createPolicy.policy!;
}

async function createPolicyPayload(registry: TestRegistry, input: PolicyFields, token = registry.adminToken): Promise<Payload> {
  const res = await registry.graphql<{ createPolicy: Payload }>(CREATE, { input }, as(token));
  expect(res.errors).toBeUndefined();
  return res.data!.createPolicy;
}

async function updatePolicyPayload(registry: TestRegistry, id: string, policy: PolicyFields, token = registry.adminToken): Promise<Payload> {
  const res = await registry.graphql<{ updatePolicy: Payload }>(UPDATE, { id, policy }, as(token));
  expect(res.errors).toBeUndefined();
  return res.data!.updatePolicy;
}

async function updatePolicy(registry: TestRegistry, id: string, policy: PolicyFields): Promise<PolicyNode> {
  const payload = await updatePolicyPayload(registry, id, policy);
  expect(payload.userErrors).toEqual([]);
  return payload.policy!;
}

async function deletePolicy(registry: TestRegistry, id: string): Promise<void> {
  const res = await registry.graphql<{ deletePolicy: Payload }>(DELETE, { id }, as(registry.adminToken));
  expect(res.errors).toBeUndefined();
  expect(res.data!.deletePolicy.userErrors).toEqual([]);
}

/** Every policy, in the API's order, read page by page with the admin token. */
async function allPolicies(registry: TestRegistry): Promise<PolicyNode[]> {
  const all: PolicyNode[] = [];
  let after: string | null = null;
  for (let page = 0; page < 50; page += 1) {
    const res: { errors?: unknown; data?: { policies: { edges: { node: PolicyNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } | null } =
      await registry.graphql(
      POLICIES,
      { first: 100, after },
      as(registry.adminToken),
    );
    expect(res.errors).toBeUndefined();
    all.push(...res.data!.policies.edges.map((e) => e.node));
    if (!res.data!.policies.pageInfo.hasNextPage) break;
    after = res.data!.policies.pageInfo.endCursor;
  }
  return all;
}

async function policyNamed(registry: TestRegistry, name: string): Promise<PolicyNode> {
  const found = (await allPolicies(registry)).find((p) => p.name === name);
  expect(found, `policy ${name}`).toBeDefined();
  return found!;
}

/** A fetched policy as the input that recreates it (what a client does to change one field). */
function inputOf(policy: PolicyNode): PolicyFields {
  const { name, description, effect, priority, parentId, subjects, resources, actions, conditions, limits, active } = policy;
  return { name, description, effect, priority, parentId, subjects, resources, actions, conditions, limits, active };
}

/** Imports tools that answer `{"ok":true}` without any network under `provider`. */
async function importTools(registry: TestRegistry, provider: string, tools: Record<string, unknown>[]): Promise<void> {
  await new ToolService(registry.db.fork()).importManual(
    provider,
    manual(tools.map((tool) => manualTool({ tool_call_template: { call_template_type: 'text', content: '{"ok":true}' }, ...tool }))),
    INLINE_MANUAL,
  );
}

/** A new principal with these roles (and scopes) and a token for it. */
async function principal(registry: TestRegistry, roles: string[] = ['agent'], scopes?: string[]): Promise<{ id: string; token: string }> {
  const client = await registry.createClient({ roles, scopes });
  return { id: client.principalId, token: (await registry.tokenFor(client)).access_token };
}

async function execute(
  registry: TestRegistry,
  token: string,
  tool: string,
  args: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<ExecutionNode> {
  const res = await registry.graphql<{ executeTool: ExecutionNode }>(EXECUTE, { input: { tool, arguments: args } }, { ...as(token), ...headers });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

async function explain(
  registry: TestRegistry,
  token: string,
  vars: { tool: string; action?: string; arguments?: Record<string, unknown>; principal?: string; sourceIp?: string },
  headers: Record<string, string> = {},
): Promise<Explanation> {
  const res = await registry.graphql<{ explainAccess: Explanation }>(EXPLAIN, { action: 'EXECUTE', ...vars }, { ...as(token), ...headers });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.explainAccess;
}

const evaluationOf = (explanation: Explanation, policyId: string) => {
  const found = explanation.evaluations.find((e) => e.policyId === policyId);
  expect(found, `evaluation of ${policyId}`).toBeDefined();
  return found!;
};

/** The local weekday and minute of the day in `timeZone`, now. */
function localNow(timeZone: string): { day: string; minutes: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date());
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return { day: get('weekday').toLowerCase(), minutes: (Number(get('hour')) % 24) * 60 + Number(get('minute')) };
}

/** "HH:MM" of a minute of the day, wrapped into 0–1439. */
function clock(minutes: number): string {
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

describe('policy CRUD through the API', () => {
  let registry: TestRegistry;
  let policyAdmin: string;
  let adminId: string;

  beforeAll(async () => {
    registry = await startRegistry();
    policyAdmin = await registry.login({ roles: ['policy_admin'] });
    const me = await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', {}, as(registry.adminToken));
    adminId = me.data!.me.principal.id;
  });
  afterAll(() => registry?.close());

  it('starts with the three default policies', async () => {
    const policies = await allPolicies(registry);
    expect(policies.map((p) => [p.name, p.effect, p.priority, p.actions, p.active])).toEqual([
      ['default-administer', 'ALLOW', 0, ['ADMIN'], true],
      ['default-agents-execute', 'ALLOW', 0, ['EXECUTE'], true],
      ['default-catalog-read', 'ALLOW', 0, ['READ'], true],
    ]);
    expect(policies[0]!.subjects.roles).toEqual(['admin', 'publisher']);
    expect(policies[1]!.subjects.roles).toEqual(['agent', 'admin']);
  });

  it('lets only principals an `admin` policy allows administer a tool, on top of their scopes', async () => {
    await importTools(registry, 'adm', [{ name: 'open' }, { name: 'guarded' }]);
    const SET = `mutation($id: ID!, $enabled: Boolean!) { setToolEnabled(input: { toolId: $id, enabled: $enabled }) { tool { enabled } userErrors { code } } }`;
    const toolId = async (name: string) =>
      (await registry.graphql<{ tool: { id: string } }>('query($n: String!) { tool(name: $n) { id } }', { n: name }, as(registry.adminToken))).data!.tool.id;
    const [open, guarded] = [await toolId('adm.open'), await toolId('adm.guarded')];
    const set = (id: string, enabled: boolean) => registry.graphql<{ setToolEnabled: { tool: { enabled: boolean } | null } }>(SET, { id, enabled }, as(registry.adminToken));

    // By default the admin role may administer every tool.
    expect((await set(guarded, false)).data!.setToolEnabled.tool).toEqual({ enabled: false });
    // A higher-priority deny on one tool takes that away, for that tool only.
    const deny = await createPolicy(registry, { name: unique('no-admin-guarded'), effect: 'DENY', priority: 5, actions: ['ADMIN'], resources: { tools: ['adm.guarded'] } });
    const refused = await set(guarded, true);
    expect(refused.errors?.[0]?.extensions?.code).toBe('POLICY_DENIED');
    expect(refused.errors?.[0]?.message).toContain(deny.name);
    expect((await set(open, false)).data!.setToolEnabled.tool).toEqual({ enabled: false });
    const denials = await registry.graphql<{ auditLog: { edges: { node: { targetId: string } }[] } }>(
      '{ auditLog(first: 5, filter: { action: "authorization.denied" }) { edges { node { targetId } } } }',
      {},
      as(registry.adminToken),
    );
    expect(denials.data!.auditLog.edges.map((e) => e.node.targetId)).toContain('Mutation.setToolEnabled');
    await deletePolicy(registry, deny.id);
    expect((await set(guarded, true)).data!.setToolEnabled.tool).toEqual({ enabled: true });
  });

  it('lets everyone read every tool and agents and admins execute it, by default', async () => {
    await importTools(registry, 'plain', [{ name: 'call' }]);
    const [catalogRead, agentsExecute] = [await policyNamed(registry, 'default-catalog-read'), await policyNamed(registry, 'default-agents-execute')];
    const agent = await principal(registry);
    expect(await execute(registry, agent.token, 'plain.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: agentsExecute.id } } });
    expect(await execute(registry, registry.adminToken, 'plain.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: agentsExecute.id } } });
    // A viewer holding the scope is still no agent: no policy lets it execute.
    const viewer = await principal(registry, ['viewer'], ['tools:execute']);
    const denied = await execute(registry, viewer.token, 'plain.call');
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED', message: 'denied: no policy applies (default deny)' } });
    expect((await explain(registry, viewer.token, { tool: 'plain.call', action: 'READ' })).decidingPolicy).toMatchObject({ id: catalogRead.id });
    const why = await explain(registry, viewer.token, { tool: 'plain.call' });
    expect(why).toMatchObject({ allowed: false, decidingPolicy: null });
    expect(evaluationOf(why, agentsExecute.id).reasons[0]).toMatch(/^subject: principal .* with roles \[viewer\] is not among roles \[agent, admin\]$/);
  });

  it('creates, reads, replaces and deletes a policy, with the admin and with a policy_admin', async () => {
    const input: PolicyFields = {
      name: unique('crud'),
      description: 'Office hours only',
      effect: 'ALLOW',
      priority: 5,
      subjects: { roles: ['agent'] },
      resources: { tools: ['github.*'], tags: ['vcs'] },
      actions: ['EXECUTE', 'READ'],
      conditions: {
        timeWindows: [
          { days: ['mon', 'Friday'], from: '09:00', to: '17:30', timeZone: 'Europe/Berlin' },
          { days: ['saturday'], timeZone: 'UTC' },
        ],
        sourceCidrs: ['10.0.0.0/8', '2001:db8::/32'],
        arguments: { type: 'object', properties: { repo: { type: 'string', pattern: '^acme/' } } },
      },
      limits: { rate: { calls: 10, windowSeconds: 60 }, quota: { calls: 1000, period: 'MONTH' } },
    };
    const created = await createPolicy(registry, input, policyAdmin);
    expect(created).toMatchObject({
      name: input.name,
      description: 'Office hours only',
      effect: 'ALLOW',
      priority: 5,
      parentId: null,
      active: true,
      subjects: { principals: null, roles: ['agent'] },
      resources: { tools: ['github.*'], tags: ['vcs'], providers: null },
      actions: ['EXECUTE', 'READ'],
      conditions: {
        ...(input.conditions as object),
        timeWindows: [
          { days: ['mon', 'Friday'], from: '09:00', to: '17:30', timeZone: 'Europe/Berlin' },
          { days: ['saturday'], from: null, to: null, timeZone: 'UTC' },
        ],
      },
      limits: input.limits,
    });
    const read = await registry.graphql<{ policy: PolicyNode }>(POLICY, { id: created.id }, as(registry.adminToken));
    expect(read.data!.policy).toEqual(created);

    // An update replaces every field: what it leaves out takes its default.
    const replaced = await updatePolicy(registry, created.id, { name: input.name, effect: 'DENY', actions: ['EXECUTE'] });
    expect(replaced).toMatchObject({
      id: created.id,
      description: '',
      effect: 'DENY',
      priority: 0,
      subjects: { principals: null, roles: null },
      resources: { tools: null, tags: null, providers: null },
      conditions: { timeWindows: null, sourceCidrs: null, arguments: null },
      limits: { rate: null, quota: null },
      active: true,
    });
    expect(Date.parse(replaced.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));

    // A read-modify-write of a stored policy works as it is read, nulls included.
    const roundTrip = await updatePolicy(registry, created.id, { ...inputOf(created), description: 'changed' });
    expect({ ...roundTrip, updatedAt: undefined, description: undefined }).toEqual({ ...created, updatedAt: undefined, description: undefined });
    expect(roundTrip.description).toBe('changed');

    const deleted = await registry.graphql<{ deletePolicy: Payload }>(DELETE, { id: created.id }, as(policyAdmin));
    expect(deleted.data!.deletePolicy).toEqual({ policy: { id: created.id, name: input.name }, userErrors: [] });
    const gone = await registry.graphql<{ policy: PolicyNode | null }>(POLICY, { id: created.id }, as(registry.adminToken));
    expect(gone.data!.policy).toBeNull();
    const again = await registry.graphql<{ deletePolicy: Payload }>(DELETE, { id: created.id }, as(registry.adminToken));
    expect(again.data!.deletePolicy.userErrors).toEqual([{ field: ['id'], message: 'No such policy', code: 'NOT_FOUND' }]);
    const missing = await updatePolicyPayload(registry, randomUUID(), { name: 'x', effect: 'ALLOW', actions: ['READ'] });
    expect(missing.userErrors[0]?.code).toBe('NOT_FOUND');
  });

  it('pages through every policy, highest priority first, then by name, each once', async () => {
    const prefix = unique('page');
    const priorities = [3, -2, 3, 7, 0, 3, -2];
    for (const [i, priority] of priorities.entries()) {
      await createPolicy(registry, { name: `${prefix}-${String.fromCharCode(103 - i)}`, effect: 'ALLOW', priority, actions: ['READ'], active: false });
    }
    const seen: PolicyNode[] = [];
    let after: string | null = null;
    let total = 0;
    for (let page = 0; page < 20; page += 1) {
      const res: { data?: { policies: { edges: { node: PolicyNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } } | null } =
        await registry.graphql(POLICIES, { first: 2, after }, as(registry.adminToken));
      const connection = res.data!.policies;
      expect(connection.edges.length).toBeLessThanOrEqual(2);
      total = connection.totalCount;
      seen.push(...connection.edges.map((e) => e.node));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(total).toBe((await allPolicies(registry)).length);
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((p) => p.id)).size).toBe(total);
    const ordered = [...seen].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    expect(seen.map((p) => p.name)).toEqual(ordered.map((p) => p.name));
    const mine = seen.filter((p) => p.name.startsWith(prefix));
    expect(mine.map((p) => p.priority)).toEqual([7, 3, 3, 3, 0, -2, -2]);
    const bad = await registry.graphql(POLICIES, { first: 101 }, as(registry.adminToken));
    expect(bad.errors?.[0]?.extensions?.code).toBe('PAGE_SIZE_EXCEEDED');
    const forged = await registry.graphql(POLICIES, { first: 2, after: 'bm90LWEtY3Vyc29y' }, as(registry.adminToken));
    expect(forged.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
  });

  it('refuses invalid policies with coded userErrors and stores nothing', async () => {
    const before = (await allPolicies(registry)).length;
    const base = (name: string): PolicyFields => ({ name: unique(name), effect: 'ALLOW', actions: ['EXECUTE'] });
    const cases: [PolicyFields, { code: string; field?: string[]; message: RegExp }][] = [
      [{ ...base('tz'), conditions: { timeWindows: [{ timeZone: 'Mars/Olympus_Mons' }] } }, { code: 'BAD_USER_INPUT', message: /unknown time zone "Mars\/Olympus_Mons"/ }],
      [{ ...base('clock'), conditions: { timeWindows: [{ from: '25:00', timeZone: 'UTC' }] } }, { code: 'BAD_USER_INPUT', message: /time "25:00" is not HH:MM/ }],
      [{ ...base('day'), conditions: { timeWindows: [{ days: ['someday'], timeZone: 'UTC' }] } }, { code: 'BAD_USER_INPUT', message: /day "someday"/ }],
      [{ ...base('cidr'), conditions: { sourceCidrs: ['10.0.0.0/33'] } }, { code: 'BAD_USER_INPUT', message: /source CIDR "10.0.0.0\/33"/ }],
      [{ ...base('cidr2'), conditions: { sourceCidrs: ['not-an-ip'] } }, { code: 'BAD_USER_INPUT', message: /source CIDR "not-an-ip"/ }],
      [
        { ...base('schema'), conditions: { arguments: { type: 'object', properties: { n: { type: 'nmber' } } } } },
        { code: 'BAD_USER_INPUT', message: /argument constraint is not a valid JSON Schema/ },
      ],
      [{ ...base('keyword'), conditions: { arguments: { maximumm: 3 } } }, { code: 'BAD_USER_INPUT', message: /not a valid JSON Schema.*maximumm/ }],
      [{ ...base('parent'), parentId: randomUUID() }, { code: 'BAD_USER_INPUT', field: ['parentId'], message: /parent policy does not exist/ }],
      [{ ...base('parent2'), parentId: 'not-a-uuid' }, { code: 'BAD_USER_INPUT', field: ['parentId'], message: /parent policy does not exist/ }],
      [{ ...base('rate'), limits: { rate: { calls: 0, windowSeconds: 60 } } }, { code: 'BAD_USER_INPUT', field: ['limits.rate.calls'], message: /whole number/ }],
      [{ ...base('window'), limits: { rate: { calls: 1, windowSeconds: 0 } } }, { code: 'BAD_USER_INPUT', field: ['limits.rate.windowSeconds'], message: /whole number/ }],
      [{ ...base('actions'), actions: [] }, { code: 'BAD_USER_INPUT', field: ['actions'], message: /at least one action/ }],
      [{ ...base('name'), name: '   ' }, { code: 'BAD_USER_INPUT', field: ['name'], message: /1 to 200 characters/ }],
      [{ ...base('priority'), priority: 2_000_000 }, { code: 'BAD_USER_INPUT', field: ['priority'], message: /priority/ }],
      [{ ...base('dup'), name: 'default-catalog-read' }, { code: 'CONFLICT', field: ['name'], message: /already exists/ }],
    ];
    for (const [input, expected] of cases) {
      const payload = await createPolicyPayload(registry, input);
      expect(payload.policy, input.name).toBeNull();
      expect(payload.userErrors, input.name).toHaveLength(1);
      const [error] = payload.userErrors;
      expect(error!.code, input.name).toBe(expected.code);
      expect(error!.message, input.name).toMatch(expected.message);
      if (expected.field) expect(error!.field, input.name).toEqual(expected.field);
    }
    expect((await allPolicies(registry)).length).toBe(before);
  });

  it('refuses a rename onto another name (CONFLICT), an inheritance cycle made by updatePolicy, and deleting a parent', async () => {
    const a = await createPolicy(registry, { name: unique('a'), effect: 'ALLOW', actions: ['EXECUTE'], conditions: { sourceCidrs: ['10.0.0.0/8'] } });
    const b = await createPolicy(registry, { name: unique('b'), effect: 'ALLOW', actions: ['EXECUTE'], parentId: a.id });
    const c = await createPolicy(registry, { name: unique('c'), effect: 'ALLOW', actions: ['EXECUTE'], parentId: b.id });
    expect([b.parentId, c.parentId]).toEqual([a.id, b.id]);

    const rename = await updatePolicyPayload(registry, c.id, { ...inputOf(c), name: a.name });
    expect(rename.userErrors).toEqual([{ field: ['name'], message: expect.stringMatching(/already exists/), code: 'CONFLICT' }]);

    const cycle = await updatePolicyPayload(registry, a.id, { ...inputOf(a), parentId: c.id });
    expect(cycle.policy).toBeNull();
    expect(cycle.userErrors).toHaveLength(1);
    expect(cycle.userErrors[0]).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(cycle.userErrors[0]!.message).toMatch(/policy cycle: .*→/);
    expect(cycle.userErrors[0]!.message).toContain(a.name);
    const self = await updatePolicyPayload(registry, a.id, { ...inputOf(a), parentId: a.id });
    expect(self.userErrors[0]?.message).toMatch(/policy cycle/);
    // Nothing of the refused updates was stored.
    const stored = await registry.graphql<{ policy: PolicyNode }>(POLICY, { id: a.id }, as(registry.adminToken));
    expect(stored.data!.policy).toEqual(a);

    const parentDelete = await registry.graphql<{ deletePolicy: Payload }>(DELETE, { id: b.id }, as(registry.adminToken));
    expect(parentDelete.data!.deletePolicy.policy).toBeNull();
    expect(parentDelete.data!.deletePolicy.userErrors).toEqual([{ field: ['id'], message: expect.stringMatching(/inherit from this one/), code: 'CONFLICT' }]);
    // Children first, then the parents.
    await deletePolicy(registry, c.id);
    await deletePolicy(registry, b.id);
    await deletePolicy(registry, a.id);
  });

  it('refuses every policy operation to a viewer and an agent (FORBIDDEN)', async () => {
    const agent = await registry.login({ roles: ['agent'] });
    const existing = await policyNamed(registry, 'default-catalog-read');
    const before = await allPolicies(registry);
    for (const token of [registry.viewerToken, agent]) {
      const create = await registry.graphql(CREATE, { input: { name: unique('nope'), effect: 'ALLOW', actions: ['READ'] } }, as(token));
      expect(create.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(create.data?.createPolicy ?? null).toBeNull();
      const update = await registry.graphql(UPDATE, { id: existing.id, policy: { ...inputOf(existing), active: false } }, as(token));
      expect(update.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const remove = await registry.graphql(DELETE, { id: existing.id }, as(token));
      expect(remove.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      for (const query of [POLICIES, POLICY]) {
        const read = await registry.graphql(query, { id: existing.id, first: 5 }, as(token));
        expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
    }
    expect(await allPolicies(registry)).toEqual(before);
  });

  it('audits every change with its actor, and refused attempts as denials', async () => {
    const policy = await createPolicy(registry, { name: unique('audited'), effect: 'DENY', priority: 3, actions: ['READ'] }, policyAdmin);
    await updatePolicy(registry, policy.id, { ...inputOf(policy), priority: 4, active: false });
    await deletePolicy(registry, policy.id);
    const log = await registry.graphql<{ auditLog: { edges: { node: { action: string; actorId: string; outcome: string; targetType: string; targetId: string; details: Record<string, unknown> } }[] } }>(
      AUDIT,
      { filter: { targetId: policy.id } },
      as(registry.adminToken),
    );
    expect(log.errors).toBeUndefined();
    const entries = log.data!.auditLog.edges.map((e) => e.node).reverse();
    expect(entries.map((e) => [e.action, e.outcome, e.targetType])).toEqual([
      ['policy.create', 'SUCCESS', 'policy'],
      ['policy.update', 'SUCCESS', 'policy'],
      ['policy.delete', 'SUCCESS', 'policy'],
    ]);
    const policyAdminId = entries[0]!.actorId;
    expect(policyAdminId).not.toBe(adminId);
    expect(entries.map((e) => e.actorId)).toEqual([policyAdminId, adminId, adminId]);
    expect(entries[0]!.details).toMatchObject({ name: policy.name, effect: 'deny', priority: 3, actions: ['read'], active: true });
    expect(entries[1]!.details).toMatchObject({ priority: 4, active: false });

    // A refused change is not recorded as a change, but as a denial; a refused validation not at all.
    await createPolicyPayload(registry, { name: unique('invalid'), effect: 'ALLOW', actions: ['READ'], conditions: { sourceCidrs: ['x'] } });
    const viewerTry = await registry.graphql(CREATE, { input: { name: unique('viewer'), effect: 'ALLOW', actions: ['READ'] } });
    expect(viewerTry.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const denials = await registry.graphql<{ auditLog: { edges: { node: { targetId: string; outcome: string } }[] } }>(
      AUDIT,
      { filter: { action: 'authorization.denied', targetId: 'Mutation.createPolicy' } },
      as(registry.adminToken),
    );
    expect(denials.data!.auditLog.edges.length).toBeGreaterThan(0);
    expect(denials.data!.auditLog.edges.every((e) => e.node.outcome === 'DENIED')).toBe(true);
    const creates = await registry.graphql<{ auditLog: { edges: { node: { details: { name: string } } }[] } }>(
      AUDIT,
      { filter: { action: 'policy.create' } },
      as(registry.adminToken),
    );
    expect(creates.data!.auditLog.edges.map((e) => e.node.details.name).filter((n) => n.startsWith('invalid') || n.startsWith('viewer'))).toEqual([]);
  });
});

describe('the catalog shows a caller only what their read policies allow', () => {
  let registry: TestRegistry;
  let viewerId: string;
  const ALPHA = ['alpha.one', 'alpha.three', 'alpha.two'];
  const ALL = ['alpha.one', 'alpha.three', 'alpha.two', 'beta.one', 'beta.two', 'delta.get_x', 'delta.getyx', 'gamma.one'];
  const ids = new Map<string, string>();

  const visible = async (filter: Record<string, unknown> = {}, token = registry.viewerToken) => {
    const res = await registry.graphql<{ tools: { edges: { node: { name: string } }[]; totalCount: number } }>(TOOLS, { first: 100, filter }, as(token));
    expect(res.errors).toBeUndefined();
    const names = res.data!.tools.edges.map((e) => e.node.name);
    expect(res.data!.tools.totalCount).toBe(names.length);
    return names;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    const widget = (name: string, tags: string[] = []) => ({ name, tags, description: `Polishes a widget (${name}).` });
    await importTools(registry, 'alpha', [widget('one'), widget('two', ['fragile']), widget('three', ['secret'])]);
    await importTools(registry, 'beta', [widget('one'), widget('two', ['secret'])]);
    await importTools(registry, 'gamma', [widget('one', ['fragile'])]);
    await importTools(registry, 'delta', [widget('get_x'), widget('getyx')]);
    const me = await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }');
    viewerId = me.data!.me.principal.id;
    for (const name of ALL) {
      const res = await registry.graphql<{ tool: { id: string } }>(TOOL, { name }, as(registry.adminToken));
      ids.set(name, res.data!.tool.id);
    }
  });
  afterAll(() => registry?.close());

  it('shows everything under default-catalog-read and nothing once it is deactivated', async () => {
    expect(await visible()).toEqual(ALL);
    const catalogRead = await policyNamed(registry, 'default-catalog-read');
    await updatePolicy(registry, catalogRead.id, { ...inputOf(catalogRead), active: false });
    expect(await visible()).toEqual([]);
    expect(await visible({ search: 'widget' })).toEqual([]);
  });

  it('with an allow for alpha.*, lists, pages, finds and resolves only alpha tools', async () => {
    await createPolicy(registry, { name: 'alpha-readers', effect: 'ALLOW', resources: { tools: ['alpha.*'] }, actions: ['READ'] });
    expect(await visible()).toEqual(ALPHA);

    const paged: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const res: { data?: { tools: { edges: { node: { name: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } } | null } =
        await registry.graphql(TOOLS, { first: 1, after });
      expect(res.data!.tools.totalCount).toBe(3);
      paged.push(...res.data!.tools.edges.map((e) => e.node.name));
      if (!res.data!.tools.pageInfo.hasNextPage) break;
      after = res.data!.tools.pageInfo.endCursor;
    }
    expect(paged).toEqual(ALPHA);
    // A cursor past the last alpha tool (crafted, as a client may) does not reveal the tools after it.
    const beyond = await registry.graphql<{ tools: { edges: unknown[]; pageInfo: { hasNextPage: boolean } } }>(TOOLS, {
      first: 10,
      after: Buffer.from(JSON.stringify(['tools', 'alpha.two'])).toString('base64url'),
    });
    expect(beyond.errors).toBeUndefined();
    expect(beyond.data!.tools).toMatchObject({ edges: [], pageInfo: { hasNextPage: false } });
    // Search results page within what the viewer may read, too.
    const searched: string[] = [];
    after = null;
    for (let page = 0; page < 10; page += 1) {
      const res: { data?: { tools: { edges: { node: { name: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } } | null } =
        await registry.graphql(TOOLS, { first: 1, after, filter: { search: 'widget' } });
      expect(res.data!.tools.totalCount).toBe(3);
      searched.push(...res.data!.tools.edges.map((e) => e.node.name));
      if (!res.data!.tools.pageInfo.hasNextPage) break;
      after = res.data!.tools.pageInfo.endCursor;
    }
    expect(searched.sort()).toEqual(ALPHA);

    for (const name of ALL) {
      const one = await registry.graphql<{ tool: { name: string } | null }>(TOOL, { name });
      expect(one.data!.tool, name).toEqual(ALPHA.includes(name) ? { id: ids.get(name), name } : null);
    }
    const entities = await registry.graphql<{ _entities: ({ name: string } | null)[] }>(ENTITIES, {
      reps: ALL.map((name) => ({ __typename: 'Tool', id: ids.get(name) })),
    });
    expect(entities.errors).toBeUndefined();
    expect(entities.data!._entities).toEqual(ALL.map((name) => (ALPHA.includes(name) ? { name } : null)));

    expect(await visible({ search: 'widget' })).toEqual(expect.arrayContaining(ALPHA));
    expect((await visible({ search: 'widget' })).sort()).toEqual(ALPHA);
    expect(await visible({ search: 'beta' })).toEqual([]);
    // Nothing visible has both words; the any-word fallback finds the visible tool named `one`, never gamma's.
    expect(await visible({ search: 'gamma.one' })).toEqual(['alpha.one']);
    expect(await visible({ provider: 'beta' })).toEqual([]);
    expect(await visible({ tags: ['secret'] })).toEqual(['alpha.three']);

    // A hidden tool does not exist for the viewer: not to explain, not to execute.
    const hidden = await registry.graphql(EXPLAIN, { tool: 'beta.one', action: 'READ' });
    expect(hidden.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const shown = await explain(registry, registry.viewerToken, { tool: 'alpha.one', action: 'READ' });
    expect(shown).toMatchObject({ allowed: true, decidingPolicy: { name: 'alpha-readers' } });
    const caller = await principal(registry, ['agent']);
    const notFound = await registry.graphql(EXECUTE, { input: { tool: 'beta.one', arguments: {} } }, as(caller.token));
    expect(notFound.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await execute(registry, caller.token, 'alpha.one')).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('hides tagged tools behind a higher-priority deny, but not behind a lower-priority one', async () => {
    const deny = await createPolicy(registry, { name: 'no-secrets', effect: 'DENY', priority: 10, resources: { tags: ['secret'] }, actions: ['READ'] });
    expect(await visible()).toEqual(['alpha.one', 'alpha.two']);
    expect(await visible({ tags: ['secret'] })).toEqual([]);
    const hidden = await registry.graphql<{ tool: unknown }>(TOOL, { name: 'alpha.three' });
    expect(hidden.data!.tool).toBeNull();

    await updatePolicy(registry, deny.id, { ...inputOf(deny), priority: -1 });
    expect(await visible()).toEqual(ALPHA);
    await updatePolicy(registry, deny.id, { ...inputOf(deny), priority: 10 });
    expect(await visible()).toEqual(['alpha.one', 'alpha.two']);
  });

  it('lets an equal-priority deny win the tie', async () => {
    await createPolicy(registry, { name: 'fragile-tie', effect: 'DENY', priority: 0, resources: { tags: ['fragile'] }, actions: ['READ'] });
    expect(await visible()).toEqual(['alpha.one']);
    const explanation = await explain(registry, registry.adminToken, { tool: 'alpha.two', action: 'READ', principal: viewerId });
    expect(explanation).toMatchObject({ allowed: false, decidingPolicy: { name: 'fragile-tie', effect: 'DENY', priority: 0 } });
    expect(evaluationOf(explanation, (await policyNamed(registry, 'alpha-readers')).id)).toMatchObject({ matched: true, applied: true });
  });

  it('lets a higher-priority allow win over the deny, for the principal it names', async () => {
    const other = await principal(registry, ['viewer']);
    await createPolicy(registry, {
      name: 'viewer-sees-gamma-and-secrets',
      effect: 'ALLOW',
      priority: 20,
      subjects: { principals: [viewerId] },
      resources: { tools: ['gamma.*', 'alpha.t*'] },
      actions: ['READ'],
    });
    expect(await visible()).toEqual(['alpha.one', 'alpha.three', 'alpha.two', 'gamma.one']);
    expect(await visible({}, other.token)).toEqual(['alpha.one']);
  });

  it('matches globs literally (`_` is no wildcard, `?` is one character) and honours conditions of read policies', async () => {
    const underscore = await createPolicy(registry, { name: 'delta-underscore', effect: 'ALLOW', resources: { tools: ['delta.get_*'] }, actions: ['READ'] });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x']);
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { tools: ['delta.get?x'] } });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x', 'delta.getyx']);
    // The registry sees this test's requests come from 127.0.0.1.
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { tools: ['delta.*'] }, conditions: { sourceCidrs: ['10.0.0.0/8'] } });
    expect(await visible({ provider: 'delta' })).toEqual([]);
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { tools: ['delta.*'] }, conditions: { sourceCidrs: ['10.0.0.0/8', '127.0.0.0/8'] } });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x', 'delta.getyx']);
    // Providers and tool globs must both match.
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { providers: ['delta', 'beta'], tools: ['*.get*', 'beta.*', 'gamma.*'] } });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x', 'delta.getyx']);
    expect(await visible({ provider: 'beta' })).toEqual(['beta.one']); // beta.two is secret
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { providers: ['beta'], tools: ['*.get*'] } });
    expect(await visible({ provider: 'delta' })).toEqual([]);
    expect(await visible({ provider: 'beta' })).toEqual([]);
    // Argument constraints are not evaluated for reads, by the catalog or by explainAccess.
    await updatePolicy(registry, underscore.id, { ...inputOf(underscore), resources: { tools: ['delta.*'] }, conditions: { arguments: { required: ['x'] } } });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x', 'delta.getyx']);
    const read = await explain(registry, registry.viewerToken, { tool: 'delta.get_x', action: 'READ', arguments: {} });
    expect(read).toMatchObject({ allowed: true, decidingPolicy: { id: underscore.id } });
    expect(evaluationOf(read, underscore.id).reasons).toContain('arguments: not evaluated (no arguments in the request)');
    // A deny whose time window contains now hides; one whose window lies elsewhere does not.
    const utc = localNow('UTC');
    const deny = await createPolicy(registry, {
      name: 'delta-maintenance',
      effect: 'DENY',
      resources: { tools: ['delta.getyx'] },
      actions: ['READ'],
      conditions: { timeWindows: [{ from: clock(utc.minutes - 60), to: clock(utc.minutes + 60), timeZone: 'UTC' }] },
    });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x']);
    await updatePolicy(registry, deny.id, { ...inputOf(deny), conditions: { timeWindows: [{ from: clock(utc.minutes + 60), to: clock(utc.minutes + 120), timeZone: 'UTC' }] } });
    expect(await visible({ provider: 'delta' })).toEqual(['delta.get_x', 'delta.getyx']);
  });

  it('agrees with explainAccess for every tool and every principal', async () => {
    const other = await principal(registry, ['viewer']);
    for (const [who, token] of [
      [viewerId, registry.viewerToken],
      [other.id, other.token],
    ] as const) {
      const shown = await visible({}, token);
      for (const name of ALL) {
        const explanation = await explain(registry, registry.adminToken, { tool: name, action: 'READ', principal: who });
        expect(explanation.allowed, `${who} ${name}: ${explanation.reason}`).toBe(shown.includes(name));
      }
    }
  });

  it('still shows the admin everything', async () => {
    expect(await visible({}, registry.adminToken)).toEqual(ALL);
    const entities = await registry.graphql<{ _entities: ({ name: string } | null)[] }>(
      ENTITIES,
      { reps: ALL.map((name) => ({ __typename: 'Tool', id: ids.get(name) })) },
      as(registry.adminToken),
    );
    expect(entities.data!._entities).toEqual(ALL.map((name) => ({ name })));
  });
});

describe('executeTool follows execute policies', () => {
  let registry: TestRegistry;
  let agent: { id: string; token: string };
  const OFFICE = '203.0.113.0/24';
  const fromOffice = { 'x-forwarded-for': '203.0.113.7' };
  const fromElsewhere = { 'x-forwarded-for': '198.51.100.7' };

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_TRUSTED_PROXIES: '127.0.0.1' } });
    await importTools(registry, 'clock', [{ name: 'job' }]);
    await importTools(registry, 'net', [{ name: 'ping' }]);
    await importTools(registry, 'pay', [{ name: 'transfer', inputs: { type: 'object', properties: { amount: { type: 'number' }, currency: { type: 'string' } } } }]);
    await importTools(registry, 'inherit', [{ name: 'call' }]);
    await importTools(registry, 'prio', [{ name: 'call' }]);
    await importTools(registry, 'rate', [{ name: 'call' }, { name: 'other' }]);
    await importTools(registry, 'quota', [{ name: 'call' }]);
    await importTools(registry, 'subj', [{ name: 'call' }]);
    // Only the policies of these tests decide executions.
    await deletePolicy(registry, (await policyNamed(registry, 'default-agents-execute')).id);
    agent = await principal(registry);
  });
  afterAll(() => registry?.close());

  const allowFor = (name: string, tools: string[], extra: Record<string, unknown> = {}): PolicyFields => ({
    name: unique(name),
    effect: 'ALLOW',
    subjects: { principals: [agent.id] },
    resources: { tools },
    actions: ['EXECUTE'],
    ...extra,
  });

  it('time window: allows inside a window in Europe/Berlin, denies outside it and in another time zone', async () => {
    const now = localNow('Europe/Berlin');
    const around = { from: clock(now.minutes - 60), to: clock(now.minutes + 60), timeZone: 'Europe/Berlin' };
    const policy = await createPolicy(registry, allowFor('hours', ['clock.*'], { conditions: { timeWindows: [around] } }));

    const allowed = await execute(registry, agent.token, 'clock.job');
    expect(allowed).toMatchObject({ status: 'SUCCEEDED', result: { ok: true }, error: null });
    expect(allowed.decision).toMatchObject({ allowed: true, policy: { id: policy.id, name: policy.name } });
    const yes = await explain(registry, agent.token, { tool: 'clock.job' });
    expect(yes).toMatchObject({ allowed: true, decidingPolicy: { id: policy.id, name: policy.name, effect: 'ALLOW' } });
    expect(evaluationOf(yes, policy.id).reasons.join('\n')).toMatch(/time window: inside .*Europe\/Berlin \(local /);

    // The same clock times in Tokyo (7 or 8 hours ahead) do not contain now.
    await updatePolicy(registry, policy.id, { ...inputOf(policy), conditions: { timeWindows: [{ ...around, timeZone: 'Asia/Tokyo' }] } });
    const denied = await execute(registry, agent.token, 'clock.job');
    expect(denied).toMatchObject({ status: 'DENIED', result: null, error: { code: 'POLICY_DENIED' } });
    expect(denied.decision).toMatchObject({ allowed: false, policy: null });
    const no = await explain(registry, agent.token, { tool: 'clock.job' });
    expect(no).toMatchObject({ allowed: false, decidingPolicy: null });
    expect(evaluationOf(no, policy.id)).toMatchObject({ matched: true, applied: false });
    expect(evaluationOf(no, policy.id).reasons.join('\n')).toMatch(/time window: outside .*Asia\/Tokyo/);

    // A window later today, and whole days: today is allowed, another day is not.
    const later = { from: clock(now.minutes + 60), to: clock(now.minutes + 120), timeZone: 'Europe/Berlin' };
    await updatePolicy(registry, policy.id, { ...inputOf(policy), conditions: { timeWindows: [later] } });
    expect((await execute(registry, agent.token, 'clock.job')).status).toBe('DENIED');
    const today = localNow('Europe/Berlin');
    // Whole-day windows name today; skipped within a minute of local midnight, when "today" may change mid-test.
    if (today.minutes < 1 || today.minutes > 1438) return;
    const days = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
    const tomorrow = days[(days.indexOf(today.day) + 1) % 7]!;
    await updatePolicy(registry, policy.id, { ...inputOf(policy), conditions: { timeWindows: [later, { days: [tomorrow], timeZone: 'Europe/Berlin' }] } });
    expect((await execute(registry, agent.token, 'clock.job')).status).toBe('DENIED');
    await updatePolicy(registry, policy.id, { ...inputOf(policy), conditions: { timeWindows: [later, { days: [today.day.slice(0, 3)], timeZone: 'Europe/Berlin' }] } });
    expect((await execute(registry, agent.token, 'clock.job')).status).toBe('SUCCEEDED');
  });

  it('records the same client address in the audit log for token requests as policies see', async () => {
    const refused = await registry.oauth({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong-secret-0123456789' }, fromOffice);
    expect(refused.status).toBe(401);
    const log = await registry.graphql<{ auditLog: { edges: { node: { targetId: string; sourceIp: string } }[] } }>(
      '{ auditLog(first: 1, filter: { targetType: "oauth_client" }) { edges { node { targetId sourceIp } } } }',
      {},
      as(registry.adminToken),
    );
    expect(log.data!.auditLog.edges[0]!.node).toEqual({ targetId: 'nobody', sourceIp: '203.0.113.7' });
  });

  it('source CIDR: allows from the office network (X-Forwarded-For from a trusted proxy), denies elsewhere', async () => {
    const policy = await createPolicy(registry, allowFor('office', ['net.*'], { conditions: { sourceCidrs: [OFFICE] } }));
    const allowed = await execute(registry, agent.token, 'net.ping', {}, fromOffice);
    expect(allowed).toMatchObject({ status: 'SUCCEEDED', result: { ok: true } });
    expect(allowed.decision).toMatchObject({ allowed: true, policy: { id: policy.id } });
    const yes = await explain(registry, agent.token, { tool: 'net.ping' }, fromOffice);
    expect(yes).toMatchObject({ allowed: true, decidingPolicy: { id: policy.id } });
    expect(evaluationOf(yes, policy.id).reasons).toContain(`source address: 203.0.113.7 inside ${OFFICE}`);

    // Elsewhere, no header (127.0.0.1), a spoofed hop left of the real client, garbage: all fail the condition.
    for (const headers of [fromElsewhere, {}, { 'x-forwarded-for': '203.0.113.7, 198.51.100.7' }, { 'x-forwarded-for': 'not-an-address' }]) {
      const denied = await execute(registry, agent.token, 'net.ping', {}, headers);
      expect(denied, JSON.stringify(headers)).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' } });
    }
    const no = await explain(registry, agent.token, { tool: 'net.ping' }, fromElsewhere);
    expect(no).toMatchObject({ allowed: false, decidingPolicy: null });
    expect(evaluationOf(no, policy.id)).toMatchObject({ matched: true, applied: false });
    expect(evaluationOf(no, policy.id).reasons).toContain(`source address: 198.51.100.7 outside ${OFFICE}`);
    // explainAccess may be asked about another address.
    expect((await explain(registry, agent.token, { tool: 'net.ping', sourceIp: '203.0.113.200' }, fromElsewhere)).allowed).toBe(true);

    // A deny on one address inside the network, at a higher priority, carves it out.
    const carve = await createPolicy(registry, {
      name: unique('carve'),
      effect: 'DENY',
      priority: 5,
      resources: { tools: ['net.*'] },
      actions: ['EXECUTE'],
      conditions: { sourceCidrs: ['203.0.113.7'] },
    });
    expect((await execute(registry, agent.token, 'net.ping', {}, fromOffice)).status).toBe('DENIED');
    expect((await execute(registry, agent.token, 'net.ping', {}, { 'x-forwarded-for': '203.0.113.8' })).status).toBe('SUCCEEDED');
    expect((await explain(registry, agent.token, { tool: 'net.ping' }, fromOffice)).decidingPolicy).toMatchObject({ id: carve.id, effect: 'DENY' });
  });

  it('argument constraint: allows calls whose arguments satisfy the JSON Schema, denies the others', async () => {
    const constraint = { type: 'object', properties: { amount: { type: 'number', maximum: 100 }, currency: { enum: ['EUR'] } }, required: ['amount'] };
    const policy = await createPolicy(registry, allowFor('small-payments', ['pay.transfer'], { conditions: { arguments: constraint } }));
    const allowed = await execute(registry, agent.token, 'pay.transfer', { amount: 40, currency: 'EUR' });
    expect(allowed).toMatchObject({ status: 'SUCCEEDED', result: { ok: true }, decision: { allowed: true, policy: { id: policy.id } } });
    const yes = await explain(registry, agent.token, { tool: 'pay.transfer', arguments: { amount: 100 } });
    expect(yes).toMatchObject({ allowed: true, decidingPolicy: { id: policy.id } });
    expect(evaluationOf(yes, policy.id).reasons).toContain('arguments: satisfy the constraint');

    for (const args of [{ amount: 500 }, { amount: 40, currency: 'USD' }, {}, { amount: '40' }]) {
      const denied = await execute(registry, agent.token, 'pay.transfer', args);
      expect(denied, JSON.stringify(args)).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' }, decision: { allowed: false, policy: null } });
    }
    const no = await explain(registry, agent.token, { tool: 'pay.transfer', arguments: { amount: 500 } });
    expect(no).toMatchObject({ allowed: false, decidingPolicy: null });
    expect(evaluationOf(no, policy.id).reasons.join('\n')).toMatch(/arguments: do not satisfy the constraint: arguments\/amount must be <= 100/);
  });

  it('inheritance: a child inherits its (inactive) parent’s CIDR condition; a cycle is refused', async () => {
    const parent = await createPolicy(registry, {
      name: unique('office-network'),
      effect: 'ALLOW',
      resources: { tools: ['nothing.*'] },
      actions: ['EXECUTE'],
      conditions: { sourceCidrs: [OFFICE] },
      active: false,
    });
    const child = await createPolicy(registry, allowFor('inherits-office', ['inherit.*'], { parentId: parent.id }));
    expect(child.parentId).toBe(parent.id);

    const allowed = await execute(registry, agent.token, 'inherit.call', {}, fromOffice);
    expect(allowed).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: child.id } } });
    const yes = await explain(registry, agent.token, { tool: 'inherit.call' }, fromOffice);
    expect(yes.decidingPolicy).toMatchObject({ id: child.id });
    expect(evaluationOf(yes, child.id).reasons).toContain(`source address (inherited from "${parent.name}"): 203.0.113.7 inside ${OFFICE}`);
    expect(evaluationOf(yes, parent.id)).toMatchObject({ matched: false, applied: false, reasons: ['inactive: ignored'] });

    const denied = await execute(registry, agent.token, 'inherit.call', {}, fromElsewhere);
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' } });
    const no = await explain(registry, agent.token, { tool: 'inherit.call' }, fromElsewhere);
    expect(no.decidingPolicy).toBeNull();
    expect(evaluationOf(no, child.id)).toMatchObject({ matched: true, applied: false });
    expect(evaluationOf(no, child.id).reasons).toContain(`source address (inherited from "${parent.name}"): 198.51.100.7 outside ${OFFICE}`);

    // Without the parent the child holds everywhere.
    await updatePolicy(registry, child.id, { ...inputOf(child), parentId: null });
    expect((await execute(registry, agent.token, 'inherit.call', {}, fromElsewhere)).status).toBe('SUCCEEDED');
    await updatePolicy(registry, child.id, inputOf(child));

    const cycle = await updatePolicyPayload(registry, parent.id, { ...inputOf(parent), parentId: child.id });
    expect(cycle.userErrors).toEqual([{ field: [], message: expect.stringMatching(/^policy cycle: /), code: 'BAD_USER_INPUT' }]);
    // The refused update changed nothing: the child still inherits.
    expect((await execute(registry, agent.token, 'inherit.call', {}, fromElsewhere)).status).toBe('DENIED');
  });

  it('priorities: a higher deny beats an allow, a higher allow beats the deny, a deny wins a tie', async () => {
    const base = await createPolicy(registry, allowFor('prio-base', ['prio.*']));
    expect(await execute(registry, agent.token, 'prio.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: base.id } } });

    const deny = await createPolicy(registry, { name: unique('prio-deny'), effect: 'DENY', priority: 10, resources: { tools: ['prio.call'] }, actions: ['EXECUTE'] });
    const denied = await execute(registry, agent.token, 'prio.call');
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' }, decision: { allowed: false, policy: { id: deny.id } } });
    expect(denied.error!.message).toContain(`denied by "${deny.name}" (deny, priority 10)`);
    const no = await explain(registry, agent.token, { tool: 'prio.call' });
    expect(no).toMatchObject({ allowed: false, decidingPolicy: { id: deny.id, priority: 10 }, reason: `denied by "${deny.name}" (deny, priority 10)` });
    expect(evaluationOf(no, base.id)).toMatchObject({ matched: true, applied: true });

    const override = await createPolicy(registry, allowFor('prio-override', ['prio.call'], { priority: 20 }));
    expect(await execute(registry, agent.token, 'prio.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: override.id } } });
    expect((await explain(registry, agent.token, { tool: 'prio.call' })).decidingPolicy).toMatchObject({ id: override.id, priority: 20 });

    await updatePolicy(registry, deny.id, { ...inputOf(deny), priority: 20 });
    expect(await execute(registry, agent.token, 'prio.call')).toMatchObject({ status: 'DENIED', decision: { policy: { id: deny.id } } });
    await updatePolicy(registry, deny.id, { ...inputOf(deny), priority: 20, active: false });
    expect(await execute(registry, agent.token, 'prio.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: override.id } } });
  });

  it('rate limit: the fourth call in the window is DENIED with RATE_LIMITED, per principal and tool', async () => {
    const second = await principal(registry);
    const policy = await createPolicy(registry, {
      ...allowFor('rate', ['rate.*']),
      subjects: { principals: [agent.id, second.id] },
      limits: { rate: { calls: 3, windowSeconds: 60 } },
    });
    for (let i = 0; i < 3; i += 1) expect((await execute(registry, agent.token, 'rate.call')).status).toBe('SUCCEEDED');
    const limited = await execute(registry, agent.token, 'rate.call');
    expect(limited).toMatchObject({ status: 'DENIED', result: null, error: { code: 'RATE_LIMITED', details: { policyId: policy.id } } });
    const retry = limited.error!.details!.retryAfterSeconds as number;
    // At most the window plus one of its 60 slots (the sliding window counts in slots of 1 s here).
    expect(Number.isInteger(retry) && retry >= 1 && retry <= 61, String(retry)).toBe(true);
    expect((await execute(registry, agent.token, 'rate.call')).error?.code).toBe('RATE_LIMITED');
    // Other tools and other principals have their own counters.
    expect((await execute(registry, agent.token, 'rate.other')).status).toBe('SUCCEEDED');
    expect((await execute(registry, second.token, 'rate.call')).status).toBe('SUCCEEDED');
    // The policy still allows: explainAccess does not count calls.
    expect((await explain(registry, agent.token, { tool: 'rate.call' })).allowed).toBe(true);
  });

  it('quota: the third call of the day is DENIED with QUOTA_EXCEEDED', async () => {
    const policy = await createPolicy(registry, allowFor('quota', ['quota.*'], { limits: { quota: { calls: 2, period: 'DAY' } } }));
    expect((await execute(registry, agent.token, 'quota.call')).status).toBe('SUCCEEDED');
    expect((await execute(registry, agent.token, 'quota.call')).status).toBe('SUCCEEDED');
    const exceeded = await execute(registry, agent.token, 'quota.call');
    expect(exceeded).toMatchObject({ status: 'DENIED', error: { code: 'QUOTA_EXCEEDED', details: { policyId: policy.id } } });
    const retry = exceeded.error!.details!.retryAfterSeconds as number;
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(86_400);
  });

  it('limits longer than a JS timer can wait (a month) are enforced too', async () => {
    await importTools(registry, 'long', [{ name: 'quota' }, { name: 'rate' }]);
    const quota = await createPolicy(registry, allowFor('month', ['long.quota'], { limits: { quota: { calls: 2, period: 'MONTH' } } }));
    const rate = await createPolicy(registry, allowFor('thirty-days', ['long.rate'], { limits: { rate: { calls: 2, windowSeconds: 30 * 86_400 } } }));
    for (const [tool, policy, code] of [
      ['long.quota', quota, 'QUOTA_EXCEEDED'],
      ['long.rate', rate, 'RATE_LIMITED'],
    ] as const) {
      for (let i = 0; i < 2; i += 1) {
        expect((await execute(registry, agent.token, tool)).status, `${tool} call ${i + 1}`).toBe('SUCCEEDED');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const refused = await execute(registry, agent.token, tool);
      expect(refused, tool).toMatchObject({ status: 'DENIED', error: { code, details: { policyId: policy.id } } });
      const retry = refused.error!.details!.retryAfterSeconds as number;
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(31 * 86_400);
    }
  });

  it('subjects: a policy naming a principal id or a role applies to it and to no one else', async () => {
    const publisher = await principal(registry, ['publisher'], ['tools:execute']);
    const otherAgent = await principal(registry);
    const byId = await createPolicy(registry, allowFor('subj-id', ['subj.*']));
    const byRole = await createPolicy(registry, { name: unique('subj-role'), effect: 'ALLOW', subjects: { roles: ['publisher'] }, resources: { tools: ['subj.*'] }, actions: ['EXECUTE'] });

    expect(await execute(registry, agent.token, 'subj.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: byId.id } } });
    expect(await execute(registry, publisher.token, 'subj.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: byRole.id } } });
    const denied = await execute(registry, otherAgent.token, 'subj.call');
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'POLICY_DENIED' } });
    const no = await explain(registry, otherAgent.token, { tool: 'subj.call' });
    expect(evaluationOf(no, byId.id).reasons[0]).toMatch(new RegExp(`^subject: principal ${otherAgent.id} with roles \\[agent\\] is not among principals \\[${agent.id}\\]`));
    expect(evaluationOf(no, byRole.id)).toMatchObject({ matched: false });
    expect(evaluationOf((await explain(registry, publisher.token, { tool: 'subj.call' })), byRole.id).reasons).toContain('subject: role publisher matches');
  });

  it('default deny: a call no policy allows is DENIED, for admins too', async () => {
    await importTools(registry, 'plain', [{ name: 'call' }]);
    const policy = await createPolicy(registry, allowFor('plain', ['plain.*']));
    expect(await execute(registry, agent.token, 'plain.call')).toMatchObject({ status: 'SUCCEEDED', decision: { policy: { id: policy.id } } });
    await updatePolicy(registry, policy.id, { ...inputOf(policy), active: false });
    for (const token of [agent.token, registry.adminToken]) {
      const denied = await execute(registry, token, 'plain.call');
      expect(denied).toMatchObject({
        status: 'DENIED',
        result: null,
        error: { code: 'POLICY_DENIED', message: 'denied: no policy applies (default deny)' },
        decision: { allowed: false, reason: 'denied: no policy applies (default deny)', policy: null },
      });
    }
    const why = await explain(registry, agent.token, { tool: 'plain.call' });
    expect(why).toMatchObject({ allowed: false, decidingPolicy: null, reason: 'denied: no policy applies (default deny)' });
    expect(why.evaluations.filter((e) => e.applied)).toEqual([]);
    expect(evaluationOf(why, policy.id).reasons).toEqual(['inactive: ignored']);
  });

  it('explainAccess: admins ask about anyone, others only about themselves; it lists every policy with reasons', async () => {
    const other = await principal(registry);
    const forOther = await explain(registry, registry.adminToken, { tool: 'subj.call', principal: agent.id });
    expect(forOther).toMatchObject({ allowed: true });
    const forOther2 = await explain(registry, registry.adminToken, { tool: 'subj.call', principal: other.id });
    expect(forOther2).toMatchObject({ allowed: false, decidingPolicy: null, reason: 'denied: no policy applies (default deny)' });

    const refused = await registry.graphql(EXPLAIN, { tool: 'subj.call', action: 'EXECUTE', principal: agent.id }, as(other.token));
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(refused.data).toBeNull();
    const self = await explain(registry, other.token, { tool: 'subj.call', principal: other.id });
    expect(self.allowed).toBe(false);
    const unknown = await registry.graphql(EXPLAIN, { tool: 'subj.call', action: 'EXECUTE', principal: randomUUID() }, as(registry.adminToken));
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const policies = await allPolicies(registry);
    expect(forOther.evaluations.map((e) => e.policyId)).toEqual(policies.map((p) => p.id));
    for (const evaluation of forOther.evaluations) {
      expect(evaluation.reasons.length, evaluation.name).toBeGreaterThan(0);
      const policy = policies.find((p) => p.id === evaluation.policyId)!;
      if (!policy.active) expect(evaluation.reasons).toEqual(['inactive: ignored']);
      else expect(evaluation.reasons.some((r) => r.startsWith('action: execute'))).toBe(true);
    }
    const catalogRead = forOther.evaluations.find((e) => e.name === 'default-catalog-read')!;
    expect(catalogRead).toMatchObject({ matched: false, applied: false });
    expect(catalogRead.reasons).toContain('action: execute not in [read]');
  });
});

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe('two instances sharing PostgreSQL and Redis', () => {
  let first: TestRegistry | undefined;
  let second: TestRegistry | undefined;
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it.runIf(SHARED)('share one rate limit: 200 concurrent calls against a limit of 100 → exactly 100 succeed', async () => {
    first = await startRegistry();
    second = await startRegistry({ shareDatabaseWith: first });
    const provider = `burst_${randomUUID().slice(0, 8)}`;
    await importTools(first, provider, [{ name: 'call' }]);
    const client = await first.createClient({ roles: ['agent'] });
    const tokens = [(await first.tokenFor(client)).access_token, (await second.tokenFor(client)).access_token];
    const policy = await createPolicy(first, {
      name: unique('burst'),
      effect: 'ALLOW',
      priority: 10,
      subjects: { principals: [client.principalId] },
      resources: { tools: [`${provider}.*`] },
      actions: ['EXECUTE'],
      limits: { rate: { calls: 100, windowSeconds: 60 } },
    });
    // The second instance sees the policy the first one stored.
    expect((await explain(second, tokens[1]!, { tool: `${provider}.call` })).decidingPolicy).toMatchObject({ id: policy.id });

    const registries = [first, second];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => execute(registries[i % 2]!, tokens[i % 2]!, `${provider}.call`)),
    );
    const byStatus = (status: string, instance?: number) =>
      results.filter((r, i) => r.status === status && (instance === undefined || i % 2 === instance));
    expect(byStatus('SUCCEEDED')).toHaveLength(100);
    expect(byStatus('DENIED')).toHaveLength(100);
    expect(byStatus('DENIED').every((r) => r.error?.code === 'RATE_LIMITED' && r.error.details?.policyId === policy.id)).toBe(true);
    // Both instances took part in succeeding and refusing.
    expect(byStatus('SUCCEEDED', 0).length + byStatus('SUCCEEDED', 1).length).toBe(100);
    expect(byStatus('SUCCEEDED', 0).length).toBeGreaterThan(0);
    expect(byStatus('SUCCEEDED', 1).length).toBeGreaterThan(0);
  }, 120_000);
});
