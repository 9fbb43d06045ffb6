import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { expectAll, type LoadResult } from './lib/load.ts';
import { graphql } from './lib/registry.ts';
import { type RunFigures, side } from './lib/rounds.ts';

/** A ranked search page, as a frontend's search box asks for it. */
export const SEARCH_QUERY =
  'query Search($q: String!) { tools(first: 20, filter: { search: $q }) { edges { node { id name description tags } } pageInfo { hasNextPage endCursor } } }';

/** Distinct searches per catalog size; every size gets the same ones. */
export const DISTINCT_QUERIES = 2_400;

// Words of the generated catalog (bench/lib/catalog.seed.ts): its verbs, nouns, qualifiers and tags.
const CATALOG_WORDS = [
  'get', 'list', 'search', 'create', 'update', 'delete', 'send', 'fetch', 'convert', 'translate', 'analyze', 'summarize',
  'schedule', 'render', 'validate', 'export', 'import', 'sync', 'resolve', 'compute', 'weather', 'forecast', 'invoice',
  'customer', 'ticket', 'issue', 'repository', 'calendar', 'event', 'email', 'message', 'document', 'spreadsheet', 'image',
  'video', 'payment', 'order', 'shipment', 'currency', 'stock', 'map', 'route', 'user', 'file', 'report', 'metric', 'alert',
  'log', 'database', 'contact', 'daily', 'hourly', 'recent', 'open', 'archived', 'public', 'private', 'shared', 'pending',
  'active', 'monthly', 'global', 'local', 'detailed', 'quick', 'finance', 'devops', 'crm', 'productivity', 'media', 'maps',
  'communication', 'storage', 'analytics', 'security', 'ecommerce', 'travel', 'health', 'education', 'social', 'ai',
  'documents',
];
// Words people search tool catalogs for that the generated catalog mostly lacks (the labelled set's
// document has some of them): misses and near misses cost too.
const OTHER_WORDS = [
  'account', 'address', 'agent', 'archive', 'assign', 'attachment', 'audit', 'avatar', 'balance', 'bank', 'banner', 'board',
  'booking', 'bucket', 'cache', 'cart', 'category', 'channel', 'chart', 'chat', 'checkout', 'cluster', 'comment', 'component',
  'config', 'container', 'coupon', 'credential', 'dashboard', 'dataset', 'deploy', 'device', 'domain', 'draft', 'expense',
  'feature', 'feedback', 'field', 'filter', 'flight', 'folder', 'group', 'hotel', 'incident', 'index', 'job', 'key', 'label',
  'lead', 'license', 'link', 'location', 'meeting', 'member', 'merge', 'note', 'notification', 'option', 'permission',
  'pipeline', 'plan', 'post', 'price', 'priority', 'product', 'project', 'queue', 'refund', 'release', 'role', 'scheme',
  'screen', 'secret', 'server', 'session', 'settings', 'status', 'subscription', 'task', 'team', 'token', 'transaction',
  'transition', 'upload', 'version', 'vote', 'watcher', 'webhook', 'workflow', 'worklog',
];

/** A deterministic pseudo-random sequence (mulberry32), so every run searches the same queries. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A typo of `word`: two letters swapped, or one dropped. */
function typo(word: string, next: () => number): string {
  const at = 1 + Math.floor(next() * (word.length - 2));
  return next() < 0.5 ? word.slice(0, at) + word[at + 1] + word[at] + word.slice(at + 2) : word.slice(0, at) + word.slice(at + 1);
}

/** The benchmark's vocabulary: catalog words, other words, and a typo of every fourth of them (≥ 200 words). */
export function searchVocabulary(): string[] {
  const next = random(7);
  const words = [...CATALOG_WORDS, ...OTHER_WORDS];
  const typos = words.filter((w, i) => i % 4 === 0 && w.length >= 5).map((w) => typo(w, next));
  return [...new Set([...words, ...typos])];
}

/** `count` distinct searches from the vocabulary: every word alone, the rest two words. */
export function searchQueries(count = DISTINCT_QUERIES): string[] {
  const words = searchVocabulary();
  const next = random(42);
  const pick = () => words[Math.floor(next() * words.length)]!;
  const queries = new Set<string>(words.slice(0, count));
  while (queries.size < count) {
    const first = pick();
    const second = pick();
    if (first !== second) queries.add(`${first} ${second}`);
  }
  // Interleave one- and two-word searches, so every round gets both.
  return [...queries].sort((a, b) => hash(a) - hash(b));
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The labelled query set over a large real OpenAPI description (test/fixtures/search). */
interface LabelledSet {
  provider: string;
  document: string;
  queries: { query: string; hits: string[] }[];
}

const FIXTURES = new URL('../test/fixtures/', import.meta.url);

/** How often a labelled tool is among the first three results, over the labelled set, with the misses. */
export interface RelevanceResult {
  catalogSize: number;
  queries: number;
  top3: number;
  misses: { query: string; got: string[] }[];
}

/**
 * Registers the labelled set's OpenAPI description on the site's registry as provider `jira` (served
 * from this process on loopback, discovered by the registry's own conversion), then runs every
 * labelled query through `tools(filter: { search })` as the agent: the share whose first three
 * results include a labelled tool.
 */
export async function measureRelevance(ctx: BenchContext, catalogSize: number): Promise<RelevanceResult> {
  const set = JSON.parse(readFileSync(new URL('search/jira-queries.json', FIXTURES), 'utf8')) as LabelledSet;
  const document = gunzipSync(readFileSync(new URL(set.document, FIXTURES)));
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(document));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`;
    const registered = await graphql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
      ctx.registry.url,
      ctx.admin.token,
      'mutation R($input: RegisterProviderInput!) { registerProvider(input: $input) { created userErrors { field message code } } }',
      { input: { name: set.provider, callTemplate: { call_template_type: 'http', url, http_method: 'GET' } } },
    );
    if (registered.registerProvider.userErrors.length) throw new Error(`registerProvider: ${JSON.stringify(registered.registerProvider.userErrors)}`);
  } finally {
    server.close();
  }
  const misses: RelevanceResult['misses'] = [];
  for (const { query, hits } of set.queries) {
    const data = await graphql<{ tools: { edges: { node: { name: string } }[] } }>(ctx.registry.url, ctx.agent.token, SEARCH_QUERY, { q: query });
    const top = data.tools.edges.slice(0, 3).map((e) => e.node.name);
    if (!top.some((name) => hits.includes(name))) misses.push({ query, got: top });
  }
  return { catalogSize, queries: set.queries.length, top3: 1 - misses.length / set.queries.length, misses };
}

export interface SearchResult {
  catalogSize: number;
  /** One connection (the cost of one search, no queueing): p50 and p99 over every search of every round. */
  p50: number;
  p99: number;
  rps: number;
  samples: number;
  rounds: RunFigures[];
  /** Distinct searches run at this size, and the vocabulary they were drawn from. */
  distinctQueries: number;
  vocabulary: number;
  /** How many searches found nothing, and how many filled a whole first page. */
  empty: number;
  fullPages: number;
}

/** Rounds in which each catalog gets its turn, the order rotating so none is always first or last. */
function rotations<T>(items: T[], rounds: number): T[][] {
  return Array.from({ length: rounds }, (_, r) => {
    const rotated = [...items.slice(r % items.length), ...items.slice(0, r % items.length)];
    return r % 2 ? rotated.reverse() : rotated;
  });
}

/**
 * Search latency at each catalog size (one registry and database per size): one connection, every
 * size searching the same {@link DISTINCT_QUERIES} distinct one- and two-word queries from
 * {@link searchVocabulary}, split over `rounds` interleaved rounds (the sizes taking turns, so the
 * machine's drift hits every size alike); p50/p99 over every search of a size. Each query is checked
 * once per size for GraphQL errors first (that pass also warms the caches and counts empty and full
 * pages); every measured answer must be a 200.
 */
export async function measureSearch(sites: { size: number; ctx: BenchContext }[]): Promise<Record<number, SearchResult>> {
  const { settings } = sites[0]!.ctx;
  const queries = searchQueries();
  const shape = new Map<number, { empty: number; fullPages: number }>();
  for (const { size, ctx } of sites) {
    const counts = { empty: 0, fullPages: 0 };
    for (const q of queries) {
      const data = await graphql<{ tools: { edges: unknown[] } }>(ctx.registry.url, ctx.agent.token, SEARCH_QUERY, { q });
      if (data.tools.edges.length === 0) counts.empty += 1;
      if (data.tools.edges.length === 20) counts.fullPages += 1;
    }
    shape.set(size, counts);
  }
  // Every search is a distinct request (an unused `nonce` variable), so the catalog cache never
  // answers it: this measures the search itself, not the cache in front of it.
  let nonce = 0;
  const perRound = Math.ceil(queries.length / settings.rounds);
  const run = async ({ size, ctx }: { size: number; ctx: BenchContext }, round: number): Promise<LoadResult> => {
    const slice = queries.slice(round * perRound, (round + 1) * perRound);
    const requests = slice.map((q) => graphqlRequest(ctx.agent.token, SEARCH_QUERY, { q, nonce: (nonce += 1) }));
    const result = await ctx.load.run({ url: ctx.registry.url, requests, connections: 1, amount: requests.length, keepSamples: true });
    expectAll(result, 200, `search at ${size}`);
    return result;
  };
  const results = new Map<number, LoadResult[]>(sites.map((s) => [s.size, []]));
  const orders = rotations(sites, settings.rounds);
  for (const [round, order] of orders.entries()) {
    for (const site of order) results.get(site.size)!.push(await run(site, round));
  }
  const vocabulary = searchVocabulary().length;
  return Object.fromEntries(
    sites.map(({ size }) => {
      const summary = side(results.get(size)!);
      return [
        size,
        { catalogSize: size, p50: summary.p50, p99: summary.p99, rps: summary.rps, samples: summary.samples, rounds: summary.runs, distinctQueries: queries.length, vocabulary, ...shape.get(size)! },
      ];
    }),
  );
}
