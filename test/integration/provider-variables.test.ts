import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderVariable } from '../../src/modules/variable/index.js';
import { type ScriptedPeer, scriptedPeer, sendJson } from '../helpers/peers/execution-peer.js';
import { type GraphQLResponse, startRegistry, type TestRegistry } from '../helpers/registry.js';

const NEWSAPI = new URL('../fixtures/utcp/newsapi_manual.json', import.meta.url);
const PETSTORE = new URL('../fixtures/openapi/petstore-expanded.yaml', import.meta.url);

/** The key the publisher sets: it must reach the peer's header and nothing else. */
const NEWS_API_KEY = `news-${randomBytes(12).toString('hex')}`;

const REGISTER = `mutation($input: RegisterProviderInput!) {
  registerProvider(input: $input) { provider { id name } created warnings userErrors { field message code } }
}`;
const SET = `mutation($input: SetProviderVariablesInput!) {
  setProviderVariables(input: $input) {
    provider { id name missingVariables }
    variables { name secret value updatedAt }
    userErrors { field message code }
  }
}`;
const VIEW = `query($id: ID!) { provider(id: $id) { name variables { name secret value updatedAt } missingVariables } }`;
const EXECUTE = `mutation($input: ExecuteToolInput!) {
  executeTool(input: $input) { id status arguments result error { code message details } }
}`;

interface Variable {
  name: string;
  secret: boolean;
  value: string | null;
  updatedAt: string;
}
interface SetPayload {
  provider: { id: string; name: string; missingVariables: string[] } | null;
  variables: Variable[] | null;
  userErrors: { field: string[]; message: string; code: string }[];
}
interface Execution {
  id: string;
  status: string;
  arguments: unknown;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
}

let registry: TestRegistry;
let peer: ScriptedPeer;
let publisher: string;
let otherPublisher: string;
let agent: string;
let providerId: string;
let logged = '';
/** Every GraphQL answer, checked for the key at the end. */
const responses: string[] = [];

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function gql<T>(query: string, variables: Record<string, unknown>, token: string): Promise<GraphQLResponse<T>> {
  const res = await registry.graphql<T>(query, variables, bearer(token));
  responses.push(JSON.stringify({ data: res.data, errors: res.errors }));
  return res;
}

async function setVariables(input: Record<string, unknown>, token = publisher): Promise<SetPayload> {
  const res = await gql<{ setProviderVariables: SetPayload }>(SET, { input: { providerId, ...input } }, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.setProviderVariables;
}

async function view(token = publisher, id = providerId) {
  const res = await gql<{ provider: { name: string; variables: Variable[]; missingVariables: string[] } }>(VIEW, { id }, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.provider;
}

async function execute(tool: string, args: Record<string, unknown>): Promise<Execution> {
  const res = await gql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: args } }, agent);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

/** The newsapi fixture, unchanged but for its tools' URLs, which point at the local peer. */
async function localNewsApiManual(peerUrl: string): Promise<Record<string, unknown>> {
  const manual = JSON.parse(await readFile(NEWSAPI, 'utf8')) as { tools: { tool_call_template: { url: string } }[] };
  for (const tool of manual.tools) tool.tool_call_template.url = tool.tool_call_template.url.replace('https://newsapi.org', peerUrl);
  return manual;
}

beforeAll(async () => {
  let manual: Record<string, unknown> = {};
  peer = await scriptedPeer({
    '/manual.json': (_req, res) => sendJson(res, 200, manual),
    // A leaky upstream: it repeats the key it was sent, in the body of a success and of a refusal.
    '/v2/everything': (req, res) => {
      const url = new URL(req.url!, 'http://peer');
      sendJson(res, 200, { status: 'ok', totalResults: 1, articles: [{ title: `News about ${url.searchParams.get('q')}`, seenKey: req.headers['x-api-key'] ?? null }] });
    },
    '/v2/top-headlines': (req, res) => sendJson(res, 401, { status: 'error', code: 'apiKeyInvalid', message: `Your API key ${String(req.headers['x-api-key'])} is invalid` }),
  });
  manual = await localNewsApiManual(peer.url);
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  registry = await startRegistry({ logStream, env: { LOG_LEVEL: 'trace', REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  [publisher, otherPublisher, agent] = await Promise.all([
    registry.login({ roles: ['publisher'] }),
    registry.login({ roles: ['publisher'] }),
    registry.login({ roles: ['agent'] }),
  ]);
  const res = await gql<{ registerProvider: { provider: { id: string }; created: string[]; warnings: string[]; userErrors: unknown[] } }>(
    REGISTER,
    { input: { name: 'newsapi', callTemplate: { call_template_type: 'http', url: `${peer.url}/manual.json`, http_method: 'GET' } } },
    publisher,
  );
  expect(res.data!.registerProvider.userErrors).toEqual([]);
  expect(res.data!.registerProvider.created.sort()).toEqual(['newsapi.everything_get', 'newsapi.top_headlines_get']);
  expect(res.data!.registerProvider.warnings).toContainEqual(expect.stringContaining('NEWS_API_KEY'));
  providerId = res.data!.registerProvider.provider.id;
});

afterAll(async () => {
  await registry?.close();
  await peer?.close();
});

describe('provider variables', () => {
  it('lists the variable the registered newsapi manual needs, and a call before it is set fails with VARIABLE_MISSING without reaching the upstream', async () => {
    expect(await view()).toEqual({ name: 'newsapi', variables: [], missingVariables: ['NEWS_API_KEY'] });
    const execution = await execute('newsapi.everything_get', { q: 'robots' });
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toMatchObject({ code: 'VARIABLE_MISSING', details: { variable: 'NEWS_API_KEY' } });
    expect(execution.error!.message).toContain('NEWS_API_KEY');
    expect(execution.error!.message).toContain('setProviderVariables');
    expect(peer.hits('/v2/everything')).toBe(0);
  });

  it('calls the tool with a secret variable set through the API: the key in the header the manual names, [REDACTED] where the upstream repeats it', async () => {
    const set = await setVariables({ variables: [{ name: 'NEWS_API_KEY', value: NEWS_API_KEY, secret: true }] });
    expect(set.userErrors).toEqual([]);
    expect(set.variables).toEqual([{ name: 'NEWS_API_KEY', secret: true, value: null, updatedAt: expect.any(String) }]);
    expect(set.provider!.missingVariables).toEqual([]);
    expect(await view()).toMatchObject({ variables: [{ name: 'NEWS_API_KEY', secret: true, value: null }], missingVariables: [] });

    const execution = await execute('newsapi.everything_get', { q: 'robots' });
    expect(execution.status, JSON.stringify(execution.error)).toBe('SUCCEEDED');
    const received = peer.requests.filter((r) => r.route === '/v2/everything');
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['x-api-key']).toBe(NEWS_API_KEY);
    expect(received[0]!.url).toBe('/v2/everything?q=robots');
    expect(execution.result).toEqual({ status: 'ok', totalResults: 1, articles: [{ title: 'News about robots', seenKey: '[REDACTED]' }] });
  });

  it('keeps the secret variable out of the error of a call the upstream refuses while repeating it', async () => {
    const execution = await execute('newsapi.top_headlines_get', { country: 'us' });
    expect(execution.status).toBe('FAILED');
    expect(execution.error!.code).toBe('EXECUTION_FAILED');
    expect(peer.requests.filter((r) => r.route === '/v2/top-headlines').at(-1)!.headers['x-api-key']).toBe(NEWS_API_KEY);
    expect(execution.error!.message).toMatch(/Your API key \[redacted\] is invalid/i);
    expect(JSON.stringify(execution.error)).not.toContain(NEWS_API_KEY);
  });

  it('shows a plain variable’s value back, replaces values in place, switches secrecy, and removes variables', async () => {
    const plain = await setVariables({ variables: [{ name: 'REGION', value: 'eu-west', secret: false }, { name: 'TENANT', value: 'acme' }] });
    expect(plain.userErrors).toEqual([]);
    expect(plain.variables!.map(({ name, secret, value }) => ({ name, secret, value }))).toEqual([
      { name: 'NEWS_API_KEY', secret: true, value: null },
      { name: 'REGION', secret: false, value: 'eu-west' },
      // No `secret` given: a value is secret unless said otherwise.
      { name: 'TENANT', secret: true, value: null },
    ]);
    const switched = await setVariables({ variables: [{ name: 'TENANT', value: 'acme-corp', secret: false }], remove: ['REGION', 'NEVER_SET'] });
    expect(switched.userErrors).toEqual([]);
    expect((await view()).variables.map(({ name, value }) => ({ name, value }))).toEqual([
      { name: 'NEWS_API_KEY', value: null },
      { name: 'TENANT', value: 'acme-corp' },
    ]);
    const stored = await registry.db.fork().findOneOrFail(ProviderVariable, { provider: providerId, name: 'TENANT' });
    expect(stored).toMatchObject({ secret: false, value: 'acme-corp', ciphertext: null, keyId: null });
    const secretRow = await registry.db.fork().findOneOrFail(ProviderVariable, { provider: providerId, name: 'NEWS_API_KEY' });
    expect(secretRow).toMatchObject({ secret: true, value: null, keyId: registry.security.vault.keyId });
    expect(secretRow.ciphertext).toMatch(/^[A-Za-z0-9+/]+=*$/);

    expect((await setVariables({ remove: ['TENANT'] })).variables!.map((v) => v.name)).toEqual(['NEWS_API_KEY']);
  });

  it('refuses bad input with coded user errors that never repeat a value', async () => {
    const cases: [Record<string, unknown>, string, string[]][] = [
      [{ variables: [{ name: '1BAD', value: 'x' }] }, 'BAD_USER_INPUT', ['variables', '0', 'name']],
      [{ variables: [{ name: 'HAS-DASH', value: 'x' }] }, 'BAD_USER_INPUT', ['variables', '0', 'name']],
      [{ variables: [{ name: 'LONG', value: `${NEWS_API_KEY}${'x'.repeat(16_384)}` }] }, 'BAD_USER_INPUT', ['variables', '0', 'value']],
      [{ variables: [{ name: 'EMPTY', value: '' }] }, 'BAD_USER_INPUT', ['variables', '0', 'value']],
      [{ variables: [{ name: 'TWICE', value: NEWS_API_KEY }], remove: ['TWICE'] }, 'BAD_USER_INPUT', ['remove', '0']],
      [{ variables: [] }, 'BAD_USER_INPUT', ['variables']],
      [{ providerId: '00000000-0000-4000-8000-000000000000', variables: [{ name: 'X', value: NEWS_API_KEY }] }, 'NOT_FOUND', ['providerId']],
      [{ providerId: 'not-an-id', variables: [{ name: 'X', value: NEWS_API_KEY }] }, 'NOT_FOUND', ['providerId']],
    ];
    for (const [input, code, field] of cases) {
      const payload = await setVariables(input);
      expect(payload.userErrors, JSON.stringify(input).slice(0, 80)).toEqual([{ code, field, message: expect.any(String) }]);
      expect(payload.userErrors[0]!.message).not.toContain(NEWS_API_KEY);
      expect(payload.provider).toBeNull();
    }
    expect((await view()).variables.map((v) => v.name)).toEqual(['NEWS_API_KEY']);
  });

  it('lets neither a viewer nor another publisher set or read them', async () => {
    const input = { providerId, variables: [{ name: 'NEWS_API_KEY', value: 'stolen-key-attempt-000', secret: false }] };
    const asViewer = await gql<{ setProviderVariables: SetPayload }>(SET, { input }, registry.viewerToken);
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const readAsViewer = await gql(VIEW, { id: providerId }, registry.viewerToken);
    expect(readAsViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const asOther = await gql<{ setProviderVariables: SetPayload }>(SET, { input }, otherPublisher);
    expect(asOther.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Another publisher's provider shows no variables, as if it had none.
    expect(await view(otherPublisher)).toEqual({ name: 'newsapi', variables: [], missingVariables: [] });

    // An admin may manage them, and sees what the owner sees.
    expect((await view(registry.adminToken)).variables.map((v) => v.name)).toEqual(['NEWS_API_KEY']);
    // The key is unchanged: the call still authenticates with it.
    await execute('newsapi.everything_get', { q: 'again' });
    expect(peer.requests.filter((r) => r.route === '/v2/everything').at(-1)!.headers['x-api-key']).toBe(NEWS_API_KEY);
  });

  it('audits every change by name, never by value, in the transaction that makes it', async () => {
    const em = registry.db.fork();
    const entries = await em.execute<{ action: string; actor_id: string | null; target_id: string; details: Record<string, unknown> }[]>(
      `select action, actor_id, target_id, details from audit_entry where action = 'provider.setVariables' and outcome = 'success' order by seq`,
    );
    expect(entries.map((e) => e.details)).toEqual([
      { provider: 'newsapi', set: [{ name: 'NEWS_API_KEY', secret: true, replaced: false }], removed: [] },
      { provider: 'newsapi', set: [{ name: 'REGION', secret: false, replaced: false }, { name: 'TENANT', secret: true, replaced: false }], removed: [] },
      { provider: 'newsapi', set: [{ name: 'TENANT', secret: false, replaced: true }], removed: ['REGION'] },
      { provider: 'newsapi', set: [], removed: ['TENANT'] },
    ]);
    expect(new Set(entries.map((e) => e.target_id))).toEqual(new Set([providerId]));
    // Refused attempts change nothing; they are audited as denials, the viewer's by the rule tree, the other publisher's by the service.
    const denied = await em.execute<{ action: string; details: Record<string, unknown> }[]>(
      `select action, details from audit_entry where outcome = 'denied' and (action = 'provider.setVariables' or target_id = 'Mutation.setProviderVariables') order by seq`,
    );
    expect(denied).toEqual([
      { action: 'authorization.denied', details: { code: 'FORBIDDEN' } },
      { action: 'provider.setVariables', details: { provider: 'newsapi', set: ['NEWS_API_KEY'], removed: [], reason: 'not the owner' } },
    ]);
  });

  it('leaves the secret value in no response, log line, execution row, audit entry or variable row', async () => {
    const em = registry.db.fork();
    const tables = ['audit_entry', 'execution', 'provider', 'tool', 'credential', 'provider_variable'];
    const dump = (await Promise.all(tables.map((t) => em.execute(`select * from ${t}`)))).map((rows) => JSON.stringify(rows)).join('\n');
    expect(dump).toContain('NEWS_API_KEY');
    expect(responses.join('\n')).toContain('[REDACTED]');
    expect(logged.length).toBeGreaterThan(1000);
    const leaks = {
      responses: responses.filter((r) => r.includes(NEWS_API_KEY)),
      log: logged.split('\n').filter((line) => line.includes(NEWS_API_KEY)),
      database: dump.includes(NEWS_API_KEY),
    };
    expect(leaks).toEqual({ responses: [], log: [], database: false });
  });
});

describe('a removed provider', () => {
  it('loses its variables: removal deletes them, and a new registration of its name starts without them', async () => {
    const removed = await gql<{ removeProvider: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { removeProvider(input: { id: $id }) { userErrors { code } } }',
      { id: providerId },
      publisher,
    );
    expect(removed.data!.removeProvider.userErrors).toEqual([]);
    expect(await registry.db.fork().count(ProviderVariable, { provider: providerId })).toBe(0);
    const refused = await setVariables({ variables: [{ name: 'NEWS_API_KEY', value: 'after-removal-0001' }] });
    expect(refused.userErrors).toEqual([{ code: 'BAD_USER_INPUT', field: ['providerId'], message: expect.stringContaining('removed') }]);

    // Its owner registering the name again gets the provider back, without the variables.
    const template = { call_template_type: 'http', url: `${peer.url}/manual.json`, http_method: 'GET' };
    const again = await gql<{ registerProvider: { provider: { id: string }; userErrors: unknown[] } }>(
      REGISTER,
      { input: { name: 'newsapi', callTemplate: template } },
      publisher,
    );
    expect(again.data!.registerProvider.userErrors).toEqual([]);
    expect(again.data!.registerProvider.provider.id).toBe(providerId);
    expect(await view(publisher)).toEqual({ name: 'newsapi', variables: [], missingVariables: ['NEWS_API_KEY'] });

    // Another publisher gets the name only after an admin releases it, as a new provider with no variables.
    await setVariables({ variables: [{ name: 'NEWS_API_KEY', value: 'owner-again-0001' }] });
    const removedAgain = await gql<{ removeProvider: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { removeProvider(input: { id: $id }) { userErrors { code } } }',
      { id: providerId },
      publisher,
    );
    expect(removedAgain.data!.removeProvider.userErrors).toEqual([]);
    const released = await gql<{ releaseProviderName: { userErrors: unknown[] } }>(
      'mutation($name: String!) { releaseProviderName(input: { name: $name }) { userErrors { code } } }',
      { name: 'newsapi' },
      registry.adminToken,
    );
    expect(released.errors).toBeUndefined();
    expect(released.data!.releaseProviderName.userErrors).toEqual([]);
    const taken = await gql<{ registerProvider: { provider: { id: string }; userErrors: unknown[] } }>(
      REGISTER,
      { input: { name: 'newsapi', callTemplate: template } },
      otherPublisher,
    );
    expect(taken.data!.registerProvider.userErrors).toEqual([]);
    expect(taken.data!.registerProvider.provider.id).not.toBe(providerId);
    expect(await registry.db.fork().count(ProviderVariable, { provider: providerId })).toBe(0);
    expect(await view(otherPublisher, taken.data!.registerProvider.provider.id)).toEqual({ name: 'newsapi', variables: [], missingVariables: ['NEWS_API_KEY'] });
  });
});

describe('$ref in an inline OpenAPI document', () => {
  it('is not taken for a variable: no warning about it at registration, none missing, and its tools call without one', async () => {
    const content = await readFile(PETSTORE, 'utf8');
    expect(content).toContain('$ref');
    const res = await gql<{ registerProvider: { provider: { id: string }; created: string[]; warnings: string[]; userErrors: unknown[] } }>(
      REGISTER,
      { input: { name: 'petstore', callTemplate: { call_template_type: 'text', content } } },
      publisher,
    );
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.created).toHaveLength(4);
    expect(res.data!.registerProvider.warnings.filter((w) => /variable|_ref/.test(w))).toEqual([]);
    const provider = await gql<{ provider: { missingVariables: string[] } }>(
      'query($id: ID!) { provider(id: $id) { missingVariables } }',
      { id: res.data!.registerProvider.provider.id },
      publisher,
    );
    expect(provider.data!.provider.missingVariables).toEqual([]);
  });

  it('stays as written in the content a text tool returns', async () => {
    const document = JSON.stringify({ openapi: '3.0.0', components: { schemas: { Pet: { $ref: '#/components/schemas/NewPet' } } } });
    const manual = { utcp_version: '1.0.1', manual_version: '1.0.0', tools: [{ name: 'spec', description: 'The spec', inputs: { type: 'object' }, tool_call_template: { call_template_type: 'text', content: document } }] };
    const res = await gql<{ registerProvider: { warnings: string[]; userErrors: unknown[] } }>(
      REGISTER,
      { input: { name: 'specs', callTemplate: { call_template_type: 'text', content: JSON.stringify(manual) } } },
      publisher,
    );
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.warnings.filter((w) => /variable/.test(w))).toEqual([]);
    const execution = await execute('specs.spec', {});
    expect(execution.status, JSON.stringify(execution.error)).toBe('SUCCEEDED');
    expect(execution.result).toEqual(JSON.parse(document));
  });
});
