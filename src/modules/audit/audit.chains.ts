import { randomInt } from 'node:crypto';

/**
 * The audit log is a set of hash chains, one per writer: each registry process appends to a chain of
 * its own (picked at random when the process starts), so replicas never wait on one another's appends,
 * and `verifyAuditLog` checks every chain. A chain owns a range of sequence numbers, and its entries
 * take them one after another without gaps: chain `c` holds `c·2^40 + 1` … `(c+1)·2^40`. Chain 0 is the
 * log written before chains existed. Sequence numbers stay below 2^53, so they are exact in JSON too.
 */
export const CHAIN_SPAN = 2n ** 40n;

/** Chains writers pick from (1 … WRITER_CHAINS): two processes rarely share one, and sharing is safe (a row lock orders them). */
export const WRITER_CHAINS = 1023;

/** The chain a sequence number belongs to. */
export function chainOf(seq: bigint): bigint {
  return (seq - 1n) / CHAIN_SPAN;
}

/** The first sequence number of a chain. */
export function chainStart(chain: bigint): bigint {
  return chain * CHAIN_SPAN + 1n;
}

/** The chain this process appends to. */
export const writerChain = BigInt(1 + randomInt(WRITER_CHAINS));
