import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/**
 * The console's addresses: every view has a URL under `/console/` kept in the History API, so a
 * reload shows the same view and Back returns to the previous one. The registry answers
 * `index.html` for every GET under `/console/` (src/http/console.routes.ts).
 */
export const BASE = '/console';

export const ADMIN_SECTIONS = ['providers', 'tools', 'quarantine', 'policies', 'principals', 'executions', 'audit'] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

/** A view of the console, parsed from an address. */
export type Route =
  | { name: 'catalog' }
  | { name: 'tool'; tool: string }
  | { name: 'provider'; id: string }
  | { name: 'execution'; id: string }
  | { name: 'policy'; id: string }
  | { name: 'newPolicy' }
  | { name: 'audit'; seq: string }
  | { name: 'admin'; section: AdminSection }
  | { name: 'explorer' }
  | { name: 'notFound'; path: string };

const enc = encodeURIComponent;

/** The address of a view (without a query string). */
export function hrefOf(route: Route): string {
  switch (route.name) {
    case 'catalog':
      return `${BASE}/`;
    case 'tool':
      return `${BASE}/tools/${enc(route.tool)}`;
    case 'provider':
      return `${BASE}/providers/${enc(route.id)}`;
    case 'execution':
      return `${BASE}/executions/${enc(route.id)}`;
    case 'policy':
      return `${BASE}/policies/${enc(route.id)}`;
    case 'newPolicy':
      return `${BASE}/policies/new`;
    case 'audit':
      return `${BASE}/audit/${enc(route.seq)}`;
    case 'admin':
      return `${BASE}/admin/${route.section}`;
    case 'explorer':
      return `${BASE}/explorer`;
    case 'notFound':
      return route.path;
    default:
      return route satisfies never;
  }
}

/** The view an address names; an unknown address is `notFound` (never an exception). */
export function parseRoute(pathname: string): Route {
  if (pathname === BASE || pathname === `${BASE}/`) return { name: 'catalog' };
  if (!pathname.startsWith(`${BASE}/`)) return { name: 'notFound', path: pathname };
  let parts: string[];
  try {
    parts = pathname
      .slice(BASE.length + 1)
      .split('/')
      .filter(Boolean)
      .map((p) => decodeURIComponent(p));
  } catch {
    return { name: 'notFound', path: pathname };
  }
  const [head, id, ...rest] = parts;
  if (rest.length) return { name: 'notFound', path: pathname };
  if (head === 'admin') {
    if (id === undefined) return { name: 'admin', section: 'providers' };
    return (ADMIN_SECTIONS as readonly string[]).includes(id) ? { name: 'admin', section: id as AdminSection } : { name: 'notFound', path: pathname };
  }
  if (head === 'explorer' && id === undefined) return { name: 'explorer' };
  if (id === undefined) return { name: 'notFound', path: pathname };
  switch (head) {
    case 'tools':
      return { name: 'tool', tool: id };
    case 'providers':
      return { name: 'provider', id };
    case 'executions':
      return { name: 'execution', id };
    case 'policies':
      return id === 'new' ? { name: 'newPolicy' } : { name: 'policy', id };
    case 'audit':
      return { name: 'audit', seq: id };
    default:
      return { name: 'notFound', path: pathname };
  }
}

const CHANGE = 'console:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(CHANGE, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(CHANGE, onChange);
  };
}

const snapshot = () => location.pathname + location.search;

/** The current address (`pathname` + `search`), re-rendering on navigation and on Back/Forward. */
export function useAddress(): { pathname: string; search: URLSearchParams; route: Route } {
  const address = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(address, location.origin);
  return { pathname: url.pathname, search: url.searchParams, route: parseRoute(url.pathname) };
}

/** Goes to `to` (an address under the base); `replace` rewrites the current history entry instead of adding one. */
export function navigate(to: string | Route, options: { replace?: boolean } = {}): void {
  const href = typeof to === 'string' ? to : hrefOf(to);
  if (href === snapshot()) return;
  if (options.replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  window.dispatchEvent(new Event(CHANGE));
}

/** `search` with `values` set (empty values removed), as `?…` or ''. */
function withQuery(search: URLSearchParams, values: Record<string, string | undefined>): string {
  const next = new URLSearchParams(search);
  for (const [key, value] of Object.entries(values)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  const text = next.toString();
  return text ? `?${text}` : '';
}

/** Changes the current address's query (`values` set, an empty one removed); `replace` as for {@link navigate}. */
export function setQuery(values: Record<string, string | undefined>, replace: boolean): void {
  navigate(`${location.pathname}${withQuery(new URLSearchParams(location.search), values)}`, { replace });
}

/** A link to a view: a real `<a href>` (open in a new tab works), followed in place on a plain click. */
export function Link({ to, onClick, ...rest }: { to: string | Route } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const href = typeof to === 'string' ? to : hrefOf(to);
  function follow(event: MouseEvent<HTMLAnchorElement>) {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  }
  return <a href={href} onClick={follow} {...rest} />;
}
