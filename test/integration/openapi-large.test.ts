import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// GitHub's api.github.com description (13 MB, 1,223 operations; see test/fixtures/README.md), kept for
// acceptance: the labelled search set is built on another document (search-relevance.test.ts).
const DOCUMENT = gunzipSync(readFileSync(new URL('../fixtures/openapi/github-api.json.gz', import.meta.url)));
const OPERATIONS = 1223;

const REGISTER = `mutation($input: RegisterProviderInput!) {
  registerProvider(input: $input) { created warnings userErrors { field message code } }
}`;
const SEARCH = `query($q: String!) { tools(first: 3, filter: { search: $q }) { edges { node { name } } } }`;

let registry: TestRegistry;
let server: Server;
let registered: { created: string[]; warnings: string[]; userErrors: unknown[] };

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(DOCUMENT));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Default discovery settings (size cap, timeout, operation cap): only loopback is let through.
  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  const publisher = await registry.login({ roles: ['publisher'] });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api.github.com.json`;
  const res = await registry.graphql<{ registerProvider: typeof registered }>(
    REGISTER,
    { input: { name: 'github', callTemplate: { call_template_type: 'http', url, http_method: 'GET' } } },
    { authorization: `Bearer ${publisher}` },
  );
  expect(res.errors).toBeUndefined();
  registered = res.data!.registerProvider;
}, 300_000);

afterAll(async () => {
  await registry?.close();
  server?.close();
});

describe('a large real OpenAPI description imported by URL with the default settings', () => {
  it('becomes one tool per operation, with the renamed operationIds summarised in one warning', () => {
    expect(DOCUMENT.length).toBeGreaterThan(12_000_000);
    expect(registered.userErrors).toEqual([]);
    expect(registered.created).toHaveLength(OPERATIONS);
    expect(registered.created).toContain('github.pulls_merge');
    const renames = registered.warnings.filter((w) => w.includes('operationId(s) became other tool names'));
    expect(renames).toHaveLength(1);
    expect(renames[0]).toMatch(/^1223 operationId\(s\) became other tool names .* e\.g\. GET \/: "meta\/root" → "meta_root"; /);
    expect(registered.warnings.some((w) => /left out: only the first/.test(w))).toBe(false);
    expect(registered.warnings.length).toBeLessThan(50);
  });

  it('ranks the short exact operation of a common action in the first three results', async () => {
    const queries: [string, string][] = [
      ['list pull requests', 'github.pulls_list'],
      ['merge pull request', 'github.pulls_merge'],
      ['create pull request', 'github.pulls_create'],
      ['get pull request', 'github.pulls_get'],
      ['list issues', 'github.issues_list'],
      ['create issue', 'github.issues_create'],
      ['get repo', 'github.repos_get'],
      ['list releases', 'github.repos_list_releases'],
      ['create release', 'github.repos_create_release'],
      ['list branches', 'github.repos_list_branches'],
      ['list commits', 'github.repos_list_commits'],
      ['create gist', 'github.gists_create'],
      ['list workflow runs', 'github.actions_list_workflow_runs'],
      ['update pull request', 'github.pulls_update'],
      ['get issue', 'github.issues_get'],
      ['update issue', 'github.issues_update'],
      ['list gists', 'github.gists_list'],
      ['delete repo', 'github.repos_delete'],
      ['list pull request reviews', 'github.pulls_list_reviews'],
      ['create issue comment', 'github.issues_create_comment'],
    ];
    const misses: string[] = [];
    for (const [query, wanted] of queries) {
      const res = await registry.graphql<{ tools: { edges: { node: { name: string } }[] } }>(SEARCH, { q: query });
      expect(res.errors).toBeUndefined();
      const top = res.data!.tools.edges.map((e) => e.node.name);
      if (!top.includes(wanted)) misses.push(`"${query}": got ${top.join(', ')}; wanted ${wanted}`);
    }
    expect(misses).toEqual([]);
  });
});
