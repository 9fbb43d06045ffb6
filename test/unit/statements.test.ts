import { describe, expect, it } from 'vitest';
import { bindStatement } from '../../src/db/statements.js';

describe('binding a statement written with ? placeholders', () => {
  it('numbers the placeholders and keeps the values apart from the text', () => {
    const bound = bindStatement(`select * from tool where name = ? and status = ? and x = '\\?'`, ["o'brien; drop table tool", 'active']);
    expect(bound.text).toBe(`select * from tool where name = $1 and status = $2 and x = '?'`);
    expect(bound.values).toEqual(["o'brien; drop table tool", 'active']);
  });

  it('expands a list value into one placeholder per item, as the ORM does', () => {
    const bound = bindStatement(`select 1 where t.tags && array[?]::text[] and p.name in (?) and a = ?`, [['x', 'y'], ['p'], null]);
    expect(bound.text).toBe(`select 1 where t.tags && array[$1, $2]::text[] and p.name in ($3) and a = $4`);
    expect(bound.values).toEqual(['x', 'y', 'p', null]);
  });

  it('names a statement by its text: the same text, the same name; lists of other lengths, another text', () => {
    const a = bindStatement(`select ? as a, ? as b`, [1, 'x']);
    const b = bindStatement(`select ? as a, ? as b`, [2, 'y']);
    const list2 = bindStatement(`select 1 where a in (?)`, [[1, 2]]);
    const list3 = bindStatement(`select 1 where a in (?)`, [[1, 2, 3]]);
    expect(a.name).toBe(b.name);
    expect(a.name).toMatch(/^registry_[\w-]{24}$/);
    expect(b.values).toEqual([2, 'y']);
    expect(list2.name).not.toBe(list3.name);
    expect(list3.text).toBe('select 1 where a in ($1, $2, $3)');
  });

  it('refuses values that do not match the placeholders, identifiers and lists of lists', () => {
    expect(() => bindStatement('select ?, ?', [1])).toThrow(/2 placeholders, 1 values/);
    expect(() => bindStatement('select ?', [1, 2])).toThrow(/1 placeholders, 2 values/);
    expect(() => bindStatement('select ?? from t', ['a'])).toThrow(/\?\? is not supported/);
    expect(() => bindStatement('select 1 where a in (?)', [[[1]]])).toThrow(/lists of lists/);
  });
});
