import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, pageSize, toPage } from '../../src/common/pagination.js';

describe('page sizes', () => {
  it('defaults to 20 and allows 0 to 100', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(0)).toBe(0);
    expect(pageSize(100)).toBe(100);
  });

  it('refuses more than 100 and negative sizes with distinct codes', () => {
    expect(() => pageSize(101)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'PAGE_SIZE_EXCEEDED' }) }));
    expect(() => pageSize(-1)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
  });
});

describe('cursors', () => {
  it('round-trip their sort key', () => {
    const cursor = encodeCursor('tools.search', [0.6079271, 'weather.geocode']);
    expect(decodeCursor('tools.search', cursor, ['number', 'string'])).toEqual([0.6079271, 'weather.geocode']);
  });

  it('belong to one listing and one shape', () => {
    const cursor = encodeCursor('providers', ['weather']);
    expect(() => decodeCursor('tools', cursor, ['string'])).toThrow(/not valid/);
    expect(() => decodeCursor('providers', cursor, ['string', 'string'])).toThrow(/not valid/);
    expect(() => decodeCursor('providers', '%%%', ['string'])).toThrow(/not valid/);
    expect(() => decodeCursor('x', encodeCursor('x', [Number.NaN]), ['number'])).toThrow(/not valid/);
  });
});

describe('toPage', () => {
  it('uses the extra row only to tell that a next page exists', async () => {
    const page = toPage(['a', 'b', 'c'], 2, null, (s) => s, async () => 3);
    expect(page.edges.map((e) => e.node)).toEqual(['a', 'b']);
    expect(page.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: 'a', endCursor: 'b' });
    expect(await page.totalCount()).toBe(3);
  });
});
