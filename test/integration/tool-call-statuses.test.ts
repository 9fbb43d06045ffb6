import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { CALL_STATUS } from '../../src/interop/utcp.routes.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// POST /tools/{name}/call answers each error code with the status of README's table (CALL_STATUS),
// produced here for real: policies, limits, a disabled tool, egress, a missing variable and real upstreams.

let registry: TestRegistry;
let peer: Server;
let peerUrl: string;
let closedPort: number;
let agent: string;
const hanging = new Set<import('node:http').ServerResponse>();

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const text = (content: string) => ({ call_template_type: 'text', content });
const http = (url: string, extra: Record<string, unknown> = {}) => ({ call_template_type: 'http', url, http_method: 'GET', ...extra });
const tool = (name: string, template: Record<string, unknown>, inputs: Record<string, unknown> = { type: 'object' }) =>
  manualTool({ name, inputs, outputs: {}, tool_call_template: template });

async function call(name: string, body: unknown = {}, token = agent) {
  const response = await fetch(`${registry.url}/tools/${encodeURIComponent(name)}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? as(token) : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { error?: { code: string; message: string; details?: Record<string, unknown> } } };
}

async function policy(input: Record<string, unknown>): Promise<void> {
  const res = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
    'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
    { input },
    as(registry.adminToken),
  );
  expect(res.data!.createPolicy.userErrors).toEqual([]);
}

beforeAll(async () => {
  peer = createServer((req, res) => {
    if (req.url === '/fail') res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
    else if (req.url === '/hang') hanging.add(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1', REGISTRY_EXECUTION_TIMEOUT_MS: '1500' } });
  await new ToolService(registry.db.fork()).importManual(
    'calls',
    manual([
      tool('ok', text('{"fine":true}')),
      tool('typed', text('{"fine":true}'), { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }),
      tool('denied', text('"never"')),
      tool('off', text('"never"')),
      tool('limited', text('{"once":true}')),
      tool('private', http(`http://127.0.0.2:${closedPort}/ok`)),
      tool('keyless', http(`${peerUrl}/ok`, { auth: { auth_type: 'api_key', api_key: '${API_KEY}', var_name: 'x-api-key', location: 'header' } })),
      tool('broken', http(`${peerUrl}/fail`)),
      tool('refused', http(`http://127.0.0.1:${closedPort}/ok?api_key=query-secret-123`)),
      tool('slow', http(`${peerUrl}/hang`)),
    ]),
    INLINE_MANUAL,
  );
  const client = await registry.createClient({ roles: ['agent'] });
  agent = (await registry.tokenFor(client)).access_token;
  await policy({ name: 'no-denied-calls', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['calls.denied'] } });
  await policy({
    name: 'one-limited-call',
    effect: 'ALLOW',
    priority: 10,
    actions: ['EXECUTE'],
    subjects: { principals: [client.principalId] },
    resources: { tools: ['calls.limited'] },
    limits: { rate: { calls: 1, windowSeconds: 3600 } },
  });
  const off = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "calls.off") { id } }', {}, as(registry.adminToken));
  const toggled = await registry.graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
    'mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }',
    { input: { toolId: off.data!.tool.id, enabled: false } },
    as(registry.adminToken),
  );
  expect(toggled.data!.setToolEnabled.userErrors).toEqual([]);
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await registry?.close();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
});

describe('POST /tools/{name}/call statuses', () => {
  it('maps every error code to a status of the documented table', () => {
    expect(CALL_STATUS).toMatchObject({
      INVALID_ARGUMENTS: 400,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      POLICY_DENIED: 403,
      EGRESS_DENIED: 403,
      NOT_FOUND: 404,
      TOOL_UNAVAILABLE: 409,
      VARIABLE_MISSING: 424,
      RATE_LIMITED: 429,
      QUOTA_EXCEEDED: 429,
      LIMITER_UNAVAILABLE: 503,
      EXECUTION_FAILED: 502,
      UPSTREAM_UNAVAILABLE: 502,
      UPSTREAM_TIMEOUT: 504,
    });
  });

  it('answers a success with the result, and each refusal the caller can fix with 400, 401, 403 or 404', async () => {
    expect(await call('calls.ok')).toMatchObject({ status: 200, body: { fine: true } });
    expect(await call('calls.typed', { n: 'x' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGUMENTS', details: { errors: expect.any(Array) } } } });
    expect(await call('calls.ok', {}, '')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await call('calls.ok', {}, registry.viewerToken)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(await call('calls.nothing')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  it('answers a policy denial with POLICY_DENIED and 403, naming the policy', async () => {
    expect(await call('calls.denied')).toMatchObject({ status: 403, body: { error: { code: 'POLICY_DENIED', message: expect.stringContaining('no-denied-calls') } } });
  });

  it('answers a disabled tool with 409 and a used-up rate limit with 429 and Retry-After', async () => {
    expect(await call('calls.off')).toMatchObject({ status: 409, body: { error: { code: 'TOOL_UNAVAILABLE' } } });
    expect((await call('calls.limited')).status).toBe(200);
    const limited = await call('calls.limited');
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers an address the egress rules refuse with EGRESS_DENIED and 403, not 502', async () => {
    expect(await call('calls.private')).toMatchObject({ status: 403, body: { error: { code: 'EGRESS_DENIED', message: expect.stringContaining('127.0.0.2') } } });
  });

  it('answers a variable no credential provides with VARIABLE_MISSING and 424, naming it, not 502', async () => {
    expect(await call('calls.keyless')).toMatchObject({ status: 424, body: { error: { code: 'VARIABLE_MISSING', details: { variable: 'API_KEY', namespaced: 'calls_API_KEY' } } } });
  });

  it('answers upstream failures with 502 naming the host and cause, and a timeout with 504', async () => {
    expect(await call('calls.broken')).toMatchObject({ status: 502, body: { error: { code: 'EXECUTION_FAILED' } } });
    const refused = await call('calls.refused');
    expect(refused).toMatchObject({
      status: 502,
      body: { error: { code: 'UPSTREAM_UNAVAILABLE', message: 'Could not connect to "127.0.0.1": connection refused (ECONNREFUSED)' } },
    });
    expect(JSON.stringify(refused.body)).not.toContain('query-secret-123');
    expect(await call('calls.slow')).toMatchObject({ status: 504, body: { error: { code: 'UPSTREAM_TIMEOUT' } } });
  });
});
