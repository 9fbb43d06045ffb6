import { describe, expect, it } from 'vitest';
import { diffSequences, sideBySide, stableJson } from '../../console/src/diff.js';

describe('the quarantine review’s diff', () => {
  it('keeps common lines and marks removed and added runs', () => {
    expect(diffSequences(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd', 'e'])).toEqual([
      { kind: 'same', items: ['a'] },
      { kind: 'removed', items: ['b'] },
      { kind: 'added', items: ['x'] },
      { kind: 'same', items: ['c', 'd'] },
      { kind: 'added', items: ['e'] },
    ]);
    expect(diffSequences([], [])).toEqual([]);
    expect(diffSequences(['same'], ['same'])).toEqual([{ kind: 'same', items: ['same'] }]);
    expect(diffSequences(['gone'], [])).toEqual([{ kind: 'removed', items: ['gone'] }]);
  });

  it('finds the longest common part, not just the shared head and tail', () => {
    const parts = diffSequences(['1', 'keep', '2', 'also', '3'], ['4', 'keep', '5', 'also', '6']);
    expect(parts.filter((p) => p.kind === 'same').flatMap((p) => p.items)).toEqual(['keep', 'also']);
  });

  it('pairs a removed run with the added run after it, side by side', () => {
    expect(sideBySide(diffSequences(['a', 'b', 'c'], ['a', 'x', 'y', 'c']))).toEqual([
      { left: 'a', right: 'a', changed: false },
      { left: 'b', right: 'x', changed: true },
      { left: null, right: 'y', changed: true },
      { left: 'c', right: 'c', changed: false },
    ]);
  });

  it('ignores the order of object keys', () => {
    expect(stableJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(stableJson({ a: { c: null, d: [1, { y: 2, z: 1 }] }, b: 1 }));
    expect(stableJson(undefined)).toBe('null');
  });
});
