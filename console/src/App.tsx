import { lazy, Suspense, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { Admin } from './Admin';
import { Catalog } from './Catalog';
import { AuditEntryPage } from './pages/AuditEntryPage';
import { ExecutionPage } from './pages/ExecutionPage';
import { PolicyPage } from './pages/PolicyPage';
import { ProviderPage } from './pages/ProviderPage';
import { Link, hrefOf, navigate, useAddress, type Route } from './router';
import { SessionProvider, useRestoredSession } from './session';
import { SignIn } from './SignIn';
import { ToolDetail } from './ToolDetail';

const Explorer = lazy(() => import('./Explorer').then((m) => ({ default: m.Explorer })));

/** Whether a key press happens while the person types into a field (then `/` is just a slash). */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/** Moves focus to the view's heading after each navigation (not on the first load), so screen readers announce the new view. */
function useFocusHeadingOnNavigation(pathname: string, enabled: boolean) {
  const first = useRef(true);
  useEffect(() => {
    if (!enabled) return;
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = document.querySelector<HTMLElement>('main h1');
    if (!heading) return;
    heading.tabIndex = -1;
    heading.focus();
  }, [pathname, enabled]);
}

/** `/` (outside a field) focuses the catalog's search field, going to the catalog first when elsewhere. */
function useSlashFocusesSearch(enabled: boolean) {
  useEffect(() => {
    if (!enabled) return;
    function onKey(event: KeyboardEvent) {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      event.preventDefault();
      const field = document.getElementById('search');
      if (field) {
        field.focus();
        return;
      }
      navigate(hrefOf({ name: 'catalog' }));
      requestAnimationFrame(() => document.getElementById('search')?.focus());
    }
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [enabled]);
}

function View({ route, isAdmin }: { route: Route; isAdmin: boolean }) {
  const adminOnly = (view: ReactNode) =>
    isAdmin ? (
      view
    ) : (
      <section aria-labelledby="forbidden-title">
        <h1 id="forbidden-title">Admins only</h1>
        <p>This page is for admins. <Link to={{ name: 'catalog' }}>Back to the catalog</Link></p>
      </section>
    );
  switch (route.name) {
    case 'catalog':
      return <Catalog />;
    case 'tool':
      return <ToolDetail key={route.tool} name={route.tool} />;
    case 'execution':
      return <ExecutionPage key={route.id} id={route.id} />;
    case 'provider':
      return adminOnly(<ProviderPage key={route.id} id={route.id} />);
    case 'policy':
      return adminOnly(<PolicyPage key={route.id} id={route.id} />);
    case 'newPolicy':
      return adminOnly(<PolicyPage key="new" id={null} />);
    case 'audit':
      return adminOnly(<AuditEntryPage key={route.seq} seq={route.seq} />);
    case 'admin':
      return adminOnly(<Admin section={route.section} />);
    case 'explorer':
      return (
        <Suspense fallback={<p>Loading the explorer…</p>}>
          <Explorer />
        </Suspense>
      );
    case 'notFound':
      return (
        <section aria-labelledby="not-found-title">
          <h1 id="not-found-title">Page not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <Link to={{ name: 'catalog' }}>Go to the catalog</Link>
          </p>
        </section>
      );
    default:
      return route satisfies never;
  }
}

/** The console: sign in (or the session restored), then the view the address names. The access token lives only in this state; the address survives reloads. */
export function App() {
  const [session, setSession, restoring] = useRestoredSession();
  const [notice, setNotice] = useState<string | null>(null);
  const { pathname, route } = useAddress();
  useFocusHeadingOnNavigation(pathname, session !== null);
  useSlashFocusesSearch(session !== null);

  const expired = useCallback((message: string) => {
    setSession(null);
    setNotice(`Your session has ended (${message}). Sign in again.`);
  }, [setSession]);

  if (restoring) {
    return (
      <main className="narrow" aria-busy="true">
        <h1>Tool Registry</h1>
        <p>Restoring your session…</p>
      </main>
    );
  }

  if (!session) {
    return (
      <main className="narrow">
        <h1>Tool Registry</h1>
        {notice && (
          <p role="alert" className="error">
            {notice}
          </p>
        )}
        <SignIn
          onSignedIn={(s) => {
            setNotice(null);
            setSession(s);
          }}
        />
      </main>
    );
  }

  const isAdmin = session.roles.includes('admin');
  const inAdmin = ['admin', 'provider', 'policy', 'newPolicy', 'audit'].includes(route.name);
  return (
    <SessionProvider session={session} onExpired={expired}>
      <header className="bar">
        <span className="brand">Tool Registry</span>
        <nav aria-label="Main">
          <Link to={{ name: 'catalog' }} aria-current={route.name === 'catalog' || route.name === 'tool' ? 'page' : undefined}>
            Catalog
          </Link>
          {isAdmin && (
            <Link to={{ name: 'admin', section: 'providers' }} aria-current={inAdmin ? 'page' : undefined}>
              Admin
            </Link>
          )}
          <Link to={{ name: 'explorer' }} aria-current={route.name === 'explorer' ? 'page' : undefined}>
            GraphQL explorer
          </Link>
        </nav>
        <span className="who">
          Signed in as <strong>{session.name}</strong>
        </span>
        <button type="button" onClick={() => setSession(null)}>
          Sign out
        </button>
      </header>
      <main>
        <View route={route} isAdmin={isAdmin} />
      </main>
    </SessionProvider>
  );
}
