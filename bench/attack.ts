import { catalogRequest } from './catalog.ts';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { expectAll, type LoadResult } from './lib/load.ts';
import { interleaved, side, type SideSummary } from './lib/rounds.ts';
import { median } from './lib/stats.ts';

/** Nested `tools → provider → tools …` far past the depth limit (10). */
function deepQuery(levels: number): string {
  let inner = 'name';
  for (let i = 0; i < levels; i += 1) inner = `tools(first: 1) { edges { node { provider { ${inner} } } } }`;
  return `query Deep { ${inner} }`;
}

/** Hostile queries, each refused by one limit before any resolver runs; with the code it must get. */
export const HOSTILE: Record<string, { query: string; code: string }> = {
  deep: { query: deepQuery(8), code: 'QUERY_TOO_DEEP' },
  aliases: {
    query: `query Aliases { ${Array.from({ length: 60 }, (_, i) => `a${i}: tools(first: 100) { edges { node { id name } } }`).join(' ')} }`,
    code: 'TOO_MANY_ALIASES',
  },
  cost: {
    query:
      'query Cost { tools(first: 100) { edges { node { provider { tools(first: 100) { edges { node { name provider { name } } } } } } } } }',
    code: 'QUERY_TOO_COMPLEX',
  },
};

export interface AttackResult {
  legit: { connections: number; rate: number; baseline: SideSummary; attacked: SideSummary };
  attackConnections: number;
  /** Refusals per second the attacker got during the attacked runs (median). */
  attackRps: number;
  /** Legit p99 under attack over legit p99 without (each pooled over its interleaved rounds). */
  p99Ratio: number;
  /** Latency of one refusal as the client sees it (one connection, keep-alive, sequential), per kind and the worst kind's. */
  reject: Reject;
}

export interface Reject {
  /** `GET /healthz` on the same server, for reference (the HTTP path with no work). */
  healthz: { p50: number; p99: number };
  byKind: Record<string, { p50: number; p99: number; samples: number }>;
  /** The highest p50 and the highest p99 over the kinds. */
  p50Ms: number;
  p99Ms: number;
}

/** Sends each hostile query once and checks it is refused with HTTP 400 and its code. */
async function checkRefusals(ctx: BenchContext): Promise<void> {
  for (const [kind, { query, code }] of Object.entries(HOSTILE)) {
    const request = graphqlRequest(ctx.attacker.token, query);
    const response = await fetch(`${ctx.registry.url}/graphql`, { method: 'POST', headers: request.headers, body: request.body });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    if (response.status !== 400 || body.errors?.[0]?.extensions?.code !== code) {
      throw new Error(`the ${kind} query was not refused with 400 ${code}: ${response.status} ${JSON.stringify(body)}`);
    }
  }
}

/**
 * Rejection latency: each hostile query sent `amount` times per round on one keep-alive connection,
 * one at a time, over 3 rounds, from request written to refusal read (loopback included, nothing
 * subtracted); p50 and p99 pooled over the rounds per kind. `GET /healthz` is measured the same way
 * for reference.
 */
async function measureReject(ctx: BenchContext, amount: number): Promise<Reject> {
  const run = async (request: Parameters<typeof ctx.load.run>[0]['requests'][number], status: number) => {
    const result = await ctx.load.run({ url: ctx.registry.url, requests: [request], connections: 1, amount, keepSamples: true });
    expectAll(result, status, `reject ${request.path}`);
    return result;
  };
  const healthz: LoadResult[] = [];
  const kinds: Record<string, LoadResult[]> = Object.fromEntries(Object.keys(HOSTILE).map((k) => [k, []]));
  for (let round = 0; round < 3; round += 1) {
    healthz.push(await run({ method: 'GET', path: '/healthz' }, 200));
    for (const [kind, { query }] of Object.entries(HOSTILE)) kinds[kind]!.push(await run(graphqlRequest(ctx.attacker.token, query), 400));
  }
  const byKind = Object.fromEntries(
    Object.entries(kinds).map(([kind, results]) => {
      const pooled = side(results);
      return [kind, { p50: pooled.p50, p99: pooled.p99, samples: pooled.samples }];
    }),
  );
  const base = side(healthz);
  return {
    healthz: { p50: base.p50, p99: base.p99 },
    byKind,
    p50Ms: Math.max(...Object.values(byKind).map((k) => k.p50)),
    p99Ms: Math.max(...Object.values(byKind).map((k) => k.p99)),
  };
}

/**
 * Legitimate catalog traffic (rate-capped, like a frontend; every request distinct, so the catalog
 * cache misses each one and the legitimate requests do their full work) alone and while a second
 * client floods hostile queries on `connections` connections, in interleaved rounds. Legitimate
 * answers must all be 200 and hostile ones all 400.
 */
export async function measureAttack(ctx: BenchContext): Promise<AttackResult> {
  const { settings } = ctx;
  await checkRefusals(ctx);
  const legitConnections = 2;
  const legitRate = 50;
  const legit = catalogRequest(ctx.agent.token, true);
  const hostile = Object.values(HOSTILE).map(({ query }) => graphqlRequest(ctx.attacker.token, query));
  const attackRps: number[] = [];

  const legitRun = async (): Promise<LoadResult> => {
    const result = await ctx.load.run({
      url: ctx.registry.url,
      requests: [legit],
      connections: legitConnections,
      overallRate: legitRate,
      durationS: settings.roundS,
      keepSamples: true,
      distinct: true,
    });
    expectAll(result, 200, 'legitimate catalog traffic');
    return result;
  };
  const attackedRun = async (): Promise<LoadResult> => {
    // The flood starts first and ends last, so the legitimate run sees it the whole time.
    const flood = ctx.second.run({ url: ctx.registry.url, requests: hostile, connections: settings.connections, durationS: settings.roundS + 1.5 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await legitRun();
    const attack = await flood;
    expectAll(attack, 400, 'hostile queries');
    attackRps.push(attack.rps);
    return result;
  };

  await legitRun();
  const rounds = await interleaved(settings.rounds, legitRun, attackedRun);
  const reject = await measureReject(ctx, Math.max(100, Math.round(settings.latencyRoundS * 100)));
  const baseline = side(rounds.a);
  const attacked = side(rounds.b);
  return {
    legit: { connections: legitConnections, rate: legitRate, baseline, attacked },
    attackConnections: settings.connections,
    attackRps: median(attackRps),
    p99Ratio: attacked.p99 / baseline.p99,
    reject,
  };
}
