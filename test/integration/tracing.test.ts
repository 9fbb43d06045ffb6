import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// Tracing through the public surface: a real OTLP/HTTP receiver (a plain HTTP server reading the
// exporter's JSON), a tool call sent with a caller's `traceparent`, an upstream peer that records
// the `traceparent` it receives, and canaries that must appear in no exported byte.

const SECRET = `canary-secret-${randomBytes(8).toString('hex')}`;
const ARGUMENT = `canary-argument-${randomBytes(8).toString('hex')}`;
const TRACE_ID = randomBytes(16).toString('hex');
const PARENT_SPAN = randomBytes(8).toString('hex');

let registry: TestRegistry;
let receiver: Server;
let peer: Server;
const exported: string[] = [];
const upstream: IncomingHttpHeaders[] = [];

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** Every span the receiver got so far (OTLP/JSON: ids in hex). */
function spans(): ExportedSpan[] {
  return exported.flatMap((body) => {
    const request = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[] };
    return request.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      exported.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  peer = createServer((req, res) => {
    upstream.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  const [receiverUrl, peerUrl] = await Promise.all([listen(receiver), listen(peer)]);
  // Export each batch at once instead of every 5 s (read by the SDK from the process environment).
  process.env.OTEL_BSP_SCHEDULE_DELAY = '20';
  registry = await startRegistry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, REGISTRY_EGRESS_ALLOW: '127.0.0.1' } });
  await new ToolService(registry.db.fork()).importManual(
    'traced',
    manual([
      manualTool({
        name: 'lookup',
        inputs: { type: 'object', properties: { q: { type: 'string' } } },
        outputs: {},
        tool_call_template: {
          call_template_type: 'http',
          url: `${peerUrl}/lookup`,
          http_method: 'POST',
          auth: { auth_type: 'api_key', api_key: '${API_KEY}', var_name: 'x-api-key', location: 'header' },
        },
      }),
    ]),
    INLINE_MANUAL,
  );
  // The secret goes into the vault as a provider variable, as an operator would put it there.
  const provider = await registry.graphql<{ tool: { provider: { id: string } } }>('{ tool(name: "traced.lookup") { provider { id } } }', {}, { authorization: `Bearer ${registry.adminToken}` });
  const set = await registry.graphql<{ setProviderVariables: { userErrors: unknown[] } }>(
    'mutation($input: SetProviderVariablesInput!) { setProviderVariables(input: $input) { userErrors { message } } }',
    { input: { providerId: provider.data!.tool.provider.id, variables: [{ name: 'API_KEY', secret: true, value: SECRET }] } },
    { authorization: `Bearer ${registry.adminToken}` },
  );
  expect(set.errors).toBeUndefined();
  expect(set.data!.setProviderVariables.userErrors).toEqual([]);
});

afterAll(async () => {
  await registry?.close();
  await Promise.all([receiver, peer].map((s) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))));
});

describe('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  it('continues the caller’s trace through the operation, policy, executor and database spans, propagates it upstream, and exports no secret or argument', async () => {
    const agent = await registry.login({ roles: ['agent'] });
    const res = await registry.graphql<{ executeTool: { status: string } }>(
      'mutation Call($input: ExecuteToolInput!) { executeTool(input: $input) { status } }',
      { input: { tool: 'traced.lookup', arguments: { q: ARGUMENT } } },
      { authorization: `Bearer ${agent}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.executeTool.status).toBe('SUCCEEDED');

    // The upstream peer got the call with the same trace and the tool-call span as its parent.
    expect(upstream).toHaveLength(1);
    expect(upstream[0]!['x-api-key']).toBe(SECRET);
    const sent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(upstream[0]!.traceparent));
    expect(sent?.[1]).toBe(TRACE_ID);

    // Spans arrive in batches: wait (bounded) until the request's own span is exported.
    const names = ['POST /graphql', 'graphql.operation', 'graphql mutation other', 'policy.decide', 'tool.execute', 'db tool.read', 'db execution.claim', 'db execution.finish'];
    for (let i = 0; i < 200 && !spans().some((s) => s.traceId === TRACE_ID && s.name === 'POST /graphql'); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const traced = spans().filter((s) => s.traceId === TRACE_ID);
    expect(traced.map((s) => s.name)).toEqual(expect.arrayContaining(names.filter((n) => n !== 'graphql.operation')));
    const server = traced.find((s) => s.name === 'POST /graphql')!;
    expect(server.parentSpanId).toBe(PARENT_SPAN);
    const call = traced.find((s) => s.name === 'tool.execute')!;
    expect(sent?.[2]).toBe(call.spanId);

    const everything = exported.join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(ARGUMENT);
  });
});
