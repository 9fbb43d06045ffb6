import { lazy, Suspense, useCallback, useState } from 'react';
import { Admin } from './Admin';
import { Catalog } from './Catalog';
import { SessionProvider, useRestoredSession } from './session';
import { SignIn } from './SignIn';
import { ToolDetail } from './ToolDetail';

const Explorer = lazy(() => import('./Explorer').then((m) => ({ default: m.Explorer })));

type View = { name: 'catalog' } | { name: 'tool'; tool: string } | { name: 'admin' } | { name: 'explorer' };

/** The console: sign in (or the session restored), then the catalog, a tool, or (for admins) the admin pages. The access token lives only in this state. */
export function App() {
  const [session, setSession, restoring] = useRestoredSession();
  const [notice, setNotice] = useState<string | null>(null);
  const [view, setView] = useState<View>({ name: 'catalog' });

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
            setView({ name: 'catalog' });
            setSession(s);
          }}
        />
      </main>
    );
  }

  const isAdmin = session.roles.includes('admin');
  return (
    <SessionProvider session={session} onExpired={expired}>
      <header className="bar">
        <span className="brand">Tool Registry</span>
        <nav aria-label="Main">
          <button type="button" aria-current={view.name === 'catalog' || view.name === 'tool' ? 'page' : undefined} onClick={() => setView({ name: 'catalog' })}>
            Catalog
          </button>
          {isAdmin && (
            <button type="button" aria-current={view.name === 'admin' ? 'page' : undefined} onClick={() => setView({ name: 'admin' })}>
              Admin
            </button>
          )}
          <button type="button" aria-current={view.name === 'explorer' ? 'page' : undefined} onClick={() => setView({ name: 'explorer' })}>
            GraphQL explorer
          </button>
        </nav>
        <span className="who">
          Signed in as <strong>{session.name}</strong>
        </span>
        <button type="button" onClick={() => setSession(null)}>
          Sign out
        </button>
      </header>
      <main>
        {view.name === 'catalog' && <Catalog onOpen={(tool) => setView({ name: 'tool', tool })} />}
        {view.name === 'tool' && <ToolDetail name={view.tool} onBack={() => setView({ name: 'catalog' })} />}
        {view.name === 'admin' && isAdmin && <Admin />}
        {view.name === 'explorer' && (
          <Suspense fallback={<p>Loading the explorer…</p>}>
            <Explorer />
          </Suspense>
        )}
      </main>
    </SessionProvider>
  );
}
