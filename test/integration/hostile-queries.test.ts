import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

beforeAll(async () => {
  registry = await startRegistry({ seed: true, env: { NODE_ENV: 'production' } });
});
afterAll(() => registry?.close());

async function refused(query: string, variables?: Record<string, unknown>) {
  const res = await registry.graphql(query, variables);
  expect(res.status).toBe(400);
  const error = res.errors?.[0];
  expect(error?.extensions).not.toHaveProperty('stacktrace');
  return error!;
}

describe('hostile queries over HTTP', () => {
  it('refuses a query deeper than 10 levels', async () => {
    const error = await refused(
      '{ tools(first: 1) { edges { node { provider { tools(first: 1) { edges { node { provider { tools(first: 1) { edges { node { name } } } } } } } } } } } }',
    );
    expect(error.extensions).toMatchObject({ code: 'QUERY_TOO_DEEP', limit: 10 });
  });

  it('refuses a query over 5,000 points, counting `first` from literals and from variables', async () => {
    const nested = (first: string) =>
      `query Q${first === '$n' ? '($n: Int)' : ''} { tools(first: ${first}) { edges { node { name provider { tools(first: ${first}) { edges { node { name } } } } } } } }`;
    expect((await refused(nested('100'))).extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 5000 });
    expect((await refused(nested('$n'), { n: 100 })).extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX' });
    const small = await registry.graphql(nested('$n'), { n: 2 });
    expect(small.errors).toBeUndefined();
  });

  it('refuses more than 15 aliases, __typename included', async () => {
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: __typename`).join(' ');
    expect((await refused(`{ ${aliases} }`)).extensions).toMatchObject({ code: 'TOO_MANY_ALIASES', limit: 15 });
  });

  it('refuses more than 5 directives', async () => {
    const query = `{ tools(first: 1) @include(if: true) {
      totalCount @include(if: true)
      pageInfo @include(if: true) { hasNextPage @include(if: true) endCursor @include(if: true) }
      edges @include(if: true) { cursor }
    } }`;
    expect((await refused(query)).extensions).toMatchObject({ code: 'TOO_MANY_DIRECTIVES', limit: 5 });
  });

  it('refuses documents of more than 2,000 tokens', async () => {
    const fields = Array.from({ length: 700 }, () => 'pageInfo { hasNextPage }').join(' ');
    expect((await refused(`{ tools(first: 1) { ${fields} } }`)).extensions).toMatchObject({ code: 'TOO_MANY_TOKENS', limit: 2000 });
  });

  it('answers a fragment cycle and a fragment fan-out with 400, never 500', async () => {
    const cycle = await refused('query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }');
    expect(cycle.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const fragments = Array.from({ length: 12 }, (_, i) => `fragment F${i} on Query { a: __typename ...F${i + 1} b: __typename ...F${i + 1} }`);
    fragments.push('fragment F12 on Query { __typename }');
    const fanOut = await registry.graphql(`query { ...F0 } ${fragments.join(' ')}`);
    expect(fanOut.status).toBe(400);
  });

  it('refuses batches, mutations over GET, and form posts', async () => {
    const batch = await fetch(`${registry.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${registry.viewerToken}` },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(batch.status).toBe(400);
    const get = await fetch(
      `${registry.url}/graphql?query=${encodeURIComponent('mutation { revokeTokens(input: { principalId: "x" }) { revokedAt } }')}`,
      { headers: { authorization: `Bearer ${registry.viewerToken}`, 'apollo-require-preflight': 'true' } },
    );
    expect(get.status).toBe(405);
    const form = await fetch(`${registry.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=%7B__typename%7D',
    });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(form.status).toBeLessThan(500);
  });

  it('refuses bodies over 1 MB with 413', async () => {
    const res = await registry.graphql(`{ __typename } # ${'x'.repeat(1_100_000)}`);
    expect(res.status).toBe(413);
    expect(res.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('hides the schema in production: no introspection, no suggestions', async () => {
    const introspection = await registry.graphql('{ __schema { types { name } } }');
    expect(introspection.status).toBe(400);
    const typo = await registry.graphql('{ tool(name: "x") { nam } }');
    expect(typo.errors?.[0]?.message).not.toMatch(/did you mean/i);
  });

  it('refuses over-limit requests in front of everything, before the database is read, as the full pipeline would', async () => {
    const nest = (levels: number): string => (levels === 0 ? 'name' : `provider { tools(first: 1) { edges { node { ${nest(levels - 1)} } } } }`);
    const cases: [string, string, Record<string, unknown>?][] = [
      ['QUERY_TOO_DEEP', `{ tools(first: 1) { edges { node { ${nest(3)} } } } }`],
      ['TOO_MANY_ALIASES', `{ ${Array.from({ length: 60 }, (_, i) => `a${i}: tools(first: 1) { totalCount }`).join(' ')} }`],
      ['TOO_MANY_DIRECTIVES', `{ ${Array.from({ length: 6 }, (_, i) => `f${i}: __typename @include(if: true)`).join(' ')} }`],
      ['QUERY_TOO_COMPLEX', 'query($n: Int) { tools(first: $n) { edges { node { provider { tools(first: $n) { totalCount } } } } } }', { n: 100 }],
      ['PAGE_SIZE_EXCEEDED', '{ tools(first: 101) { totalCount } }'],
      ['TOO_MANY_TOKENS', `{ ${'a '.repeat(2001)}}`],
    ];
    for (const [code, query, variables] of cases) {
      // A JSON POST meets the gate: refused without a single SQL statement, not even the token's principal.
      registry.resetQueryLog();
      const gated = await registry.graphql(query, variables);
      expect(gated.status, code).toBe(400);
      expect(gated.errors![0]!.extensions!.code).toBe(code);
      expect(registry.queries).toEqual([]);
      // A GET takes Apollo's pipeline, whose limits refuse it the same way.
      const params = new URLSearchParams({ query, ...(variables ? { variables: JSON.stringify(variables) } : {}) });
      const full = await fetch(`${registry.url}/graphql?${params}`, {
        headers: { authorization: `Bearer ${registry.viewerToken}`, 'apollo-require-preflight': 'true' },
      });
      expect(full.status, code).toBe(400);
      const { message, extensions } = ((await full.json()) as { errors: { message: string; extensions: unknown }[] }).errors[0]!;
      expect({ message, extensions }).toEqual({ message: gated.errors![0]!.message, extensions: gated.errors![0]!.extensions });
    }
    // Within the limits, the request goes on to be authenticated and answered.
    registry.resetQueryLog();
    expect((await registry.graphql('{ tools(first: 1) { totalCount } }')).errors).toBeUndefined();
    expect(registry.queries.length).toBeGreaterThan(0);
  });

  it('keeps answering ordinary queries after all of that', async () => {
    const res = await registry.graphql<{ tools: { totalCount: number } }>('{ tools { totalCount } }');
    expect(res.errors).toBeUndefined();
    expect(res.data!.tools.totalCount).toBe(6);
  });
});
