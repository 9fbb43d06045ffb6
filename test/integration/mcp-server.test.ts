import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode as McpErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
let agent: string;
const clients: Client[] = [];

const text = (content: string) => ({ call_template_type: 'text', content });

/** The MCP SDK's own client, connected to the registry's /mcp with a bearer token. */
async function connect(token: string, setUp?: (client: Client) => void): Promise<Client> {
  const client = new Client({ name: 'registry-test', version: '1.0.0' });
  setUp?.(client);
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
      manualTool({
        name: 'liar',
        description: 'Promises an object with a number, returns a string.',
        inputs: { type: 'object', properties: {} },
        outputs: { type: 'object', properties: { count: { type: 'number' } }, required: ['count'] },
        tool_call_template: text('{"count":"many"}'),
      }),
    ]),
    INLINE_MANUAL,
  );
  // More tools than one `tools/list` page holds (100), after mcpout's in name order.
  await new ToolService(registry.db.fork()).importManual(
    'zpage',
    manual(Array.from({ length: 105 }, (_, i) => manualTool({ name: `t${String(i).padStart(3, '0')}`, inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: text('1') }))),
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

  it('pages tools/list with an opaque nextCursor and refuses forged cursors as invalid params', async () => {
    const client = await connect(agent);
    const names: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(names.filter((n) => n.startsWith('zpage.'))).toHaveLength(105);
    expect(new Set(names).size).toBe(names.length);
    for (const forged of ['not-a-cursor', Buffer.from(JSON.stringify(['tools.search', 1, 'x'])).toString('base64url')]) {
      const refused = await client.listTools({ cursor: forged }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(McpError);
      expect((refused as McpError).code).toBe(McpErrorCode.InvalidParams);
    }
  });

  it('returns a result that breaks its output schema as a tool error coded OUTPUT_SCHEMA_MISMATCH, without structured content', async () => {
    const client = await connect(agent);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'mcpout.liar')?.outputSchema).toMatchObject({ type: 'object', required: ['count'] });
    // The SDK client checks structured content against the listed output schema: it would throw.
    const result = await client.callTool({ name: 'mcpout.liar', arguments: {} });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(result._meta).toEqual({ 'tool-registry/code': 'OUTPUT_SCHEMA_MISMATCH' });
    expect(result.content).toEqual([
      { type: 'text', text: expect.stringMatching(/^OUTPUT_SCHEMA_MISMATCH: /) },
      { type: 'text', text: '{"count":"many"}' },
    ]);
  });

  it('announces listChanged and notifies an open session, whose SDK client then lists the tools again', async () => {
    let refreshed: () => void = () => {};
    const heard = new Promise<string[]>((resolve) => (refreshed = () => resolve([])));
    let names: string[] = [];
    const client = await connect(agent, () => {});
    expect(client.getServerCapabilities()?.tools).toEqual({ listChanged: true });
    const listening = await connectListening(agent, (tools) => {
      names = tools.map((t) => t.name);
      refreshed();
    });
    // The client opens its GET stream after initializing: change a readable tool until it hears one.
    for (let done = false; !done; ) {
      await toggle('mcpout.greeting');
      done = await Promise.race([heard.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
    }
    expect(names).toContain('mcpout.greeting');
    expect(listening.getServerCapabilities()?.tools?.listChanged).toBe(true);
  });

  it('sends notifications/tools/list_changed on the GET stream only for changes the caller may read, until its token is revoked', async () => {
    const caller = await registry.createClient({ roles: ['agent'] });
    const { access_token } = await registry.tokenFor(caller);
    const stream = await fetch(`${registry.url}/mcp`, {
      headers: { authorization: `Bearer ${access_token}`, accept: 'text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    // Headers come once the stream listens to the catalog: from now on every change is heard, in order.
    // mcpout.secret is hidden from agents: of the two changes, only greeting's is announced.
    await toggle('mcpout.secret');
    await toggle('mcpout.greeting');
    // Revoked, the token ends the stream at the next change: everything it sent is then in the body.
    const revoke = await registry.graphql<{ revokeTokens: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { userErrors { code } } }',
      { id: caller.principalId },
      { authorization: `Bearer ${registry.adminToken}` },
    );
    expect(revoke.data!.revokeTokens.userErrors).toEqual([]);
    await toggle('mcpout.greeting');
    const events = (await stream.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as unknown);
    expect(events).toEqual([{ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }]);
  });

  it('sends notifications/tools/list_changed on the GET stream when a policy change changes what the caller may see, not for others', async () => {
    const caller = await registry.createClient({ roles: ['agent'] });
    const { access_token } = await registry.tokenFor(caller);
    const stream = await fetch(`${registry.url}/mcp`, {
      headers: { authorization: `Bearer ${access_token}`, accept: 'text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    });
    expect(stream.status).toBe(200);
    const events = sseEvents(stream);
    const as = { authorization: `Bearer ${registry.adminToken}` };
    const create = async (input: Record<string, unknown>) => {
      const res = await registry.graphql<{ createPolicy: { policy: { id: string }; userErrors: unknown[] } }>(
        'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }',
        { input },
        as,
      );
      expect(res.data!.createPolicy.userErrors).toEqual([]);
      return res.data!.createPolicy.policy.id;
    };
    // Policy changes are heard in order: the first concerns viewers only, the second this agent.
    const forViewers = await create({ name: 'mcp-viewers-no-greeting', effect: 'DENY', priority: 20, actions: ['READ'], subjects: { roles: ['viewer'] }, resources: { tools: ['mcpout.greeting'] } });
    const forAgent = await create({ name: 'mcp-agent-no-greeting', effect: 'DENY', priority: 20, actions: ['READ'], subjects: { principals: [caller.principalId] }, resources: { tools: ['mcpout.greeting'] } });
    expect(await events.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    const client = await connect(access_token);
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('mcpout.greeting');
    for (const id of [forViewers, forAgent]) {
      const res = await registry.graphql<{ deletePolicy: { userErrors: unknown[] } }>('mutation($id: ID!) { deletePolicy(input: { id: $id }) { userErrors { message } } }', { id }, as);
      expect(res.data!.deletePolicy.userErrors).toEqual([]);
    }
    // The viewers' policy gone: nothing for this agent; the agent's gone: greeting is back.
    expect(await events.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    // Revoked, the token ends the stream at the next change: then no event is left unread.
    await registry.graphql('mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { userErrors { code } } }', { id: caller.principalId }, as);
    await toggle('mcpout.greeting');
    expect(await events.rest()).toEqual([]);
  });

  it('answers a GET without text/event-stream, and a DELETE, with an error', async () => {
    const get = await fetch(`${registry.url}/mcp`, { headers: { authorization: `Bearer ${agent}`, accept: 'application/json' } });
    expect(get.status).toBe(406);
    await get.body?.cancel();
    const del = await fetch(`${registry.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${agent}` } });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, POST');
  });
});

/** The `data:` events of an SSE response as they arrive: the next one, or all the rest once it ends. */
function sseEvents(response: Response): { next(): Promise<unknown>; rest(): Promise<unknown[]> } {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const queued: unknown[] = [];
  let buffer = '';
  let ended = false;
  const more = async () => {
    const { value, done } = await reader.read();
    if (done) {
      ended = true;
      return;
    }
    buffer += value;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line.startsWith('data: ')) queued.push(JSON.parse(line.slice(6)));
  };
  return {
    async next() {
      while (queued.length === 0 && !ended) await more();
      if (queued.length === 0) throw new Error('the stream ended without another event');
      return queued.shift();
    },
    async rest() {
      while (!ended) await more();
      return queued.splice(0);
    },
  };
}

/** The SDK client with `listChanged` handling: it lists the tools again when told they changed. */
async function connectListening(token: string, onTools: (tools: { name: string }[]) => void): Promise<Client> {
  const client = new Client(
    { name: 'registry-test', version: '1.0.0' },
    { listChanged: { tools: { autoRefresh: true, debounceMs: 0, onChanged: (_error, tools) => tools && onTools(tools) } } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${registry.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

/** Enables a tool again (it is): a CHANGED catalog event for it. */
async function toggle(name: string): Promise<void> {
  const as = { authorization: `Bearer ${registry.adminToken}` };
  const found = await registry.graphql<{ tool: { id: string } }>('query($n: String!) { tool(name: $n) { id } }', { n: name }, as);
  const res = await registry.graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
    'mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }',
    { input: { toolId: found.data!.tool.id, enabled: true } },
    as,
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.setToolEnabled.userErrors).toEqual([]);
}
