/** True when `value` nests objects/arrays deeper than `limit` levels; iterative, so any depth is safe. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** U+0000 and unpaired surrogates: JavaScript strings hold them, PostgreSQL's text and jsonb refuse them. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const EVERY_UNSTORABLE = new RegExp(UNSTORABLE.source, 'g');

/** Whether PostgreSQL can store `text` as text or inside jsonb. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** A copy of a JSON value that jsonb can store: characters it refuses ({@link isStorableText}) become U+FFFD, in keys too. */
export function storable<T>(value: T): T {
  const visit = (item: unknown): unknown => {
    if (typeof item === 'string') return item.replace(EVERY_UNSTORABLE, '\uFFFD');
    if (Array.isArray(item)) return item.map(visit);
    if (item !== null && typeof item === 'object') return Object.fromEntries(Object.entries(item).map(([key, child]) => [visit(key), visit(child)]));
    return item;
  };
  return visit(value) as T;
}

/**
 * The JSON path (`$.a[0].b`) of the first string, or object key, in `value` that PostgreSQL cannot
 * store ({@link isStorableText}); null when there is none. Iterative, so any depth is safe.
 */
export function unstorableTextPath(value: unknown, root = '$'): string | null {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [current, path] = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return path;
    } else if (Array.isArray(current)) {
      current.forEach((item, index) => stack.push([item, `${path}[${index}]`]));
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (!isStorableText(key)) return path;
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return null;
}
