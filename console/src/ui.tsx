import { useCallback, useEffect, useState, type ReactNode } from 'react';

/** A table with column headers; `children` are its body rows. */
export function Table({ columns, children }: { columns: ReactNode[]; children: ReactNode }) {
  return (
    <table>
      <thead>
        <tr>
          {columns.map((column, i) => (
            <th key={i} scope="col">
              {column}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

/** Cursor paging: the `after` of the current page, back to the first page whenever `resetKey` changes. */
export function useCursorPages(resetKey = '') {
  // The `after` of every page up to the current one.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [resetKey]);
  const previous = useCallback(() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)), []);
  const next = useCallback((endCursor: string | null) => setCursors((c) => [...c, endCursor]), []);
  return { after: cursors[cursors.length - 1] ?? null, number: cursors.length, previous, next };
}

/** Previous/next buttons for a connection's page. */
export function Pager(props: {
  label: string;
  pages: ReturnType<typeof useCursorPages>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null } | undefined;
  previousLabel?: string;
  nextLabel?: string;
}) {
  const { pages, pageInfo } = props;
  return (
    <nav className="pager" aria-label={props.label}>
      <button type="button" disabled={pages.number <= 1} onClick={pages.previous}>
        {props.previousLabel ?? 'Previous page'}
      </button>
      <span>Page {pages.number}</span>
      <button type="button" disabled={!pageInfo?.hasNextPage} onClick={() => pageInfo && pages.next(pageInfo.endCursor)}>
        {props.nextLabel ?? 'Next page'}
      </button>
    </nav>
  );
}
