import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialService } from '../../src/modules/credential/index.js';
import { callableGuard, findCallable } from '../../src/modules/execution/execution.admit.js';
import { ErrorCode } from '../../src/errors.js';
import { ExecutionMode, ExecutionStatus } from '../../src/modules/execution/execution.entity.js';
import { ExecutionRecords } from '../../src/modules/execution/execution.record.js';
import { PROVIDER_AUTH_REFERENCE } from '../../src/modules/provider/provider-auth.js';
import { manual, manualTool } from '../helpers/factories.js';
import { type ScriptedPeer, scriptedPeer, sendJson } from '../helpers/peers/execution-peer.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * A keyless call of a tool this process called before is decided on the tool as remembered, and its
 * first statement stores it only while the tool, its provider, credentials and variables are as
 * they were read (execution.callables.ts). These tests change each of them — through the API, behind
 * the registry's back, on another replica — and require the next call to act on the change.
 */

const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status result error { code message } } }`;
const FIRST_KEY = `first-${randomUUID()}`;
const SECOND_KEY = `second-${randomUUID()}`;
const TOOLS = ['echo', 'toggled', 'replicated', 'hidden', 'limited', 'signed', 'removed'];

interface Execution {
  id: string;
  status: string;
  result: { key: 'first' | 'second' | 'other'; signed: boolean } | null;
  error: { code: string; message: string } | null;
}

let registry: TestRegistry;
let peer: ScriptedPeer;
let publisher: string;
let agent: string;
let agentId: string;
let providerId: string;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function execute(tool: string, token = agent, on: TestRegistry = registry): Promise<{ execution: Execution; statements: string[] }> {
  on.resetQueryLog();
  const res = await on.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool: `remembered.${tool}`, arguments: { q: 'x' } } }, bearer(token));
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return { execution: res.data!.executeTool, statements: [...on.queries] };
}

/** Whether a statement reads the tool (the full read, not a claim's check of its versions). */
const readsTool = (sql: string) => /^\s*select\b/i.test(sql) && sql.includes('from tool t join provider pr');
const hits = (route: string) => peer.requests.filter((r) => r.route === route).length;

async function toolId(name: string): Promise<string> {
  const res = await registry.graphql<{ tool: { id: string } }>(`query($name: String!) { tool(name: $name) { id } }`, { name: `remembered.${name}` }, bearer(registry.adminToken));
  return res.data!.tool.id;
}

async function counts(tool: string): Promise<{ executions: number; audits: number }> {
  const [row] = await registry.db.statement<{ executions: string | number; audits: string | number }>(
    `select (select count(*) from execution where tool_name = ?) as executions,
            (select count(*) from audit_entry where action = 'tool.execute' and details->>'tool' = ?) as audits`,
    [`remembered.${tool}`, `remembered.${tool}`],
  );
  return { executions: Number(row!.executions), audits: Number(row!.audits) };
}

beforeAll(async () => {
  const tools = TOOLS.map((name) =>
    manualTool({ name, inputs: { type: 'object', properties: { q: { type: 'string' } } }, tool_call_template: { call_template_type: 'http', url: '', http_method: 'POST' } }),
  );
  peer = await scriptedPeer({
    '/manual.json': (_req, res) => {
      for (const tool of tools) (tool.tool_call_template as { url: string }).url = `${peer.url}/call/${String(tool.name)}`;
      sendJson(res, 200, manual(tools));
    },
    // Which key came (the registry redacts the key itself from what the upstream answers).
    '/call/': (req, res) => {
      const sent = req.headers['x-api-key'];
      sendJson(res, 200, { key: sent === FIRST_KEY ? 'first' : sent === SECOND_KEY ? 'second' : 'other', signed: req.headers['signature-input'] !== undefined });
    },
  });
  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  publisher = await registry.login({ roles: ['publisher'] });
  const agentClient = await registry.createClient({ roles: ['agent'] });
  agentId = agentClient.principalId;
  agent = (await registry.tokenFor(agentClient)).access_token;
  const res = await registry.graphql<{ registerProvider: { provider: { id: string }; userErrors: unknown[] } }>(
    `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { message } } }`,
    {
      input: {
        name: 'remembered',
        callTemplate: { call_template_type: 'http', url: `${peer.url}/manual.json`, http_method: 'GET', auth: { auth_type: 'api_key', api_key: FIRST_KEY, var_name: 'X-Api-Key', location: 'header' } },
      },
    },
    bearer(publisher),
  );
  expect(res.data!.registerProvider.userErrors).toEqual([]);
  providerId = res.data!.registerProvider.provider.id;
});

afterAll(async () => {
  await registry?.close();
  await peer?.close();
});

describe('a remembered tool', () => {
  it('is read once: the next keyless call is stored and finished in two statements with the same answer', async () => {
    const first = await execute('echo');
    expect(first.execution).toMatchObject({ status: 'SUCCEEDED', result: { key: 'first' } });
    expect(first.statements.filter(readsTool)).toHaveLength(1);
    const second = await execute('echo');
    expect(second.execution).toMatchObject({ status: 'SUCCEEDED', result: { key: 'first' } });
    expect(second.statements.filter(readsTool)).toEqual([]);
    expect(second.statements).toHaveLength(2);
    expect(second.statements[0]).toMatch(/^\s*insert into execution[\s\S]+where exists \(select 1 from tool t join provider pr/);
  });

  it('is read again when its credential changed behind the API (no message announced it): the call sends the new key', async () => {
    await execute('echo');
    await new CredentialService(registry.db.fork(), registry.security.vault).set({
      providerId,
      reference: PROVIDER_AUTH_REFERENCE,
      authType: 'api_key' as never,
      secret: { api_key: SECOND_KEY },
      settings: { var_name: 'X-Api-Key', location: 'header' },
    });
    const { execution, statements } = await execute('echo');
    expect(execution).toMatchObject({ status: 'SUCCEEDED', result: { key: 'second' } });
    // The claim on the remembered tool stored nothing; the tool was read, and the call claimed again.
    expect(statements.filter(readsTool)).toHaveLength(1);
    expect(peer.requests.at(-1)!.headers['x-api-key']).toBe(SECOND_KEY);
  });

  it('is refused once disabled by a statement of another writer, without reaching the upstream', async () => {
    await execute('toggled');
    const before = hits('/call/');
    await registry.db.statement(`update tool set enabled = false where name = ?`, ['remembered.toggled']);
    const { execution } = await execute('toggled');
    expect(execution).toMatchObject({ status: 'FAILED', error: { code: 'TOOL_UNAVAILABLE' } });
    expect(hits('/call/')).toBe(before);
    await registry.db.statement(`update tool set enabled = true where name = ?`, ['remembered.toggled']);
    expect((await execute('toggled')).execution.status).toBe('SUCCEEDED');
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('is refused once another replica disabled it', async () => {
    const replica = await startRegistry({ shareDatabaseWith: registry, env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
    try {
      await execute('replicated');
      const res = await replica.graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
        `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
        { input: { toolId: await toolId('replicated'), enabled: false } },
        bearer(replica.adminToken),
      );
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      const before = hits('/call/');
      expect((await execute('replicated')).execution).toMatchObject({ status: 'FAILED', error: { code: 'TOOL_UNAVAILABLE' } });
      expect(hits('/call/')).toBe(before);
    } finally {
      await replica.close();
    }
  });

  it('is not found once a policy hides it from the caller', async () => {
    await execute('hidden');
    const created = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
      { input: { name: 'hide-remembered', effect: 'DENY', priority: 50, actions: ['READ', 'EXECUTE'], resources: { tools: ['remembered.hidden'] }, subjects: { principals: [agentId] } } },
      bearer(registry.adminToken),
    );
    expect(created.data!.createPolicy.userErrors).toEqual([]);
    const res = await registry.graphql(EXECUTE, { input: { tool: 'remembered.hidden', arguments: {} } }, bearer(agent));
    expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('goes out signed once its provider is set to sign', async () => {
    expect((await execute('signed')).execution.result).toMatchObject({ signed: false });
    const res = await registry.graphql<{ setProviderTransportSecurity: { userErrors: unknown[] } }>(
      `mutation($input: SetProviderTransportSecurityInput!) { setProviderTransportSecurity(input: $input) { userErrors { message } } }`,
      { input: { id: providerId, requestSigning: 'SIGN' } },
      bearer(publisher),
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.setProviderTransportSecurity.userErrors).toEqual([]);
    expect((await execute('signed')).execution.result).toMatchObject({ signed: true });
    await registry.graphql(
      `mutation($input: SetProviderTransportSecurityInput!) { setProviderTransportSecurity(input: $input) { userErrors { message } } }`,
      { input: { id: providerId, requestSigning: 'OFF' } },
      bearer(publisher),
    );
  });

  it('found changed leaves no trace of the attempt and charges the call once', async () => {
    const created = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
      {
        input: {
          name: 'limit-remembered',
          effect: 'ALLOW',
          priority: 60,
          actions: ['EXECUTE'],
          resources: { tools: ['remembered.limited'] },
          subjects: { principals: [agentId] },
          limits: { rate: { calls: 2, windowSeconds: 3600 } },
        },
      },
      bearer(registry.adminToken),
    );
    expect(created.data!.createPolicy.userErrors).toEqual([]);
    expect((await execute('limited')).execution.status).toBe('SUCCEEDED');
    // Any new version of the tool's row: the remembered tool no longer matches.
    await registry.db.statement(`update tool set description = description where name = ?`, ['remembered.limited']);
    const second = await execute('limited');
    expect(second.execution.status).toBe('SUCCEEDED');
    expect(second.statements.filter(readsTool)).toHaveLength(1);
    // Charged once for the second call, so the third is over the limit of two.
    expect((await execute('limited')).execution).toMatchObject({ status: 'DENIED', error: { code: 'RATE_LIMITED' } });
    // Three calls, three executions, three audit entries: the attempt on the changed tool wrote nothing.
    expect(await counts('limited')).toEqual({ executions: 3, audits: 3 });
  });

  it('is refused once its provider is removed', async () => {
    await execute('removed');
    const res = await registry.graphql<{ removeProvider: { userErrors: unknown[] } }>(
      `mutation($input: ProviderIdInput!) { removeProvider(input: $input) { userErrors { message } } }`,
      { input: { id: providerId } },
      bearer(publisher),
    );
    expect(res.data!.removeProvider.userErrors).toEqual([]);
    const before = hits('/call/');
    const { execution } = await execute('removed');
    expect(execution).toMatchObject({ status: 'FAILED', error: { code: 'TOOL_UNAVAILABLE' } });
    expect(hits('/call/')).toBe(before);
  });
});

describe("a claim's check of a remembered tool", () => {
  it('stores nothing, and audits nothing, when a version differs; stores the call when they are current', async () => {
    const tool = await findCallable(registry.db, 'remembered.echo', null);
    expect(tool).not.toBeNull();
    const records = new ExecutionRecords(registry.db, `test-${randomUUID()}`);
    const call = () => ({
      id: randomUUID(),
      createdAt: new Date(),
      toolId: tool!.id,
      toolName: tool!.name,
      principalId: agentId,
      requestId: null,
      args: { q: 'x' },
      mode: ExecutionMode.SYNC,
      key: null,
      timeoutMs: 1000,
    });
    const before = await counts('echo');
    const stale = callableGuard({ id: tool!.id, version: `${tool!.version}0` });
    expect(await records.claim(call(), { allowed: true }, stale)).toBeNull();
    expect(await records.refuse(call(), { status: ExecutionStatus.DENIED, error: { code: ErrorCode.POLICY_DENIED, message: 'no' } }, { principalId: agentId }, stale)).toBeNull();
    expect(await counts('echo')).toEqual(before);
    const current = callableGuard(tool!);
    const claimed = await records.claim(call(), { allowed: true }, current);
    expect(claimed).toMatchObject({ status: ExecutionStatus.RUNNING, toolName: 'remembered.echo', attempts: 1 });
    const refused = await records.refuse(call(), { status: ExecutionStatus.DENIED, error: { code: ErrorCode.POLICY_DENIED, message: 'no' } }, { principalId: agentId }, current);
    expect(refused).toMatchObject({ status: ExecutionStatus.DENIED });
    expect(await counts('echo')).toEqual({ executions: before.executions + 2, audits: before.audits + 1 });
  });
});
