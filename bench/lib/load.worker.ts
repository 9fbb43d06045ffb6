import autocannon from 'autocannon';
import type { LoadOptions, LoadResult } from './load.ts';
import { round, summarize } from './stats.ts';

/**
 * The load generator process (see LoadGenerator): runs autocannon for each options message and
 * answers with the result. Latencies are kept per response with hrtime precision (autocannon's own
 * histogram has whole milliseconds, too coarse for sub-millisecond differences).
 */
async function run(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let bytes = 0;
  const started = process.hrtime.bigint();
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      pipelining: 1,
      ...(options.amount ? { amount: options.amount } : { duration: options.durationS ?? 5 }),
      ...(options.overallRate ? { overallRate: options.overallRate } : {}),
      ...(options.distinct ? { idReplacement: true } : {}),
      timeout: options.timeoutS ?? 10,
      requests: options.requests.map((r) => ({ method: r.method, path: r.path, headers: r.headers, body: r.body })),
    },
    (error: unknown, result: autocannon.Result) => (error ? fail(error) : finish(result)),
  );
  instance.on('response', (_client, statusCode, resBytes, responseTime) => {
    latencies.push(responseTime);
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    bytes += resBytes;
  });
  const result = await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    requests: latencies.length,
    durationS: round(seconds, 3),
    rps: latencies.length / seconds,
    latency: summarize(latencies),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    bytesPerResponse: latencies.length ? bytes / latencies.length : 0,
    ...(options.keepSamples ? { samples: latencies } : {}),
  };
}

process.on('message', (options: LoadOptions) => {
  run(options).then(
    (result) => process.send!(result),
    (error: unknown) => process.send!({ error: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('SIGTERM', () => process.exit(0));
process.send!({ ready: true });
