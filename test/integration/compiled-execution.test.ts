import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type GraphQLResponse, type TestRegistry } from '../helpers/registry.js';

// Query operations are compiled by graphql-jit once a document comes a second time; the first time,
// graphql-js executes it. Each case below sends a fresh document three times and requires the
// compiled answers (second and third) to be exactly graphql-js's (first), errors and their paths
// included; /metrics says which executor ran each time, so the comparison cannot pass vacuously.

let registry: TestRegistry;
let publisher: string;
let fresh = 0;

type Executions = { compiled: number; interpreted: number };

async function executions(): Promise<Executions> {
  const response = await fetch(`${registry.url}/metrics`, { headers: { authorization: `Bearer ${registry.adminToken}` } });
  const text = await response.text();
  const count = (executor: string) => Number(new RegExp(`^registry_graphql_executions_total\\{executor="${executor}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { compiled: count('compiled'), interpreted: count('graphql-js') };
}

/** What must not differ between the executors: the status, `data` (in order) and the errors. */
function answer(response: GraphQLResponse<unknown>) {
  return { status: response.status, data: JSON.stringify(response.data), errors: response.errors };
}

/**
 * Sends `query` (made a document of its own) three times and returns graphql-js's answer, after
 * checking the compiled ones equal it and that the executors ran as expected.
 */
async function sameAnswers(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<unknown>> {
  fresh += 1;
  const document = `${query}\n# case ${fresh}`;
  const before = await executions();
  const first = await registry.graphql(document, variables, headers);
  const second = await registry.graphql(document, variables, headers);
  const third = await registry.graphql(document, variables, headers);
  const after = await executions();
  expect(after).toEqual({ compiled: before.compiled + 2, interpreted: before.interpreted + 1 });
  expect(answer(second)).toEqual(answer(first));
  expect(answer(third)).toEqual(answer(first));
  return first;
}

const TOOL_FIELDS = `
  fragment ToolFields on Tool {
    id
    toolName: name
    description
    tags @include(if: $withTags)
    callTemplateType
    status
    enabled
    inputs
    createdAt
    provider { ... on Provider { id name } }
    kind: __typename
  }`;

beforeAll(async () => {
  registry = await startRegistry({ seed: true, env: { REGISTRY_CATALOG_CACHE_MB: '0' } });
  publisher = await registry.login({ roles: ['publisher'] });
});

afterAll(() => registry?.close());

describe('compiled query execution', () => {
  it('answers catalog pages with fragments, variables, aliases, directives and nested fields exactly as graphql-js', async () => {
    const query = `query Catalog($first: Int!, $after: String, $withTags: Boolean!, $filter: ToolFilter) {
      page: tools(first: $first, after: $after, filter: $filter) {
        edges { cursor node { ...ToolFields } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        totalCount
      }
      one: tools(first: 1) { edges { node { id name } } }
    }
    ${TOOL_FIELDS}`;
    const page = await sameAnswers(query, { first: 3, withTags: true });
    const data = page.data as { page: { edges: { cursor: string }[]; totalCount: number } };
    expect(data.page.edges).toHaveLength(3);
    expect(data.page.totalCount).toBeGreaterThan(3);
    await sameAnswers(query, { first: 2, after: data.page.edges[2]!.cursor, withTags: false, filter: { callTemplateType: 'HTTP' } });
    await sameAnswers(query, { first: 5, withTags: true, filter: { tags: ['weather'], status: ['ACTIVE'] } });
  });

  it('answers single tools, providers with their tools and introspection exactly as graphql-js', async () => {
    await sameAnswers(`query ($withTags: Boolean!) { tool(name: "weather.get_forecast") { ...ToolFields versions { version status } } missing: tool(name: "no.such") { id } } ${TOOL_FIELDS}`, {
      withTags: true,
    });
    await sameAnswers('{ providers(first: 3) { edges { node { name tools(first: 2) { totalCount edges { node { name quarantined } } } } } } }');
    await sameAnswers('{ __type(name: "Tool") { name fields { name type { name kind ofType { name } } } } __typename }');
  });

  it('reports a denied field, a refused argument and a null in a non-null position exactly as graphql-js', async () => {
    // Provider.credential needs providers:write: null with FORBIDDEN at its path, the rest answered.
    const denied = await sameAnswers('{ tools(first: 2) { edges { node { name provider { name credential { hint } } } } } }');
    expect(denied.errors?.map((e) => [e.extensions?.code, e.path])).toEqual([
      ['FORBIDDEN', ['tools', 'edges', 0, 'node', 'provider', 'credential']],
      ['FORBIDDEN', ['tools', 'edges', 1, 'node', 'provider', 'credential']],
    ]);
    // A bad cursor is the resolver's INVALID_CURSOR; `tools` is non-null, so `data` is null.
    const cursor = await sameAnswers('{ tools(first: 2, after: "bogus") { edges { node { name } } } }');
    expect(cursor.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
    expect(cursor.data).toBeNull();
    // Next to an answered field, the refused one alone is null.
    const partial = await sameAnswers('{ tool(name: "weather.get_forecast") { name } tools(first: 1, after: "bogus") { totalCount } }');
    expect(partial.errors?.map((e) => e.path)).toEqual([['tools']]);
    // A caller without tools:read is refused the catalog, whoever executes it.
    const token = await registry.login({ scopes: ['tools:execute'] });
    const refused = await sameAnswers('{ tools(first: 1) { totalCount } }', undefined, { authorization: `Bearer ${token}` });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('serves federation: _service and _entities (tools, providers, unknown ids, refused representations) exactly as graphql-js', async () => {
    await sameAnswers('{ _service { sdl } }');
    const tool = await registry.graphql<{ tool: { id: string; provider: { id: string } } }>('{ tool(name: "weather.get_forecast") { id provider { id } } }');
    const { id, provider } = tool.data!.tool;
    const query = `query Refs($reps: [_Any!]!) {
      _entities(representations: $reps) { __typename ... on Tool { name callTemplateType provider { name } } ... on Provider { name } }
    }`;
    const entities = await sameAnswers(query, {
      reps: [
        { __typename: 'Tool', id },
        { __typename: 'Provider', id: provider.id },
        { __typename: 'Tool', id: '00000000-0000-4000-8000-000000000000' },
        { __typename: 'Tool', id: 'not-a-uuid' },
      ],
    });
    expect(entities.errors).toBeUndefined();
    expect(entities.data).toEqual({
      _entities: [
        { __typename: 'Tool', name: 'weather.get_forecast', callTemplateType: 'HTTP', provider: { name: 'weather' } },
        { __typename: 'Provider', name: 'weather' },
        null,
        null,
      ],
    });
    const bad = await sameAnswers(query, { reps: [{ __typename: 'Nope', id }] });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('leaves mutations, and requests that want federation traces, to graphql-js', async () => {
    const mutation = 'mutation { setToolEnabled(input: { toolId: "00000000-0000-4000-8000-000000000000", enabled: true }) { tool { id } } }';
    const before = await executions();
    for (let i = 0; i < 3; i += 1) await registry.graphql(mutation, undefined, { authorization: `Bearer ${publisher}` });
    expect(await executions()).toEqual({ compiled: before.compiled, interpreted: before.interpreted + 3 });

    const query = '{ tools(first: 1) { edges { node { name } } } }';
    await sameAnswers(query);
    const traced = await executions();
    const res = await registry.graphql(`${query}\n# case ${fresh}`, undefined, { 'apollo-federation-include-trace': 'ftv1' });
    expect(Object.keys(res.extensions ?? {})).toContain('ftv1');
    expect(await executions()).toEqual({ compiled: traced.compiled, interpreted: traced.interpreted + 1 });
  });
});
