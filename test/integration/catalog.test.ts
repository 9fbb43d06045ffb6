import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Provider } from '../../src/modules/provider/provider.entity.js';
import { Tool, ToolService } from '../../src/modules/tool/index.js';
import { PROVIDER_FIELD_READS, TOOL_DERIVED_READS, TOOL_FIELD_READS } from '../../src/modules/tool/tool.projection.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import type {
  ProviderByIdQuery,
  ProviderByIdQueryVariables,
  ProvidersQuery,
  ProvidersQueryVariables,
  SearchToolsQuery,
  SearchToolsQueryVariables,
  ToolByNameQuery,
  ToolByNameQueryVariables,
  ToolFilter,
  ToolsQuery,
  ToolsQueryVariables,
} from '../generated/graphql.js';

let registry: TestRegistry;
/** Tags that PostgreSQL's array literal quotes or escapes, in the order a manual gives them. */
const AWKWARD_TAGS = ['a,b', 'say "hi"', '{braces}', 'back\\slash', 'NULL', 'two words', 'ünïcode ✓'];

async function names(filter: ToolFilter, first = 100): Promise<string[]> {
  const res = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { first, filter });
  expect(res.errors).toBeUndefined();
  return res.data!.tools.edges.map((e) => e.node.name);
}

beforeAll(async () => {
  registry = await startRegistry({ seed: true });
  const tools = new ToolService(registry.db.fork());
  await tools.importManual(
    'library',
    manual([
      manualTool({ name: 'by_tag', description: 'Finds records in the archive.', tags: ['telescope'] }),
      manualTool({ name: 'by_text', description: 'Points the telescope at a star and reads the catalog.', tags: ['astronomy'] }),
      manualTool({ name: 'unrelated', description: 'Sorts books.', tags: ['books'] }),
      manualTool({ name: 'odd_tags', description: 'Tags an array literal would quote.', tags: AWKWARD_TAGS }),
    ]),
    INLINE_MANUAL,
  );
});

afterAll(() => registry?.close());

describe('the tool catalog', () => {
  it('lists the seeded example tools with their providers', async () => {
    const res = await registry.graphql<ToolsQuery>('{ tools(first: 5) { edges { node { name description tags } } } }');
    expect(res.status).toBe(200);
    expect(res.data!.tools.edges).toHaveLength(5);
    expect(res.data!.tools.edges.map((e) => e.node.name)).toContain('currency.convert');
    const seeded = await names({ provider: 'weather' });
    expect(seeded).toEqual(['weather.geocode', 'weather.get_forecast']);
  });

  it('pages through the whole catalog in name order with opaque cursors, each tool once', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let total = 0;
    for (let page = 0; page < 20; page += 1) {
      const res: Awaited<ReturnType<typeof registry.op<ToolsQuery>>> = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { first: 2, after });
      expect(res.errors).toBeUndefined();
      const { edges, pageInfo, totalCount } = res.data!.tools;
      total = totalCount!;
      seen.push(...edges.map((e) => e.node.name));
      for (const edge of edges) expect(edge.cursor).not.toContain(edge.node.name);
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    expect(seen).toEqual([...seen].sort());
    expect(total).toBe(10);
  });

  it('refuses more than 100 tools per page with a coded error, also through variables', async () => {
    const literal = await registry.graphql('{ tools(first: 101) { edges { node { name } } } }');
    expect(literal.errors?.[0]?.extensions?.code).toBe('PAGE_SIZE_EXCEEDED');
    const variable = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { first: 1000 });
    expect(variable.errors?.[0]?.extensions).toMatchObject({ code: 'PAGE_SIZE_EXCEEDED', maximum: 100 });
    const negative = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { first: -1 });
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const providers = await registry.graphql('{ providers(first: 101) { edges { node { name } } } }');
    expect(providers.errors?.[0]?.extensions?.code).toBe('PAGE_SIZE_EXCEEDED');
  });

  it('refuses forged cursors and cursors of another listing', async () => {
    const forged = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { after: 'bm90LWEtY3Vyc29y' });
    expect(forged.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
    const providers = await registry.graphql<{ providers: { pageInfo: { endCursor: string } } }>(
      '{ providers(first: 1) { pageInfo { endCursor } } }',
    );
    const foreign = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { after: providers.data!.providers.pageInfo.endCursor });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
    const searchCursor = Buffer.from(JSON.stringify(['tools.search', 'NaN', 'x'])).toString('base64url');
    const wrongShape = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { after: searchCursor, filter: { search: 'star' } });
    expect(wrongShape.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
  });

  it('ranks a tool tagged with the search word above one that only mentions it in its description', async () => {
    expect(await names({ search: 'telescope' })).toEqual(['library.by_tag', 'library.by_text']);
  });

  it('ranks name matches first and finds names despite a typo', async () => {
    expect((await names({ search: 'forecast' }))[0]).toBe('weather.get_forecast');
    expect(await names({ search: 'forcast' })).toContain('weather.get_forecast');
    expect(await names({ search: 'no such thing anywhere' })).toEqual([]);
  });

  it('answers the reference client’s SearchTools with what an agent needs to call the tool', async () => {
    const res = await registry.op<SearchToolsQuery, SearchToolsQueryVariables>('SearchTools', { search: 'weather forecast', first: 3 });
    expect(res.errors).toBeUndefined();
    const [best] = res.data!.tools.edges.map((e) => e.node);
    expect(best).toMatchObject({ name: 'weather.get_forecast', callTemplateType: 'HTTP', quarantined: false, enabled: true });
    expect(best!.inputs).toMatchObject({ type: 'object', required: expect.any(Array) });
    expect(Date.parse(best!.updatedAt)).toBeGreaterThan(Date.parse('2026-01-01'));
  });

  it('pages through search results without repeating or losing a tool', async () => {
    const all = await names({ search: 'currency' });
    expect(all.length).toBeGreaterThan(1);
    const paged: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < all.length + 1; i += 1) {
      const res: Awaited<ReturnType<typeof registry.op<ToolsQuery>>> = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', {
        first: 1,
        after,
        filter: { search: 'currency' },
      });
      expect(res.errors).toBeUndefined();
      paged.push(...res.data!.tools.edges.map((e) => e.node.name));
      if (!res.data!.tools.pageInfo.hasNextPage) break;
      after = res.data!.tools.pageInfo.endCursor;
    }
    expect(paged).toEqual(all);
  });

  it('filters by tags, provider, call template type and enabled, all together', async () => {
    expect(await names({ tags: ['finance', 'exchange-rates'] })).toEqual(['currency.latest_rates']);
    expect(await names({ callTemplateType: 'CLI' })).toEqual(['shell.current_time', 'shell.echo']);
    expect(await names({ provider: 'shell', tags: ['echo'], enabled: true })).toEqual(['shell.echo']);
    expect(await names({ enabled: false })).toEqual([]);
    expect(await names({ provider: 'nobody' })).toEqual([]);
    const res = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { filter: { tags: ['diagnostics'] } });
    expect(res.data!.tools.totalCount).toBe(2);
  });

  it('rejects a search longer than 200 characters', async () => {
    const res = await registry.op<ToolsQuery, ToolsQueryVariables>('Tools', { filter: { search: 'x'.repeat(201) } });
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('finds one tool by name, and providers by id with their tools', async () => {
    const one = await registry.op<ToolByNameQuery, ToolByNameQueryVariables>('ToolByName', { name: 'shell.echo' });
    expect(one.data!.tool).toMatchObject({ name: 'shell.echo', callTemplateType: 'CLI', version: 1, status: 'ACTIVE' });
    expect(one.data!.tool!.inputs).toMatchObject({ required: ['message'] });
    const missing = await registry.op<ToolByNameQuery, ToolByNameQueryVariables>('ToolByName', { name: 'shell.nope' });
    expect(missing.data!.tool).toBeNull();

    const providerId = one.data!.tool!.provider.id;
    const provider = await registry.op<ProviderByIdQuery, ProviderByIdQueryVariables>('ProviderById', { id: providerId, first: 10 });
    expect(provider.data!.provider).toMatchObject({ name: 'shell', status: 'ACTIVE', callTemplateType: 'TEXT' });
    expect(provider.data!.provider!.tools.edges.map((e) => e.node.name)).toEqual(['shell.current_time', 'shell.echo']);
    const notAnId = await registry.op<ProviderByIdQuery, ProviderByIdQueryVariables>('ProviderById', { id: 'not-a-uuid' });
    expect(notAnId.errors).toBeUndefined();
    expect(notAnId.data!.provider).toBeNull();
  });

  it('lists providers in name order with a total count', async () => {
    const res = await registry.op<ProvidersQuery, ProvidersQueryVariables>('Providers', { first: 10 });
    expect(res.data!.providers.edges.map((e) => e.node.name)).toEqual(['currency', 'library', 'shell', 'weather']);
    expect(res.data!.providers.totalCount).toBe(4);
  });
});

describe('a listing reads only the columns its answer needs', () => {
  const PROVIDER_FIELDS = Object.keys(PROVIDER_FIELD_READS).filter((field) => field !== '__typename');
  /** Object fields with a selection of their own. */
  const SUBSELECTIONS: Record<string, string> = { versions: '{ version status definitionHash }', provider: `{ ${PROVIDER_FIELDS.join(' ')} missingVariables }` };

  /** As the admin: `missingVariables` needs providers:write. */
  const asAdmin = () => ({ authorization: `Bearer ${registry.adminToken}` });

  type Nodes = { tools: { edges: { node: Record<string, unknown> & { name: string } }[] } };

  /** Every tool of a listing selecting `selection` (beside its name), next to a lookup of that tool by name selecting the same. */
  async function listedAndLookedUp(selection: string, fragments = ''): Promise<[unknown, unknown][]> {
    const document = `{ tools(first: 100) { edges { node { name ${selection} } } } } ${fragments}`;
    const listed = await registry.graphql<Nodes>(document, {}, asAdmin());
    expect(listed.errors, selection).toBeUndefined();
    // The second time, the document runs compiled (graphql-jit), with resolve info of its own making.
    expect((await registry.graphql<Nodes>(document, {}, asAdmin())).data).toEqual(listed.data);
    expect(listed.data!.tools.edges.length).toBeGreaterThan(5);
    return Promise.all(
      listed.data!.tools.edges.map(async ({ node }) => {
        const single = await registry.graphql<{ tool: unknown }>(`query($name: String!) { tool(name: $name) { name ${selection} } } ${fragments}`, { name: node.name }, asAdmin());
        expect(single.errors, selection).toBeUndefined();
        return [node, single.data!.tool] as [unknown, unknown];
      }),
    );
  }

  /** The listing statements (SQL as built, `?` for values) that `run` sends. */
  async function listingsOf(run: () => Promise<unknown>): Promise<string[]> {
    registry.resetQueryLog();
    await run();
    return registry.queries.filter((sql) => /from tool t join provider p/.test(sql));
  }

  /** The listing statements of `tools(args) { edges { node { selection } } }`, as the admin. */
  const listingsOfQuery = (args: string, selection: string) =>
    listingsOf(async () => {
      const res = await registry.graphql(`{ tools(${args}) { edges { node { ${selection} } } } }`, {}, asAdmin());
      expect(res.errors).toBeUndefined();
    });

  it('selects the columns of the fields asked for, and every column for a field it does not know', async () => {
    const listingOf = async (selection: string) => {
      const listing = await listingsOfQuery('first: 5', selection);
      expect(listing).toHaveLength(1);
      return listing[0]!;
    };
    const lean = await listingOf('name description callTemplateType provider { name }');
    expect(lean).toMatch(/t\."description"/);
    // The call template's type is computed by the database: no call template is read.
    expect(lean).toMatch(/t\."call_template"->>'call_template_type' as "callTemplateType"/);
    expect(lean).not.toMatch(/t\."call_template"(?!->>)/);
    expect(lean).toMatch(/p\."name"/);
    for (const unread of [/t\."inputs"/, /t\."outputs"/, /t\."definition_hash"/, /p\."call_template"/, /p\."owner_id"/]) expect(lean).not.toMatch(unread);
    // A provider field with a resolver of its own reads the whole provider, the tool still only what it needs.
    const withResolver = await listingOf('name provider { missingVariables }');
    expect(withResolver).toMatch(/p\."call_template"/);
    expect(withResolver).not.toMatch(/t\."inputs"/);
  });

  it('writes the limit into the statement only when no condition has a value, so that its plan holds for every page', async () => {
    const listingOf = (args: string) => listingsOfQuery(args, 'name');
    const first = await registry.graphql<{ tools: { pageInfo: { endCursor: string } } }>('{ tools(first: 2) { pageInfo { endCursor } } }', {}, asAdmin());
    const after = first.data!.tools.pageInfo.endCursor;
    expect(await listingOf('first: 5')).toEqual([expect.stringMatching(/ order by t\.name asc limit 6$/)]);
    expect(await listingOf(`first: 5, after: "${after}"`)).toEqual([expect.stringMatching(/t\.name > \? order by t\.name asc limit 6$/)]);
    for (const conditions of ['filter: { tags: ["astronomy"] }', 'filter: { enabled: true }', 'filter: { status: [ACTIVE] }']) {
      expect(await listingOf(`first: 5, ${conditions}`), conditions).toEqual([expect.stringMatching(/ order by t\.name asc limit \?$/)]);
    }
    // A caller whose read policies name tools: their patterns are values too.
    const readable = new ToolService(registry.db.fork(), async () => ({ sql: `t.name like ? escape '\\'`, params: ['library.%'] }), registry.db);
    const policed = await listingsOf(async () => {
      expect((await readable.list({ first: 5 })).edges.map((e) => e.node.name)).toEqual(expect.arrayContaining(['library.by_tag']));
    });
    expect(policed).toEqual([expect.stringMatching(/t\.name like \? .* limit \?$/)]);
  });

  it('names real fields and properties only', async () => {
    const typeFields = async (type: string) =>
      (await registry.graphql<{ __type: { fields: { name: string }[] } }>(`{ __type(name: "${type}") { fields { name } } }`)).data!.__type.fields.map((f) => f.name);
    expect(await typeFields('Tool')).toEqual(expect.arrayContaining(Object.keys(TOOL_FIELD_READS).filter((f) => f !== '__typename')));
    expect(await typeFields('Provider')).toEqual(expect.arrayContaining(PROVIDER_FIELDS));
    const metadata = registry.db.orm.getMetadata();
    const properties = (props: readonly { name: unknown }[]) => props.map((p) => p.name as string);
    const derived: readonly string[] = TOOL_DERIVED_READS;
    expect(properties(metadata.get(Tool).props)).toEqual(expect.arrayContaining(Object.values(TOOL_FIELD_READS).flat().filter((p) => !derived.includes(p))));
    expect(properties(metadata.get(Tool).props)).not.toEqual(expect.arrayContaining([...TOOL_DERIVED_READS]));
    expect(properties(metadata.get(Provider).props)).toEqual(expect.arrayContaining(Object.values(PROVIDER_FIELD_READS).flat()));
  });

  it('lists tags as they were imported and as the ORM reads them, whatever characters they hold', async () => {
    const res = await registry.graphql<{ tools: { edges: { node: { tags: string[] } }[] } }>(
      '{ tools(first: 1, filter: { search: "odd_tags" }) { edges { node { tags } } } }',
    );
    expect(res.errors).toBeUndefined();
    const stored = await registry.db.fork().findOneOrFail(Tool, { name: 'library.odd_tags' });
    expect(stored.tags).toEqual(AWKWARD_TAGS);
    expect(res.data!.tools.edges.map((e) => e.node.tags)).toEqual([AWKWARD_TAGS]);
  });

  it('answers each field of a listed tool as a lookup of the tool, which reads every column, does', async () => {
    const type = await registry.graphql<{ __type: { fields: { name: string }[] } }>('{ __type(name: "Tool") { fields { name } } }');
    for (const { name: field } of type.data!.__type.fields) {
      for (const [listed, lookedUp] of await listedAndLookedUp(`${field} ${SUBSELECTIONS[field] ?? ''}`)) expect(listed, field).toEqual(lookedUp);
    }
  });

  it("answers each field of a listed tool's provider as a lookup does, also beside a field the projection does not know", async () => {
    for (const field of PROVIDER_FIELDS) {
      for (const selection of [`provider { ${field} }`, `provider { ${field} missingVariables }`]) {
        for (const [listed, lookedUp] of await listedAndLookedUp(selection)) expect(listed, selection).toEqual(lookedUp);
      }
    }
  });

  it('reads what fragments, aliases and skipped fields select, and the tools of a provider likewise', async () => {
    const fragments = 'fragment T on Tool { id ... on Tool { about: description provider { ...P } } inputs @skip(if: true) } fragment P on Provider { name status }';
    for (const [listed, lookedUp] of await listedAndLookedUp('...T kind: callTemplateType', fragments)) expect(listed).toEqual(lookedUp);
    const res = await registry.graphql<{ providers: { edges: { node: { name: string } & Nodes }[] } }>(
      '{ providers(first: 10) { edges { node { name tools(first: 10) { edges { node { name inputs callTemplateType } } } } } } }',
    );
    expect(res.errors).toBeUndefined();
    const weather = res.data!.providers.edges.find((e) => e.node.name === 'weather')!.node;
    expect(weather.tools.edges).toHaveLength(2);
    for (const { node } of weather.tools.edges) {
      const single = await registry.graphql<{ tool: unknown }>('query($name: String!) { tool(name: $name) { name inputs callTemplateType } }', { name: node.name });
      expect(node).toEqual(single.data!.tool);
      expect(node.inputs).toMatchObject({ type: 'object' });
    }
  });
});
