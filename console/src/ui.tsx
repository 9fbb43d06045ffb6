import { useCallback, useEffect, useId, useRef, useState, type MouseEvent, type ReactNode } from 'react';

/** Whether the element's content is wider than the element (it scrolls sideways), kept current as either resizes. */
function useOverflowsSideways<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  const [overflows, setOverflows] = useState(false);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const check = () => setOverflows(element.scrollWidth > element.clientWidth);
    const observer = new ResizeObserver(check);
    observer.observe(element);
    if (element.firstElementChild) observer.observe(element.firstElementChild);
    check();
    return () => observer.disconnect();
  }, []);
  return { ref, overflows };
}

/**
 * A table with column headers; `children` are its body rows. On a narrow screen it scrolls sideways
 * inside its own box, which then takes keyboard focus (arrow keys scroll it) and is named by `label`.
 * `busy` marks it (`aria-busy`) while the rows it shows are being replaced.
 */
export function Table({ columns, children, label = 'Table', busy = false }: { columns: ReactNode[]; children: ReactNode; label?: string; busy?: boolean }) {
  const { ref, overflows } = useOverflowsSideways<HTMLDivElement>();
  return (
    <div ref={ref} className="table-scroll" {...(overflows ? { tabIndex: 0, role: 'region', 'aria-label': `${label} (scrolls sideways)` } : {})}>
      <table aria-busy={busy}>
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
    </div>
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

/** The attributes a field's control needs to be named, described and marked invalid. */
export interface ControlProps {
  id: string;
  'aria-invalid': true | undefined;
  'aria-describedby': string | undefined;
  'aria-required': true | undefined;
}

/**
 * A labelled form field: its description and limits, and its error message, all linked to the
 * control (`aria-describedby`); an invalid control gets `aria-invalid` (styled with a red border).
 * `children` renders the control with the props it is given.
 */
export function FormField(props: {
  id: string;
  label: ReactNode;
  required?: boolean;
  description?: string;
  limits?: string[];
  error?: string | null;
  children: (control: ControlProps) => ReactNode;
}) {
  const { id, error, description, limits = [] } = props;
  const described = [description && `${id}-description`, limits.length > 0 && `${id}-limits`, error && `${id}-error`].filter(Boolean).join(' ');
  return (
    <div className={error ? 'field invalid' : 'field'}>
      <label htmlFor={id}>
        {props.label}
        {props.required && <span aria-hidden="true"> *</span>}
        {props.required && <span className="sr-only"> (required)</span>}
      </label>
      {description && (
        <p id={`${id}-description`} className="hint field-note">
          {description}
        </p>
      )}
      {limits.length > 0 && (
        <p id={`${id}-limits`} className="limits field-note" data-testid={`${id}-limits`}>
          {limits.join(' · ')}
        </p>
      )}
      {props.children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': described || undefined, 'aria-required': props.required || undefined })}
      {error && (
        <p id={`${id}-error`} className="field-error">
          <span className="sr-only">Error: </span>
          {error}
        </p>
      )}
    </div>
  );
}

/** One problem of a form: what is wrong and, when it belongs to a field, that field's control id. */
export interface FormProblem {
  fieldId?: string;
  label: ReactNode;
  message: string;
}

/**
 * The list of a form's problems, each linking to its field; it takes focus when it appears (or
 * when `focusKey` changes) so keyboard and screen-reader users land on it. `children` follow the list.
 */
export function ErrorSummary({ title, problems, focusKey, children }: { title: string; problems: FormProblem[]; focusKey?: unknown; children?: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const shown = problems.length > 0;
  useEffect(() => {
    if (shown) box.current?.focus();
  }, [shown, focusKey]);
  if (!shown) return null;
  const jump = (fieldId: string) => (event: MouseEvent) => {
    event.preventDefault();
    const field = document.getElementById(fieldId);
    field?.scrollIntoView({ block: 'center' });
    field?.focus();
  };
  return (
    <div ref={box} role="alert" className="error error-summary" tabIndex={-1} aria-labelledby={titleId}>
      <p id={titleId}>{title}</p>
      <ul>
        {problems.map((p, i) => (
          <li key={i}>
            {p.fieldId ? (
              <a href={`#${p.fieldId}`} onClick={jump(p.fieldId)}>
                {p.label} {p.message}
              </a>
            ) : (
              <>
                {p.label} {p.message}
              </>
            )}
          </li>
        ))}
      </ul>
      {children}
    </div>
  );
}
