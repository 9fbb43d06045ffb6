import type { RejectAnswer, RejectTask, ShieldAnswer, ShieldTask } from './in-process.worker.ts';
import { CATALOG_QUERY } from './catalog.ts';
import { ask, startHelper } from './lib/child.ts';
import type { Caller } from './lib/context.ts';

export interface ShieldResult extends ShieldAnswer {
  catalogSize: number;
  queriesPerSide: number;
}

/** Runs one task in a fresh in-process worker on the built registry. */
async function inProcess<Answer>(task: ShieldTask | RejectTask): Promise<Answer> {
  const worker = await startHelper<{ ready: true }>(new URL('./in-process.worker.ts', import.meta.url));
  try {
    return await ask<Answer>(worker.child, task);
  } finally {
    await worker.stop();
  }
}

/**
 * Shield cost: the catalog query executed in process (no HTTP), on the benchmark's database, for the
 * non-admin agent, through the subgraph schema with and without the shield rule tree, in ABBA rounds;
 * the overhead is the median of the per-round time ratios, minus one.
 */
export async function measureShield(
  env: Record<string, string>,
  agent: Caller,
  catalogSize: number,
  options: { rounds: number; batch: number },
): Promise<ShieldResult> {
  const answer = await inProcess<ShieldAnswer>({
    task: 'shield',
    env,
    query: CATALOG_QUERY,
    principal: { id: agent.id, roles: ['agent'], scopes: ['tools:read', 'tools:execute'] },
    rounds: options.rounds,
    batch: options.batch,
  });
  return { ...answer, catalogSize, queriesPerSide: options.rounds * options.batch * 2 };
}

/** In-process refusal time of each document (see in-process.worker.ts), median ms. */
export function measureRejectInProcess(documents: Record<string, string>, iterations = 300): Promise<RejectAnswer> {
  return inProcess<RejectAnswer>({ task: 'reject', documents, iterations });
}
