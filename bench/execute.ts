import { isDeepStrictEqual } from 'node:util';
import { type Helper, startHelper } from './lib/child.ts';
import { type BenchContext, graphqlRequest } from './lib/context.ts';
import { expectAll, type LoadResult, type RequestSpec } from './lib/load.ts';
import { graphql } from './lib/registry.ts';
import { startPeer } from './lib/peer.ts';
import { interleaved, perRound, rotating, side, type SideSummary } from './lib/rounds.ts';

const TOOL = 'bench_echo.echo';
const PAYLOAD = { message: 'hello from the benchmark', n: 42, tags: ['a', 'b', 'c'] };

export const EXECUTE_MUTATION =
  'mutation Execute($input: ExecuteToolInput!) { executeTool(input: $input) { id status result durationMs } }';

const COUNTS = (principalId: string) =>
  `{ executions(first: 1, filter: { tool: "${TOOL}", principal: "${principalId}", status: [SUCCEEDED] }) { totalCount }
     auditLog(first: 1, filter: { action: "tool.execute", actorId: "${principalId}" }) { totalCount } }`;

export interface ExecuteResult {
  /** One connection: the cost of one call; percentiles pooled over the rounds, added = registry − direct. */
  latency: { direct: SideSummary; registry: SideSummary; addedP50: number; addedP99: number };
  /**
   * `connections` connections: how many calls per second through the registry, through the peer (a
   * bare Apollo Server mutation forwarding the same call to the same echo server: no auth, no
   * writes) and to the echo server directly; medians of the per-round ratios.
   */
  throughput: { connections: number; direct: SideSummary; peer: SideSummary; registry: SideSummary; vsPeer: number; vsDirect: number };
  /** Calls answered 200 through the registry, and the succeeded execution rows and audit entries they left. */
  calls: number;
  executionRows: number;
  auditEntries: number;
  /**
   * Calls still in flight when a timed run ended: the server completes (and records) them, the client
   * no longer counts their answers; at most one per connection per run.
   */
  inFlightBound: number;
  /** Every counted call left a succeeded row and an audit entry, and nothing else did. */
  recordsComplete: boolean;
}

/** The echo tool: an `http` provider whose one tool POSTs its `body` argument to the echo server. */
async function registerEcho(ctx: BenchContext, echoPort: number): Promise<void> {
  const manual = {
    utcp_version: '1.1.0',
    manual_version: '1.0.0',
    tools: [
      {
        name: 'echo',
        description: 'Answers with the JSON body it was sent.',
        tags: ['bench'],
        inputs: { type: 'object', properties: { body: { type: 'object' } }, required: ['body'] },
        outputs: { type: 'object' },
        tool_call_template: {
          call_template_type: 'http',
          url: `http://127.0.0.1:${echoPort}/echo`,
          http_method: 'POST',
          content_type: 'application/json',
          body_field: 'body',
        },
      },
    ],
  };
  const data = await graphql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
    ctx.registry.url,
    ctx.admin.token,
    'mutation Register($input: RegisterProviderInput!) { registerProvider(input: $input) { created userErrors { field message code } } }',
    { input: { name: 'bench_echo', callTemplate: { call_template_type: 'text', content: JSON.stringify(manual) } } },
  );
  if (data.registerProvider.userErrors.length || !data.registerProvider.created.includes(TOOL)) {
    throw new Error(`registering the echo tool failed: ${JSON.stringify(data.registerProvider)}`);
  }
}

async function counts(ctx: BenchContext): Promise<{ rows: number; audits: number }> {
  const data = await graphql<{ executions: { totalCount: number }; auditLog: { totalCount: number } }>(
    ctx.registry.url,
    ctx.admin.token,
    COUNTS(ctx.agent.id),
  );
  return { rows: data.executions.totalCount, audits: data.auditLog.totalCount };
}

/**
 * The echo server (a helper process) registered as the tool `bench_echo.echo`, checked with one
 * call; with the same payload as a direct request to the echo server and as an `executeTool` request.
 */
export async function echoTool(ctx: BenchContext): Promise<{ echo: Helper<{ port: number }>; direct: RequestSpec; viaRegistry: RequestSpec }> {
  const echo = await startHelper<{ port: number }>(new URL('./lib/echo.server.ts', import.meta.url));
  try {
    await registerEcho(ctx, echo.ready.port);
    const sample = await graphql<{ executeTool: { status: string; result: unknown } }>(ctx.registry.url, ctx.agent.token, EXECUTE_MUTATION, {
      input: { tool: TOOL, arguments: { body: PAYLOAD } },
    });
    if (sample.executeTool.status !== 'SUCCEEDED' || !isDeepStrictEqual(sample.executeTool.result, PAYLOAD)) {
      throw new Error(`the echo tool did not echo: ${JSON.stringify(sample.executeTool)}`);
    }
  } catch (error) {
    await echo.stop();
    throw error;
  }
  return {
    echo,
    direct: { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: JSON.stringify(PAYLOAD) },
    viaRegistry: graphqlRequest(ctx.agent.token, EXECUTE_MUTATION, { input: { tool: TOOL, arguments: { body: PAYLOAD } } }),
  };
}

/** The echo tool of `echoTool`, registered and running. */
export type EchoTool = Awaited<ReturnType<typeof echoTool>>;

/**
 * Execute overhead: `executeTool` (SYNC) of an http tool against a local echo server (`tool`, from
 * `echoTool`; the caller stops it), next to calling the echo server directly with the same client,
 * in interleaved rounds; latency with one connection. Throughput with `connections`, in rotating
 * rounds: the registry, the peer (the same request body, whose answer is checked to carry the same
 * echoed result) and the echo server directly. Afterwards every call through the registry must
 * have left a succeeded execution row and a `tool.execute` audit entry.
 */
export async function measureExecute(ctx: BenchContext, tool: EchoTool): Promise<ExecuteResult> {
  const { settings } = ctx;
  const { echo, direct, viaRegistry } = tool;
  const peer = await startPeer({ echoUrl: `http://127.0.0.1:${echo.ready.port}/echo` });
  try {
    const check = await graphql<{ executeTool: { status: string; result: unknown } }>(peer.url, null, EXECUTE_MUTATION, {
      input: { tool: TOOL, arguments: { body: PAYLOAD } },
    });
    if (check.executeTool.status !== 'SUCCEEDED' || !isDeepStrictEqual(check.executeTool.result, PAYLOAD)) {
      throw new Error(`the peer did not forward the call: ${JSON.stringify(check.executeTool)}`);
    }
    const before = await counts(ctx);
    let calls = 0;
    let inFlightBound = 0;
    // Latency runs (one connection) keep every sample, so p50 and p99 are pooled over the rounds.
    const onDirect = (connections: number) => async (durationS: number): Promise<LoadResult> => {
      const result = await ctx.load.run({ url: `http://127.0.0.1:${echo.ready.port}`, requests: [direct], connections, durationS, keepSamples: connections === 1 });
      expectAll(result, 200, 'echo direct');
      return result;
    };
    const onPeer = (connections: number) => async (durationS: number): Promise<LoadResult> => {
      const result = await ctx.load.run({ url: peer.url, requests: [viaRegistry], connections, durationS });
      expectAll(result, 200, 'executeTool on the peer');
      return result;
    };
    const onRegistry = (connections: number) => async (durationS: number): Promise<LoadResult> => {
      const result = await ctx.load.run({ url: ctx.registry.url, requests: [viaRegistry], connections, durationS, keepSamples: connections === 1 });
      calls += result.statuses['200'] ?? 0;
      inFlightBound += connections;
      expectAll(result, 200, 'executeTool');
      return result;
    };

    await onDirect(1)(settings.warmupS);
    await onRegistry(1)(settings.warmupS);
    await onPeer(settings.connections)(settings.warmupS);
    const latency = await interleaved(settings.rounds, () => onDirect(1)(settings.latencyRoundS), () => onRegistry(1)(settings.latencyRoundS));
    const throughput = await rotating(settings.rounds, {
      registry: () => onRegistry(settings.connections)(settings.roundS),
      peer: () => onPeer(settings.connections)(settings.roundS),
      direct: () => onDirect(settings.connections)(settings.roundS),
    });
    // Let the calls still in flight at the end of the last run finish and be recorded.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await counts(ctx);
    const executionRows = after.rows - before.rows;
    const auditEntries = after.audits - before.audits;
    const directLatency = side(latency.a);
    const registryLatency = side(latency.b);
    return {
      latency: {
        direct: directLatency,
        registry: registryLatency,
        addedP50: registryLatency.p50 - directLatency.p50,
        addedP99: registryLatency.p99 - directLatency.p99,
      },
      throughput: {
        connections: settings.connections,
        direct: side(throughput.direct),
        peer: side(throughput.peer),
        registry: side(throughput.registry),
        vsPeer: perRound(throughput.registry, throughput.peer, (r, p) => r.rps / p.rps),
        vsDirect: perRound(throughput.registry, throughput.direct, (r, d) => r.rps / d.rps),
      },
      calls,
      executionRows,
      auditEntries,
      inFlightBound,
      recordsComplete: executionRows === auditEntries && executionRows >= calls && executionRows <= calls + inFlightBound,
    };
  } finally {
    await peer.stop();
  }
}
