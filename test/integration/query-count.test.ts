import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

const PAGE = `query Page($first: Int, $search: String) {
  tools(first: $first, filter: { search: $search }) {
    edges { node { name tags provider { id name status } } }
    pageInfo { hasNextPage }
  }
}`;

/** Statements a GraphQL request ran (reads, with or without CTEs), without transaction bookkeeping. */
async function statementsFor(variables: Record<string, unknown>): Promise<string[]> {
  registry.resetQueryLog();
  const res = await registry.graphql<{ tools: { edges: unknown[] } }>(PAGE, variables);
  expect(res.errors).toBeUndefined();
  return registry.queries.filter((sql) => /^\s*(select|with)\b/i.test(sql));
}

beforeAll(async () => {
  registry = await startRegistry();
  const tools = new ToolService(registry.db.fork());
  for (let p = 0; p < 12; p += 1) {
    const entries = Array.from({ length: 12 }, (_, t) =>
      manualTool({ name: `tool_${t}`, description: `Tool ${t} of provider ${p}, about widgets.`, tags: [`group${t % 3}`] }),
    );
    await tools.importManual(`provider_${p}`, manual(entries), INLINE_MANUAL);
  }
});

afterAll(() => registry?.close());

describe('listing tools with their providers', () => {
  it('runs the same small number of queries for 100 tools from 12 providers as for 5', async () => {
    const large = await statementsFor({ first: 100 });
    const small = await statementsFor({ first: 5 });
    // One looks up the caller's principal, one reads the policies (which filter the catalog), one
    // the page of tools, one their providers.
    expect(large).toHaveLength(4);
    expect(small).toHaveLength(large.length);
  });

  it('loads the versions of a page of tools in one more query', async () => {
    registry.resetQueryLog();
    const res = await registry.graphql<{ tools: { edges: { node: { versions: { version: number }[] } }[] } }>(
      '{ tools(first: 100) { edges { node { name versions { version status } } } } }',
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.tools.edges.every((e) => e.node.versions.length === 1)).toBe(true);
    expect(registry.queries.filter((sql) => /^\s*select/i.test(sql))).toHaveLength(4);
  });

  it('stays bounded when searching', async () => {
    // The ranked search is one statement, its typo fallback (`provder` finds the providers' tools) included.
    const statements = await statementsFor({ first: 100, search: 'widgets' });
    expect(statements).toHaveLength(4);
    const typo = await statementsFor({ first: 100, search: 'provder' });
    expect(typo).toHaveLength(4);
  });
});
