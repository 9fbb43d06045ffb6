import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** A statement as PostgreSQL receives it: `$n` placeholders, their values, and the name it is prepared under. */
export interface BoundStatement {
  /** Derived from the text: the same text has the same name in every process. */
  name: string;
  text: string;
  values: unknown[];
}

/** A statement text with `$n` placeholders, for one shape of its values (which of them are lists, how long). */
interface Shape {
  name: string;
  text: string;
}

/** Texts kept converted, by statement and shape of its values; the hot paths use a few dozen. */
const shapes = new LRUCache<string, Shape>({ max: 1000 });

/** The key of `sql` with these values: the text alone when no value is a list, else with the lists' lengths. */
function shapeKey(sql: string, params: readonly unknown[]): string {
  let lists = '';
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    if (Array.isArray(value)) lists += `${i}:${value.length};`;
  }
  return lists ? `${sql}\0${lists}` : sql;
}

/**
 * The statement `sql`, written with `?` placeholders as for `em.execute` (`\?` for a literal question
 * mark; a list value stands for its items, comma-separated, as the ORM expands it), with `$1`, `$2`, …
 * in their place, its values, and a name for preparing it. Unlike `em.execute`, which inlines every
 * value into the text (so each call is a new statement for PostgreSQL to parse and plan, and JSON
 * values are escaped in JavaScript), the values travel as parameters. The identifier placeholder `??`
 * and lists of lists are not supported. Throws when the values do not match the placeholders.
 */
export function bindStatement(sql: string, params: readonly unknown[]): BoundStatement {
  const key = shapeKey(sql, params);
  let shape = shapes.get(key);
  if (!shape) {
    let text = '';
    let placeholders = 0;
    let n = 0;
    let from = 0;
    for (let at = sql.indexOf('?'); at !== -1; at = sql.indexOf('?', from)) {
      if (sql[at + 1] === '?') throw new Error('bindStatement: the identifier placeholder ?? is not supported');
      if (at > 0 && sql[at - 1] === '\\') {
        text += `${sql.slice(from, at - 1)}?`;
      } else {
        const value = params[placeholders++];
        const items = Array.isArray(value) ? value.length : 1;
        text += sql.slice(from, at) + Array.from({ length: items }, () => `$${++n}`).join(', ');
      }
      from = at + 1;
    }
    text += sql.slice(from);
    if (placeholders !== params.length) throw new Error(`bindStatement: ${placeholders} placeholders, ${params.length} values`);
    shape = { name: `registry_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`, text };
    shapes.set(key, shape);
  }
  const values: unknown[] = [];
  for (const value of params) {
    if (!Array.isArray(value)) {
      values.push(value);
      continue;
    }
    for (const item of value) {
      if (Array.isArray(item)) throw new Error('bindStatement: lists of lists are not supported');
      values.push(item);
    }
  }
  return { name: shape.name, text: shape.text, values };
}
