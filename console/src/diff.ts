/**
 * A small sequence diff for the quarantine review: the longest common subsequence of two lists of
 * lines (or words), as runs kept, removed and added. Definitions are a few hundred lines at most,
 * so the quadratic table is fine; past {@link MAX_CELLS} it falls back to "all removed, all added".
 */
export type DiffPart = { kind: 'same' | 'removed' | 'added'; items: string[] };

const MAX_CELLS = 4_000_000;

export function diffSequences(before: readonly string[], after: readonly string[]): DiffPart[] {
  // Common head and tail first: most edits touch a few lines in the middle.
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head++;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
  const a = before.slice(head, before.length - tail);
  const b = after.slice(head, after.length - tail);

  const middle: DiffPart[] = [];
  const push = (kind: DiffPart['kind'], item: string) => {
    const last = middle.at(-1);
    if (last?.kind === kind) last.items.push(item);
    else middle.push({ kind, items: [item] });
  };
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) {
    a.forEach((x) => push('removed', x));
    b.forEach((x) => push('added', x));
  } else {
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    const width = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * width);
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) {
        push('same', a[i]!);
        i++;
        j++;
      } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) push('removed', a[i++]!);
      else push('added', b[j++]!);
    }
    while (i < a.length) push('removed', a[i++]!);
    while (j < b.length) push('added', b[j++]!);
  }
  const parts: DiffPart[] = [];
  if (head) parts.push({ kind: 'same', items: before.slice(0, head) });
  parts.push(...middle);
  if (tail) {
    const last = parts.at(-1);
    const end = before.slice(before.length - tail);
    if (last?.kind === 'same') last.items.push(...end);
    else parts.push({ kind: 'same', items: end });
  }
  return parts.filter((p) => p.items.length);
}

/** Stable, readable JSON: object keys sorted, two-space indent, so key order never shows as a change. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(value) ?? null, null, 2);
}

/** One row of a side-by-side view: the line on each side (null: nothing there) and whether it changed. */
export interface SideBySideRow {
  left: string | null;
  right: string | null;
  changed: boolean;
}

/** Lines side by side: kept lines on both sides, a removed run paired with the added run after it. */
export function sideBySide(parts: DiffPart[]): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    if (part.kind === 'same') {
      for (const line of part.items) rows.push({ left: line, right: line, changed: false });
      continue;
    }
    const removed = part.kind === 'removed' ? part.items : [];
    const next = parts[k + 1];
    const added = part.kind === 'added' ? part.items : next?.kind === 'added' ? next.items : [];
    if (part.kind === 'removed' && next?.kind === 'added') k++;
    for (let n = 0; n < Math.max(removed.length, added.length); n++) rows.push({ left: removed[n] ?? null, right: added[n] ?? null, changed: true });
  }
  return rows;
}
