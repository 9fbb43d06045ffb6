import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/** The labelled queries: what a user types, and the tools that count as a hit in the first three results. */
interface LabelledSet {
  provider: string;
  document: string;
  queries: { query: string; hits: string[] }[];
}

const FIXTURES = new URL('../fixtures/', import.meta.url);
const SET = JSON.parse(readFileSync(new URL('search/jira-queries.json', FIXTURES), 'utf8')) as LabelledSet;

const REGISTER = `mutation($input: RegisterProviderInput!) {
  registerProvider(input: $input) { created userErrors { field message code } }
}`;
const SEARCH = `query($q: String!) { tools(first: 3, filter: { search: $q }) { edges { node { name } } } }`;

let registry: TestRegistry;
let server: Server;

beforeAll(async () => {
  // The real Jira Cloud platform description, served as a provider would, and discovered through the
  // registry's own OpenAPI conversion.
  const document = gunzipSync(readFileSync(new URL(SET.document, FIXTURES)));
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(document));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32', REGISTRY_DISCOVERY_TIMEOUT_MS: '60000' } });
  const publisher = await registry.login({ roles: ['publisher'] });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`;
  const res = await registry.graphql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
    REGISTER,
    { input: { name: SET.provider, callTemplate: { call_template_type: 'http', url, http_method: 'GET' } } },
    { authorization: `Bearer ${publisher}` },
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.registerProvider.userErrors).toEqual([]);
  expect(res.data!.registerProvider.created.length).toBeGreaterThan(400);
}, 300_000);

afterAll(async () => {
  await registry?.close();
  server?.close();
});

describe('search relevance on a large real OpenAPI description', () => {
  it('has at least 50 labelled queries, each naming tools the import created', async () => {
    expect(SET.queries.length).toBeGreaterThanOrEqual(50);
    const res = await registry.graphql<{ tools: { totalCount: number } }>(
      'query($p: String) { tools(filter: { provider: $p }) { totalCount } }',
      { p: SET.provider },
    );
    expect(res.data!.tools.totalCount).toBeGreaterThan(400);
    const named = new Set(SET.queries.flatMap((q) => q.hits));
    const missing: string[] = [];
    for (const name of named) {
      const found = await registry.graphql<{ tool: { name: string } | null }>('query($n: String!) { tool(name: $n) { name } }', { n: name });
      if (!found.data!.tool) missing.push(name);
    }
    expect(missing).toEqual([]);
  });

  it('puts a labelled tool in the first three results for at least 90% of the queries', async () => {
    const misses: string[] = [];
    for (const { query, hits } of SET.queries) {
      const res = await registry.graphql<{ tools: { edges: { node: { name: string } }[] } }>(SEARCH, { q: query });
      expect(res.errors).toBeUndefined();
      const top = res.data!.tools.edges.map((e) => e.node.name);
      if (!top.some((name) => hits.includes(name))) misses.push(`"${query}": got ${top.join(', ') || 'nothing'}; wanted one of ${hits.join(', ')}`);
    }
    const rate = 1 - misses.length / SET.queries.length;
    console.log(`search top-3 hit rate ${rate.toFixed(3)} over ${SET.queries.length} queries${misses.length ? `; misses:\n  ${misses.join('\n  ')}` : ''}`);
    // 0.989 with the name-coverage ranking (91 queries, one miss); the benchmark's target is 0.9 among 100k tools.
    expect(rate).toBeGreaterThanOrEqual(0.988);
  });
});
