import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, graphql, refreshSession, signOut, type SessionToken } from './api';
import type { ConsoleMeQuery, ConsoleMeQueryVariables } from './generated/graphql';
import me from './operations/me.graphql?raw';

/**
 * Who is signed in, with the access token (held in React state only, never in storage). A session
 * started with client credentials (`expiresAt` set) survives a reload through the registry's
 * HttpOnly refresh cookie; a pasted token does not.
 */
export interface Session {
  token: string;
  name: string;
  roles: string[];
  scopes: string[];
  /** When the access token expires; absent for a pasted token (never refreshed). */
  expiresAt?: Date;
}

/** Refresh this long before the access token expires (or at half its life when that is shorter). */
const REFRESH_MARGIN_MS = 60_000;
/** How soon to try again when the registry could not be reached for a refresh. */
const RETRY_MS = 10_000;

/** The session of a pasted `token` (never refreshed), with who it belongs to. */
export async function sessionFor(token: string): Promise<Session> {
  const data = await graphql<ConsoleMeQuery, ConsoleMeQueryVariables>(me, {}, token);
  return { token, name: data.me.principal.name, roles: data.me.principal.roles, scopes: data.me.scopes };
}

/**
 * The session of a token from the registry's session endpoints, which say whose it is: no query is
 * needed, so a reload while the query budget is spent still finds the session.
 */
export function consoleSession(started: SessionToken): Session {
  return { token: started.token, expiresAt: started.expiresAt, name: started.principal.name, roles: started.principal.roles, scopes: started.scopes };
}

/** The session after a refresh: `current` with a new access token, or the restored session; null without one. */
async function refreshed(current?: Session): Promise<Session | null> {
  const next: SessionToken | null = await refreshSession();
  if (!next) return null;
  if (current) return { ...current, token: next.token, expiresAt: next.expiresAt };
  return consoleSession(next);
}

/**
 * The console's session state: on load it asks the registry to refresh the session held in the
 * HttpOnly cookie (so a reload keeps you signed in), then refreshes the access token shortly before
 * it expires. Setting null signs out (the registry revokes the session and clears the cookie).
 * Returns the session, its setter, and whether the restore on load is still under way.
 */
export function useRestoredSession(): [Session | null, (session: Session | null) => void, boolean] {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(true);

  useEffect(() => {
    let live = true;
    refreshed().then(
      (restored) => live && setSession(restored),
      () => undefined,
    ).finally(() => live && setRestoring(false));
    return () => {
      live = false;
    };
  }, []);

  const expiresAt = session?.expiresAt?.getTime();
  useEffect(() => {
    if (!session || expiresAt === undefined) return;
    let done = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => {
      if (done) return;
      done = true;
      refreshed(session).then(setSession, (error: unknown) => {
        // The registry out of reach is no reason to end the session: try again shortly.
        if (error instanceof ApiError && error.code === 'NETWORK_ERROR') {
          done = false;
          retry = setTimeout(refresh, RETRY_MS);
        } else {
          setSession(null);
        }
      });
    };
    const life = expiresAt - Date.now();
    const timer = setTimeout(refresh, Math.max(0, Math.min(life - REFRESH_MARGIN_MS, life / 2)));
    // Timers stall while a device sleeps: on waking, refresh at once if the token is (nearly) due.
    const wake = () => {
      if (document.visibilityState === 'visible' && Date.now() >= expiresAt - REFRESH_MARGIN_MS) refresh();
    };
    document.addEventListener('visibilitychange', wake);
    window.addEventListener('focus', wake);
    return () => {
      clearTimeout(timer);
      clearTimeout(retry);
      document.removeEventListener('visibilitychange', wake);
      window.removeEventListener('focus', wake);
    };
  }, [session, expiresAt]);

  const current = useRef<Session | null>(null);
  current.current = session;
  const update = useCallback((next: Session | null) => {
    // Signed out once the registry has revoked the session, so a reload right after cannot restore it.
    if (!next && current.current?.expiresAt) void signOut().finally(() => setSession(null));
    else setSession(next);
  }, []);
  return [session, update, restoring];
}

interface SessionContextValue {
  session: Session;
  /** Runs an operation with the session's token; an UNAUTHENTICATED answer ends the session. */
  call<TData, TVariables>(document: string, variables: TVariables): Promise<TData>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/** Gives the components below the session and an API caller; `onExpired` runs when the registry refuses the token. */
export function SessionProvider(props: { session: Session; onExpired: (message: string) => void; children: ReactNode }) {
  const { session, onExpired } = props;
  const call = useCallback(
    async <TData, TVariables>(document: string, variables: TVariables) => {
      try {
        return await graphql<TData, TVariables>(document, variables, session.token);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') onExpired(error.message);
        throw error;
      }
    },
    [session.token, onExpired],
  );
  const value = useMemo(() => ({ session, call }), [session, call]);
  return <SessionContext.Provider value={value}>{props.children}</SessionContext.Provider>;
}

/** The session and its API caller; only inside {@link SessionProvider}. */
export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** Runs `load` whenever `deps` change; keeps the latest answer, its error and a reload function. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [nonce, setNonce] = useState(0);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const run = useCallback(load, deps);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    run().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [run, nonce]);
  return { ...state, reload };
}
