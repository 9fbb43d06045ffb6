import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

const SEARCH = `query($q: String!, $first: Int, $after: String) {
  tools(first: $first, after: $after, filter: { search: $q }) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } }
}`;

const TELESCOPE = manualTool({ name: 'focus', description: 'Points the telescope at a star.', tags: ['astronomy'] });
const SPECTRUM = manualTool({ name: 'spectrum', description: 'Measures the spectrum of a nebula.', tags: ['astronomy'] });
const ZEPPELIN = manualTool({ name: 'fleet', description: 'Tracks every zeppelin of the fleet.', tags: ['aviation'] });

let nonce = 0;

async function search(q: string, first = 20, after: string | null = null) {
  // Every search a distinct request (an undeclared `nonce` variable): the catalog cache, which only
  // GraphQL mutations clear, must not answer with what the catalog held before a direct import.
  nonce += 1;
  const res = await registry.graphql<{
    tools: { totalCount: number; edges: { node: { name: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(SEARCH, { q, first, after, nonce });
  expect(res.errors).toBeUndefined();
  return res.data!.tools;
}

const names = async (q: string) => (await search(q)).edges.map((e) => e.node.name);

/** The registry's own import: the same writes (and triggers) as a registration or refresh. */
async function importObservatory(tools: Record<string, unknown>[]) {
  await new ToolService(registry.db.fork()).importManual('observatory', manual(tools), INLINE_MANUAL);
}

/** How often the catalog's dictionary holds `word`. */
async function stored(word: string): Promise<number> {
  const [row] = await registry.db.fork().execute<{ count: number }[]>('select count(*)::int as count from search_word where word = ?', [word]);
  return row!.count;
}

beforeAll(async () => {
  registry = await startRegistry({ seed: true });
  await importObservatory([TELESCOPE, SPECTRUM]);
});

afterAll(() => registry?.close());

describe('search typo correction', () => {
  it('searches a word no tool has as the most similar word of the catalog', async () => {
    expect(await names('telescpe')).toEqual(['observatory.focus']);
    expect((await names('spectrm nebula'))[0]).toBe('observatory.spectrum');
    // A correctly spelt word stays as it is; a word like nothing in the catalog finds nothing.
    expect(await names('nebula')).toEqual(['observatory.spectrum']);
    expect(await names('qqqxxzz')).toEqual([]);
  });

  it('corrects to the word of a tool as soon as it is registered, and no longer once it is removed', async () => {
    expect(await names('zepelin')).toEqual([]);
    expect(await stored('zeppelin')).toBe(0);

    await importObservatory([TELESCOPE, SPECTRUM, ZEPPELIN]);
    expect(await stored('zeppelin')).toBe(1);
    expect(await names('zepelin')).toEqual(['observatory.fleet']);

    // The provider no longer lists it: the tool is marked removed, and its word leaves the dictionary.
    await importObservatory([TELESCOPE, SPECTRUM]);
    expect(await stored('zeppelin')).toBe(0);
    expect(await names('zepelin')).toEqual([]);
    // Words other tools still have stay.
    expect(await stored('telescope')).toBe(1);
    expect(await names('telescpe')).toEqual(['observatory.focus']);
  });

  it('forgets the words of a retired provider', async () => {
    await new ToolService(registry.db.fork()).importManual('airship', manual([ZEPPELIN]), INLINE_MANUAL);
    expect(await names('zepelin')).toEqual(['airship.fleet']);
    const provider = await registry.graphql<{ providers: { edges: { node: { id: string; name: string } }[] } }>(
      '{ providers(first: 50) { edges { node { id name } } } }',
      undefined,
      { authorization: `Bearer ${registry.adminToken}` },
    );
    const id = provider.data!.providers.edges.find((e) => e.node.name === 'airship')!.node.id;
    const removed = await registry.graphql<{ removeProvider: { userErrors: unknown[] } }>(
      'mutation($input: ProviderIdInput!) { removeProvider(input: $input) { userErrors { code message } } }',
      { input: { id } },
      { authorization: `Bearer ${registry.adminToken}` },
    );
    expect(removed.errors).toBeUndefined();
    expect(removed.data!.removeProvider.userErrors).toEqual([]);
    expect(await stored('zeppelin')).toBe(0);
    expect(await names('zepelin')).toEqual([]);
  });

  it('pages through a corrected search without repeating or losing a tool, and counts it', async () => {
    const all = await search('astronmy', 100);
    expect(all.edges.map((e) => e.node.name)).toEqual(expect.arrayContaining(['observatory.focus', 'observatory.spectrum']));
    expect(all.totalCount).toBe(all.edges.length);
    const paged: string[] = [];
    let after: string | null = null;
    for (let i = 0; i <= all.edges.length; i += 1) {
      const page: Awaited<ReturnType<typeof search>> = await search('astronmy', 1, after);
      paged.push(...page.edges.map((e) => e.node.name));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(all.edges.map((e) => e.node.name));
  });

  it('corrects only towards words of tools the caller may find: a hidden tool neither takes a correction nor blocks one', async () => {
    const admin = { authorization: `Bearer ${registry.adminToken}` };
    const denied = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { code message } } }',
      { input: { name: 'classified-hidden', effect: 'DENY', priority: 10, actions: ['READ'], resources: { tags: ['classified'] } } },
      admin,
    );
    expect(denied.errors).toBeUndefined();
    expect(denied.data!.createPolicy.userErrors).toEqual([]);
    const hidden = manualTool({ name: 'cipher', description: 'Reads a nebulous transmission.', tags: ['classified'] });
    await new ToolService(registry.db.fork()).importManual('vault', manual([hidden]), INLINE_MANUAL);

    // `nebulus` is closer to the hidden tool's `nebulous` than to `nebula`, which a readable tool has.
    nonce += 1;
    const asAdmin = await registry.graphql<{ tools: { edges: { node: { name: string } }[] } }>(SEARCH, { q: 'nebulus', first: 20, after: null, nonce }, admin);
    expect(asAdmin.data!.tools.edges.map((e) => e.node.name)).toEqual(['vault.cipher']);
    // The viewer may not read it: the correction is the closest word it can find, as if the hidden
    // tool did not exist, and the hidden word itself is corrected like any word the catalog lacks.
    expect(await names('nebulus')).toEqual(['observatory.spectrum']);
    expect(await names('nebulous')).toEqual(['observatory.spectrum']);
  });
});
