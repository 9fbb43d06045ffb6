import { UtcpClient } from '@utcp/sdk';
import '@utcp/http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
let agent: string;
const clients: UtcpClient[] = [];

const text = (content: string) => ({ call_template_type: 'text', content });

/** The published UTCP client, with the registry registered as one manual named `registry`. */
async function utcpClient(token: string): Promise<UtcpClient> {
  const client = await UtcpClient.create(process.cwd(), {
    variables: { registry_REGISTRY_TOKEN: token },
    manual_call_templates: [
      {
        name: 'registry',
        call_template_type: 'http',
        http_method: 'GET',
        url: `${registry.url}/utcp`,
        auth: { auth_type: 'api_key', api_key: 'Bearer ${REGISTRY_TOKEN}', var_name: 'Authorization', location: 'header' },
      },
    ],
  } as never);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  registry = await startRegistry();
  await new ToolService(registry.db.fork()).importManual(
    'utcpout',
    manual([
      manualTool({
        name: 'forecast',
        description: 'Weather forecast for a city, several days ahead.',
        tags: ['weather'],
        inputs: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 } }, required: ['city', 'days'] },
        outputs: { type: 'object' },
        tool_call_template: text('{"sunny":true}'),
      }),
      manualTool({ name: 'hidden', description: 'Weather secrets.', tags: ['weather'], inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: text('"x"') }),
    ]),
    INLINE_MANUAL,
  );
  const res = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
    `mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }`,
    { input: { name: 'no-hidden-calls', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['utcpout.hidden'] } } },
    { authorization: `Bearer ${registry.adminToken}` },
  );
  expect(res.data!.createPolicy.userErrors).toEqual([]);
  agent = await registry.login({ roles: ['agent'] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await registry?.close();
});

describe('the registry as a UTCP manual', () => {
  it('lets the published UTCP client register it, search it and call a tool end to end', async () => {
    const client = await utcpClient(agent);
    const names = (await client.getTools()).map((t) => t.name);
    expect(names).toContain('registry.utcpout.forecast');
    // A tool the caller may not execute is not in the manual at all.
    expect(names).not.toContain('registry.utcpout.hidden');
    const found = await client.searchTools('weather forecast city', 5);
    expect(found.map((t) => t.name)).toContain('registry.utcpout.forecast');
    expect(found.map((t) => t.name)).not.toContain('registry.utcpout.hidden');

    // `days` travels in the query string as text; the registry types it by the tool's schema.
    expect(await client.callTool('registry.utcpout.forecast', { city: 'Berlin', days: 3 })).toEqual({ sunny: true });
    const executions = await registry.graphql<{ executions: { edges: { node: { toolName: string; status: string; arguments: unknown } }[] } }>(
      '{ executions(first: 1, filter: { tool: "utcpout.forecast" }) { edges { node { toolName status arguments } } } }',
      {},
      { authorization: `Bearer ${agent}` },
    );
    expect(executions.data!.executions.edges[0]!.node).toEqual({ toolName: 'utcpout.forecast', status: 'SUCCEEDED', arguments: { city: 'Berlin', days: 3 } });
  });

  it('answers the manual and calls with coded errors and statuses', async () => {
    const call = (name: string, body: unknown, token = agent) =>
      fetch(`${registry.url}/tools/${encodeURIComponent(name)}/call`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const ok = await call('utcpout.forecast', { city: 'Oslo', days: 2 });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-execution-id')).toMatch(/^[0-9a-f-]{36}$/);
    const invalid = await call('utcpout.forecast', { city: 'Oslo', days: 0 });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENTS' }, executionId: expect.any(String) });
    const denied = await call('utcpout.hidden', {});
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: 'POLICY_DENIED', message: expect.stringContaining('no-hidden-calls') } });
    expect((await call('utcpout.nothing', {})).status).toBe(404);
    expect((await call('utcpout.forecast', [1, 2])).status).toBe(400);
    const form = await fetch(`${registry.url}/tools/utcpout.forecast/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${agent}` },
      body: 'city=Oslo&days=2',
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ errors: [{ extensions: { code: 'BAD_REQUEST' } }] });
    const anonymous = await call('utcpout.forecast', { city: 'Oslo', days: 2 }, '');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const viewer = await call('utcpout.forecast', { city: 'Oslo', days: 2 }, registry.viewerToken);
    expect(viewer.status).toBe(403);
    expect((await fetch(`${registry.url}/utcp`)).status).toBe(401);
  });

  it('serves the same manual as the utcpManual query, to callers with tools:execute only', async () => {
    const viaHttp = await (await fetch(`${registry.url}/utcp`, { headers: { authorization: `Bearer ${agent}` } })).json();
    const query = await registry.graphql<{ utcpManual: { tools: { name: string; tool_call_template: { url: string } }[] } }>('{ utcpManual }', {}, {
      authorization: `Bearer ${agent}`,
    });
    expect(query.errors).toBeUndefined();
    expect(query.data!.utcpManual).toEqual(viaHttp);
    const forecast = query.data!.utcpManual.tools.find((t) => t.name === 'utcpout.forecast')!;
    expect(forecast.tool_call_template.url).toBe(`${registry.url}/tools/utcpout.forecast/call`);
    expect(query.data!.utcpManual.tools.map((t) => t.name)).not.toContain('utcpout.hidden');

    const viewer = await registry.graphql('{ utcpManual }', {}, { authorization: `Bearer ${registry.viewerToken}` });
    expect(viewer.data).toBeNull();
    expect(viewer.errors![0]!.extensions!.code).toBe('FORBIDDEN');
  });

  it('links to REGISTRY_PUBLIC_URL when the registry is reached through a proxy', async () => {
    const proxied = await startRegistry({ env: { REGISTRY_PUBLIC_URL: 'https://tools.example.com/' } });
    try {
      await new ToolService(proxied.db.fork()).importManual('proxied', manual([manualTool({ name: 'echo', tool_call_template: text('"x"') })]), INLINE_MANUAL);
      const token = await proxied.login({ roles: ['agent'] });
      const res = await proxied.graphql<{ utcpManual: { tools: { name: string; tool_call_template: { url: string } }[] } }>('{ utcpManual }', {}, {
        authorization: `Bearer ${token}`,
      });
      expect(res.data!.utcpManual.tools.find((t) => t.name === 'proxied.echo')!.tool_call_template.url).toBe(
        'https://tools.example.com/tools/proxied.echo/call',
      );
      const metadata = await (await fetch(`${proxied.url}/.well-known/oauth-protected-resource/mcp`)).json();
      expect(metadata).toMatchObject({ resource: 'https://tools.example.com/mcp', authorization_servers: ['https://tools.example.com'] });
    } finally {
      await proxied.close();
    }
  });
});
