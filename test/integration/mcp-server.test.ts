import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
let agent: string;
const clients: Client[] = [];

const text = (content: string) => ({ call_template_type: 'text', content });

/** The MCP SDK's own client, connected to the registry's /mcp with a bearer token. */
async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'registry-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${registry.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  registry = await startRegistry();
  await new ToolService(registry.db.fork()).importManual(
    'mcpout',
    manual([
      manualTool({
        name: 'greeting',
        description: 'Says hello.',
        inputs: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        outputs: { type: 'object', properties: { hello: { type: 'string' } } },
        tool_call_template: text('{"hello":"world"}'),
      }),
      manualTool({ name: 'secret', inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: text('"classified"') }),
      manualTool({ name: 'readonly', inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: text('"look, do not touch"') }),
    ]),
    INLINE_MANUAL,
  );
  const policy = `mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }`;
  const as = { authorization: `Bearer ${registry.adminToken}` };
  // Nobody but admins sees mcpout.secret; mcpout.readonly may be read but not executed.
  for (const input of [
    { name: 'hide-secret', effect: 'DENY', priority: 10, actions: ['READ', 'EXECUTE'], resources: { tools: ['mcpout.secret'] } },
    { name: 'readonly-stays-readonly', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['mcpout.readonly'] } },
  ]) {
    const res = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(policy, { input }, as);
    expect(res.data!.createPolicy.userErrors).toEqual([]);
  }
  agent = await registry.login({ roles: ['agent'] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await registry?.close();
});

describe('the registry as an MCP server', () => {
  it('lists exactly the tools the caller may execute, with their input schemas', async () => {
    const client = await connect(agent);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('mcpout.greeting');
    expect(names).not.toContain('mcpout.secret');
    expect(names).not.toContain('mcpout.readonly');
    const greeting = tools.find((t) => t.name === 'mcpout.greeting')!;
    expect(greeting).toMatchObject({
      description: 'Says hello.',
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    });
  });

  it('calls a tool through the execution pipeline and records the execution', async () => {
    const client = await connect(agent);
    const result = await client.callTool({ name: 'mcpout.greeting', arguments: { name: 'Ada' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ hello: 'world' });
    expect(result.content).toEqual([{ type: 'text', text: '{"hello":"world"}' }]);
    const executions = await registry.graphql<{ executions: { edges: { node: { toolName: string; status: string } }[] } }>(
      '{ executions(first: 5, filter: { tool: "mcpout.greeting" }) { edges { node { toolName status } } } }',
      {},
      { authorization: `Bearer ${agent}` },
    );
    expect(executions.data!.executions.edges[0]!.node).toEqual({ toolName: 'mcpout.greeting', status: 'SUCCEEDED' });
  });

  it('answers invalid arguments and refused calls as MCP tool errors, and hidden tools as unknown', async () => {
    const client = await connect(agent);
    const invalid = await client.callTool({ name: 'mcpout.greeting', arguments: { name: 42 } });
    expect(invalid.isError).toBe(true);
    expect(invalid.content).toEqual([{ type: 'text', text: expect.stringMatching(/^INVALID_ARGUMENTS: .*\$\.name must be string/) }]);
    const denied = await client.callTool({ name: 'mcpout.readonly', arguments: {} });
    expect(denied.isError).toBe(true);
    expect(denied.content).toEqual([{ type: 'text', text: expect.stringMatching(/^POLICY_DENIED: denied by "readonly-stays-readonly"/) }]);
    // A tool the caller may not read does not exist for it, exactly like one that does not exist.
    const hidden = await client.callTool({ name: 'mcpout.secret', arguments: {} }).catch((error: Error) => error);
    const missing = await client.callTool({ name: 'mcpout.nothing', arguments: {} }).catch((error: Error) => error);
    expect(hidden).toBeInstanceOf(Error);
    expect((hidden as Error).message).toContain('Unknown tool: mcpout.secret');
    expect((missing as Error).message).toContain('Unknown tool: mcpout.nothing');
  });

  it('refuses requests without a valid token, pointing at the protected-resource metadata', async () => {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const post = (headers: Record<string, string>) =>
      fetch(`${registry.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify(initialize),
      });
    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    const challenge = anonymous.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/);
    expect((await post({ authorization: 'Bearer not-a-token' })).status).toBe(401);
    const viewer = await post({ authorization: `Bearer ${registry.viewerToken}` });
    expect(viewer.status).toBe(403);
    expect(viewer.headers.get('www-authenticate')).toContain('error="insufficient_scope"');

    const metadata = await fetch(challenge.match(/resource_metadata="([^"]+)"/)![1]!);
    expect(await metadata.json()).toMatchObject({
      resource: `${registry.url}/mcp`,
      authorization_servers: [registry.url],
      bearer_methods_supported: ['header'],
    });
    const authorizationServer = await (await fetch(`${registry.url}/.well-known/oauth-authorization-server`)).json();
    expect(authorizationServer).toMatchObject({ issuer: registry.url, token_endpoint: `${registry.url}/oauth/token`, grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'] });
    // The SDK client fails to connect without a token.
    await expect(connect('')).rejects.toThrow();
  });
});
