import { type ResourceRule } from '../policy/policy.engine.js';

/** A SQL condition on the tool table (alias `t`) with its `?` parameters. */
export interface SqlFilter {
  sql: string;
  params: unknown[];
}

/** What the catalog shows a caller: every tool (null), or the tools matching a filter. */
export type ReadFilter = SqlFilter | null;

export const NOTHING_READABLE: SqlFilter = { sql: 'false', params: [] };

/** A glob (`*` any run, `?` one character) as a LIKE pattern with `\` as escape. */
function likePattern(glob: string): string {
  return glob.replace(/[\\%_*?]/g, (c) => (c === '*' ? '%' : c === '?' ? '_' : `\\${c}`));
}

/** The rule's resources as a condition on the tool; null when it covers every tool. */
function coverage(rule: ResourceRule): SqlFilter | null {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (rule.tools) {
    parts.push(`(${rule.tools.map(() => `t.name like ? escape '\\'`).join(' or ')})`);
    params.push(...rule.tools.map(likePattern));
  }
  if (rule.tags) {
    // The ORM expands an array parameter into a list, so it is wrapped in array[...].
    parts.push(`t.tags && array[?]::text[]`);
    params.push(rule.tags);
  }
  if (rule.providers) {
    parts.push(`t.provider_id in (select p.id from provider p where p.name in (?))`);
    params.push(rule.providers);
  }
  return parts.length ? { sql: parts.join(' and '), params } : null;
}

/**
 * The catalog filter equivalent to deciding `read` for every tool with these rules (see
 * `applicableRules`): a tool is readable when some allow rule covers it and no deny rule of equal
 * or higher priority does. Null when every tool is readable; {@link NOTHING_READABLE} when none is.
 */
export function readFilterOf(rules: readonly ResourceRule[]): ReadFilter {
  const allows = rules.filter((r) => r.effect === 'allow');
  const denies = rules.filter((r) => r.effect === 'deny');
  const alternatives: SqlFilter[] = [];
  for (const allow of allows) {
    const covered = coverage(allow);
    const blockers = denies.filter((d) => d.priority >= allow.priority).map(coverage);
    // A deny covering every tool at this priority or above leaves this allow nothing.
    if (blockers.includes(null)) continue;
    const blocked = blockers as SqlFilter[];
    if (!covered && blocked.length === 0) return null;
    const sql = [
      ...(covered ? [covered.sql] : []),
      ...(blocked.length ? [`not (${blocked.map((b) => `(${b.sql})`).join(' or ')})`] : []),
    ].join(' and ');
    alternatives.push({ sql, params: [...(covered?.params ?? []), ...blocked.flatMap((b) => b.params)] });
  }
  if (alternatives.length === 0) return NOTHING_READABLE;
  return { sql: `(${alternatives.map((a) => `(${a.sql})`).join(' or ')})`, params: alternatives.flatMap((a) => a.params) };
}
