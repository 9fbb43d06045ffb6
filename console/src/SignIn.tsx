import { useState, type FormEvent } from 'react';
import { signIn } from './api';
import { ErrorMessage } from './ErrorMessage';
import { consoleSession, sessionFor, type Session } from './session';

/**
 * Client credentials (exchanged at /console/session, which keeps the session in an HttpOnly cookie)
 * or a pasted access token (kept in memory only).
 */
export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [mode, setMode] = useState<'credentials' | 'token'>('credentials');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'credentials') {
        const started = await signIn(clientId.trim(), clientSecret);
        onSignedIn(consoleSession(started));
      } else {
        onSignedIn(await sessionFor(pasted.trim().replace(/^Bearer\s+/i, '')));
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="card" aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      <fieldset>
        <legend>How</legend>
        <label className="inline">
          <input type="radio" name="mode" checked={mode === 'credentials'} onChange={() => setMode('credentials')} /> Client credentials
        </label>
        <label className="inline">
          <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> Paste an access token
        </label>
      </fieldset>
      {mode === 'credentials' ? (
        <>
          <label htmlFor="client-id">Client id</label>
          <input id="client-id" autoComplete="username" required value={clientId} onChange={(e) => setClientId(e.target.value)} />
          <label htmlFor="client-secret">Client secret</label>
          <input id="client-secret" type="password" autoComplete="current-password" required value={clientSecret} onChange={(e) => setClientSecret(e.target.value)} />
        </>
      ) : (
        <>
          <label htmlFor="token">Access token</label>
          <textarea id="token" rows={4} required value={pasted} onChange={(e) => setPasted(e.target.value)} />
        </>
      )}
      <p className="hint">
        {mode === 'credentials'
          ? 'You stay signed in across reloads: the registry keeps the session in a cookie scripts cannot read, and this page holds only a short-lived access token.'
          : "A pasted token is kept in this page's memory only: reloading the page signs you out."}
      </p>
      <ErrorMessage error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
