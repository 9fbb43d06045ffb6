import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, graphql } from './api';

/** Who is signed in, with the access token (held in React state only, never in storage). */
export interface Session {
  token: string;
  name: string;
  roles: string[];
  scopes: string[];
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
