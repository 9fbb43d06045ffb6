import { describe, expect, it } from 'vitest';
import { MemorySlidingWindow } from '../../src/security/sliding-window.js';

/** A deterministic pseudo-random sequence in [0, 1). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('the in-memory sliding window', () => {
  it.each([
    [5, 2000],
    [1, 1000],
    [100, 60_000],
  ])('admits at most %i calls in every span of %i ms, and admits a call once the refusal said it would', async (limit, windowMs) => {
    let now = 1_700_000_000_123;
    const window = new MemorySlidingWindow(() => now);
    const next = random(limit * windowMs);
    const admitted: number[] = [];
    for (let i = 0; i < 40 * limit; i += 1) {
      // Bursts and gaps: most calls close together, some after a pause of up to a window.
      now += next() < 0.8 ? Math.floor((next() * windowMs) / (4 * limit)) : Math.floor(next() * windowMs);
      const admission = await window.take('k', limit, windowMs);
      if (admission.admitted) {
        admitted.push(now);
        continue;
      }
      expect(admission.retryAfterMs).toBeGreaterThan(0);
      expect(admission.retryAfterMs).toBeLessThanOrEqual(windowMs + windowMs / 60 + 1);
      // Not a moment earlier, then exactly then.
      if (admission.retryAfterMs > 1) {
        const at = now;
        now = at + admission.retryAfterMs - 1;
        expect((await window.take('k', limit, windowMs)).admitted).toBe(false);
        now = at;
      }
      now += admission.retryAfterMs;
      expect((await window.take('k', limit, windowMs)).admitted).toBe(true);
      admitted.push(now);
    }
    // Every closed span [t, t + window] starting at an admitted call holds at most the limit.
    for (const start of admitted) expect(admitted.filter((t) => t >= start && t <= start + windowMs).length).toBeLessThanOrEqual(limit);
    expect(admitted.length).toBeGreaterThan(limit * 5);
  });

  it('gives a call back, and keeps keys apart', async () => {
    const now = 1_700_000_000_000;
    const window = new MemorySlidingWindow(() => now);
    const first = await window.take('a', 1, 1000);
    expect(first.admitted).toBe(true);
    expect((await window.take('a', 1, 1000)).admitted).toBe(false);
    expect((await window.take('b', 1, 1000)).admitted).toBe(true);
    if (first.admitted) await window.giveBack('a', 1000, first.slot);
    expect((await window.take('a', 1, 1000)).admitted).toBe(true);
  });
});
