import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { isRunning, spawnRegistry } from '../helpers/process.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// /metrics through the public surface: a scripted mix of calls moves the counters it should, labels
// stay bounded whatever the caller sends, and only `metrics:read` (or admin) may scrape the main port.

let registry: TestRegistry;
let agent: string;

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const text = (content: string) => ({ call_template_type: 'text', content });

/** One sample of Prometheus's text format: metric name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus's text exposition format (the subset prom-client writes). */
export function parseMetrics(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

async function scrape(token = registry.adminToken): Promise<Sample[]> {
  const response = await fetch(`${registry.url}/metrics`, { headers: as(token) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await response.text());
}

async function call(name: string, body: unknown = {}, token = agent) {
  const response = await fetch(`${registry.url}/tools/${encodeURIComponent(name)}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...as(token) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
}

beforeAll(async () => {
  // Two tool labels at most: the third tool seen is counted as `other`.
  registry = await startRegistry({ env: { REGISTRY_METRICS_MAX_TOOLS: '2', REGISTRY_METRICS_OPERATIONS: 'KnownDashboardQuery' } });
  await new ToolService(registry.db.fork()).importManual(
    'm',
    manual([
      manualTool({ name: 'ok', inputs: { type: 'object' }, outputs: {}, tool_call_template: text('{"fine":true}') }),
      manualTool({ name: 'typed', inputs: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }, outputs: {}, tool_call_template: text('1') }),
      manualTool({ name: 'denied', inputs: { type: 'object' }, outputs: {}, tool_call_template: text('"never"') }),
      manualTool({ name: 'limited', inputs: { type: 'object' }, outputs: {}, tool_call_template: text('{"once":true}') }),
    ]),
    INLINE_MANUAL,
  );
  agent = (await registry.tokenFor(await registry.createClient({ roles: ['agent'] }))).access_token;
  const created = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
    'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
    { input: { name: 'no-denied-calls', effect: 'DENY', priority: 10, actions: ['EXECUTE'], resources: { tools: ['m.denied'] } } },
    as(registry.adminToken),
  );
  expect(created.data!.createPolicy.userErrors).toEqual([]);
  const limited = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
    'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
    { input: { name: 'one-limited-call', effect: 'ALLOW', priority: 10, actions: ['EXECUTE'], resources: { tools: ['m.limited'] }, limits: { rate: { calls: 1, windowSeconds: 3600 } } } },
    as(registry.adminToken),
  );
  expect(limited.data!.createPolicy.userErrors).toEqual([]);
});

afterAll(async () => {
  await registry?.close();
});

describe('/metrics on the main port', () => {
  it('is refused without a token, with a bad one and without metrics:read, and served to metrics:read and admins', async () => {
    const get = (headers: Record<string, string> = {}) => fetch(`${registry.url}/metrics`, { headers });
    const anonymous = await get();
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect((await get(as('not-a-token'))).status).toBe(401);
    const viewer = await get(as(registry.viewerToken));
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('FORBIDDEN');
    expect((await get(as(agent))).status).toBe(403);

    const scraper = await registry.login({ scopes: ['metrics:read'] });
    const samples = await scrape(scraper);
    expect(samples.some((s) => s.name === 'registry_http_requests_total')).toBe(true);
    expect(total(samples, 'registry_event_bus_connected')).toBe(1);
    expect(total(samples, 'registry_audit_chain_entries')).toBeGreaterThan(0);
    await scrape(registry.adminToken);
  });

  it('counts calls by tool, status and code, policy decisions, refused tokens and catalog cache hits and misses', async () => {
    const before = await scrape();
    expect((await call('m.ok')).status).toBe(200);
    expect(await call('m.typed', { n: 'x' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGUMENTS' } } });
    expect(await call('m.denied')).toMatchObject({ status: 403, body: { error: { code: 'POLICY_DENIED' } } });
    expect((await registry.graphql('{ me { id } }', {}, as('bad.token.here'))).status).toBe(401);
    const catalog = 'query CatalogPage { tools(first: 5) { edges { node { name } } } }';
    // The catalog cache keeps an answer from its request's second time on: miss, miss, hit.
    for (let i = 0; i < 3; i += 1) expect((await registry.graphql(catalog)).errors).toBeUndefined();
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

    expect(delta('registry_tool_executions_total', { tool: 'm.ok', status: 'succeeded', code: 'none' })).toBe(1);
    expect(delta('registry_tool_executions_total', { tool: 'm.typed', status: 'failed', code: 'INVALID_ARGUMENTS' })).toBe(1);
    // A third distinct tool is over REGISTRY_METRICS_MAX_TOOLS=2: its calls count under `other`.
    expect(delta('registry_tool_executions_total', { tool: 'other', status: 'denied', code: 'POLICY_DENIED' })).toBe(1);
    expect(after.some((s) => s.labels.tool === 'm.denied')).toBe(false);
    expect(delta('registry_tool_execution_duration_seconds_count', { tool: 'm.ok', status: 'succeeded' })).toBe(1);

    expect(delta('registry_policy_decisions_total', { action: 'execute', effect: 'allow' })).toBe(2);
    expect(delta('registry_policy_decisions_total', { action: 'execute', effect: 'deny' })).toBe(1);
    expect(delta('registry_authentication_failures_total', { reason: 'invalid_token' })).toBe(1);
    expect(delta('registry_catalog_cache_requests_total', { result: 'miss' })).toBe(2);
    expect(delta('registry_catalog_cache_requests_total', { result: 'hit' })).toBe(1);
    // The catalog reads count as one operation, `other` (not a known name), whichever path answered.
    expect(delta('registry_graphql_operations_total', { operation: 'other', type: 'query', outcome: 'success' })).toBe(3);
    expect(delta('registry_http_requests_total', { route: '/tools/:name/call', method: 'POST', status_class: '4xx' })).toBe(2);
    expect(delta('registry_http_requests_total', { route: '/tools/:name/call', method: 'POST', status_class: '2xx' })).toBe(1);
  });

  it('keeps labels bounded: 300 made-up operation names and 50 unknown URLs add no series, known names keep theirs', async () => {
    // One of each first, so the series they count under exist before.
    await registry.graphql('query Warmup { __typename }');
    await fetch(`${registry.url}/no/such/path`);
    const before = await scrape();
    for (let batch = 0; batch < 300; batch += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => registry.graphql(`query Bogus${batch + i} { __typename }`)));
    }
    await Promise.all(Array.from({ length: 50 }, (_, i) => fetch(`${registry.url}/no/such/path/${i}`).then((r) => r.arrayBuffer())));
    await registry.graphql('query KnownDashboardQuery { __typename }');
    const after = await scrape();
    const series = (samples: Sample[]) => new Set(samples.filter((s) => s.name.startsWith('registry_')).map((s) => `${s.name}${JSON.stringify(s.labels)}`));
    const added = [...series(after)].filter((key) => !series(before).has(key));
    expect(added.filter((key) => !key.includes('KnownDashboardQuery'))).toEqual([]);
    expect(total(after, 'registry_graphql_operations_total', { operation: 'KnownDashboardQuery' })).toBe(1);
    expect(after.some((s) => Object.values(s.labels).some((v) => v.startsWith('Bogus') || v.includes('/no/such')))).toBe(false);
    expect(total(after, 'registry_graphql_operations_total', { operation: 'other' }) - total(before, 'registry_graphql_operations_total', { operation: 'other' })).toBe(300);
    expect(total(after, 'registry_http_requests_total', { route: 'unmatched' }) - total(before, 'registry_http_requests_total', { route: 'unmatched' })).toBe(50);
  });
});

describe('/metrics: limits, the pool, the audit checkpoint and latencies', () => {
  it('counts refusals by a spent rate limit and by the query limits', async () => {
    const before = await scrape();
    expect((await call('m.limited')).status).toBe(200);
    expect(await call('m.limited')).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: __typename`).join(' ');
    const refused = await registry.graphql(`{ ${aliases} }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('TOO_MANY_ALIASES');
    const after = await scrape();
    const delta = (limit: string) => total(after, 'registry_limit_refusals_total', { limit }) - total(before, 'registry_limit_refusals_total', { limit });
    expect(delta('rate_limited')).toBe(1);
    expect(delta('query_limits')).toBe(1);
    expect(delta('quota_exceeded')).toBe(0);
  });

  it('gives the age of the newest audit checkpoint, read again at every scrape, and leaves it out before the first', async () => {
    // The periodic checkpoint (every 300 s by default) has not run yet.
    const none = await registry.graphql<{ auditCheckpoints: { totalCount: number } }>('{ auditCheckpoints(first: 1) { totalCount } }', {}, as(registry.adminToken));
    expect(none.data!.auditCheckpoints.totalCount).toBe(0);
    expect((await scrape()).some((s) => s.name === 'registry_audit_checkpoint_age_seconds')).toBe(false);
    const res = await registry.graphql<{ createAuditCheckpoint: { checkpoint: { at: string } | null } }>(
      'mutation { createAuditCheckpoint { checkpoint { at } userErrors { message } } }',
      {},
      as(registry.adminToken),
    );
    const at = Date.parse(res.data!.createAuditCheckpoint.checkpoint!.at);
    const samples = await scrape();
    const ages = samples.filter((s) => s.name === 'registry_audit_checkpoint_age_seconds');
    expect(ages).toHaveLength(1);
    // Scraped after the checkpoint was signed: no older than the time since.
    expect(ages[0]!.value).toBeGreaterThanOrEqual(0);
    expect(ages[0]!.value).toBeLessThanOrEqual((Date.now() - at) / 1000 + 0.001);
  });

  it.runIf(process.env.TEST_DATABASE_URL)('reports the PostgreSQL pool: idle and busy connections within its size, and callers waiting', async () => {
    await registry.graphql('{ tools(first: 1) { totalCount } }', {}, as(registry.viewerToken));
    const samples = await scrape();
    const state = (name: string) => {
      const found = samples.filter((s) => s.name === 'registry_db_pool_connections' && s.labels.state === name);
      expect(found).toHaveLength(1);
      return found[0]!.value;
    };
    // The pool size of the test database (test/helpers/database.ts).
    expect(state('max')).toBe(5);
    expect(state('idle') + state('busy')).toBeGreaterThanOrEqual(1);
    expect(state('idle') + state('busy')).toBeLessThanOrEqual(5);
    expect(state('busy')).toBeGreaterThanOrEqual(0);
    expect(state('waiting')).toBe(0);
  });

  it.skipIf(process.env.TEST_DATABASE_URL)('reports no pool on the embedded database (one session, no pool)', async () => {
    expect((await scrape()).some((s) => s.name === 'registry_db_pool_connections')).toBe(false);
  });

  it('observes GraphQL and HTTP latencies in histograms whose buckets, count and sum grow with the requests', async () => {
    const histogram = (samples: Sample[], name: string, labels: Record<string, string>) => {
      const mine = samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      const buckets = mine.filter((s) => s.name === `${name}_bucket`).map((s) => ({ le: s.labels.le!, value: s.value }));
      return {
        buckets,
        count: mine.find((s) => s.name === `${name}_count`)?.value ?? 0,
        sum: mine.find((s) => s.name === `${name}_sum`)?.value ?? 0,
        inf: buckets.find((b) => b.le === '+Inf')?.value ?? 0,
      };
    };
    const operation = { operation: 'KnownDashboardQuery', type: 'query', outcome: 'success' };
    const route = { route: '/healthz', method: 'GET', status_class: '2xx' };
    const before = await scrape();
    // The first two reads are answered by Apollo, the next ones by the catalog cache: all count under the
    // operation's name (the client sends no `operationName`; it is read from the document).
    for (let i = 0; i < 5; i += 1) {
      expect((await registry.graphql('query KnownDashboardQuery { tools(first: 2) { totalCount } }', {}, as(registry.viewerToken))).errors).toBeUndefined();
      expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
    }
    const after = await scrape();
    for (const [name, labels] of [
      ['registry_graphql_operation_duration_seconds', operation],
      ['registry_http_request_duration_seconds', route],
    ] as const) {
      const was = histogram(before, name, labels);
      const now = histogram(after, name, labels);
      expect(now.count - was.count, name).toBe(5);
      expect(now.inf).toBe(now.count);
      expect(now.sum).toBeGreaterThan(was.sum);
      // Cumulative buckets from 5 ms to 60 s: each holds at least the one below it.
      expect(now.buckets.map((b) => b.le)).toEqual(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
      for (let i = 1; i < now.buckets.length; i += 1) expect(now.buckets[i]!.value).toBeGreaterThanOrEqual(now.buckets[i - 1]!.value);
    }
  });
});

describe('REGISTRY_METRICS_PORT', () => {
  it('serves /metrics without a token on a listener of its own, and no longer on the main port', { timeout: 180_000 }, async () => {
    const server = await spawnRegistry(process.execPath, ['dist/src/main.js'], { REGISTRY_METRICS_PORT: '0', REGISTRY_SEED: 'none', LOG_LEVEL: 'info' });
    try {
      const url = /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.output())?.[1];
      expect(url).toBeDefined();
      await fetch(`${server.url}/healthz`);
      const response = await fetch(url!);
      expect(response.status).toBe(200);
      const samples = parseMetrics(await response.text());
      expect(total(samples, 'registry_http_requests_total', { route: '/healthz', status_class: '2xx' })).toBe(1);
      expect(samples.some((s) => s.name === 'registry_audit_chain_entries')).toBe(true);
      expect((await fetch(url!.replace('/metrics', '/other'))).status).toBe(404);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    } finally {
      if (isRunning(server.child.pid!)) process.kill(-server.child.pid!, 'SIGTERM');
      await server.exited;
    }
  });
});
