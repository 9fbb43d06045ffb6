import { ErrorCode, RegistryError } from '../errors.js';
import { isStorableText } from './json-values.js';

/** Largest page a connection serves. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/**
 * Checks a requested page size. Throws PAGE_SIZE_EXCEEDED above {@link MAX_PAGE_SIZE}
 * and BAD_USER_INPUT below zero.
 */
export function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 0) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`first` must be a whole number of at least 0', { argument: 'first', http: { status: 400 } });
  }
  if (size > MAX_PAGE_SIZE) {
    throw new RegistryError(ErrorCode.PAGE_SIZE_EXCEEDED, `\`first\` may be at most ${MAX_PAGE_SIZE}, got ${size}`, {
      argument: 'first',
      maximum: MAX_PAGE_SIZE,
      http: { status: 400 },
    });
  }
  return size;
}

/**
 * Opaque cursors: base64url of `[kind, ...sortKey]`. The kind ties a cursor to the ordering it
 * came from, so a cursor from one listing cannot be replayed against another.
 */
export function encodeCursor(kind: string, key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([kind, ...key])).toString('base64url');
}

/** Sort keys are 32-bit integers or ranks: a forged key outside that range never reaches a query (nor text PostgreSQL refuses). */
const inRange = (value: number) => Number.isFinite(value) && Math.abs(value) <= 2 ** 31 - 1;

/** Decodes a cursor of `kind`; throws INVALID_CURSOR (HTTP 400) for anything else. */
export function decodeCursor<K extends (string | number)[]>(kind: string, cursor: string, shape: ('string' | 'number')[]): K {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed[0] !== kind ||
    parsed.length !== shape.length + 1 ||
    !shape.every((type, i) => typeof parsed[i + 1] === type && (type === 'number' ? inRange(parsed[i + 1] as number) : isStorableText(parsed[i + 1] as string)))
  ) {
    throw new RegistryError(ErrorCode.INVALID_CURSOR, 'The cursor is not valid for this listing', { argument: 'after', http: { status: 400 } });
  }
  return parsed.slice(1) as K;
}

/** One page of results, in the shape the connection types expose. */
export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  /** Counts every match of the listing, computed only when a client asks for it. */
  totalCount: () => Promise<number>;
}

/**
 * Builds a page from `rows` fetched with a limit of `size + 1` (the extra row only tells
 * whether a next page exists).
 */
export function toPage<T>(
  rows: T[],
  size: number,
  after: string | null | undefined,
  cursorOf: (row: T) => string,
  totalCount: () => Promise<number>,
): Page<T> {
  const nodes = rows.slice(0, size);
  const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > size,
      hasPreviousPage: Boolean(after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}
