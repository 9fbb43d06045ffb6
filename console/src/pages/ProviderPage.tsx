import { useState } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import provider from '../operations/provider.graphql?raw';
import refreshProvider from '../operations/refreshProvider.graphql?raw';
import removeProvider from '../operations/removeProvider.graphql?raw';
import { Link, navigate } from '../router';
import { useLoad, useSession } from '../session';
import { ChangeSummary, Confirm, Outcome, useAction, UserErrors, when, type Change, type UserError } from './common';
import { ProviderVariables } from './ProviderVariables';
import { ToolToggle } from './ToolToggle';

/** One provider: its facts, its tools (enable/disable), its variables and credential (never their secret values), refresh and remove. */
export function ProviderPage({ id }: { id: string }) {
  const { call } = useSession();
  const loaded = useLoad(() => call<G.ConsoleProviderQuery, G.ConsoleProviderQueryVariables>(provider, { id }), [call, id]);
  const action = useAction();
  const [change, setChange] = useState<Change | null>(null);
  const [userErrors, setUserErrors] = useState<UserError[]>([]);
  const p = loaded.data?.provider;

  const refresh = () =>
    action.run(async () => {
      setChange(null);
      const data = await call<G.ConsoleRefreshProviderMutation, G.ConsoleRefreshProviderMutationVariables>(refreshProvider, { id });
      setChange(data.refreshProvider);
      loaded.reload();
    });
  const remove = () =>
    action.run(async () => {
      setUserErrors([]);
      const data = await call<G.ConsoleRemoveProviderMutation, G.ConsoleRemoveProviderMutationVariables>(removeProvider, { id });
      if (data.removeProvider.userErrors.length) {
        setUserErrors(data.removeProvider.userErrors);
        return;
      }
      navigate({ name: 'admin', section: 'providers' });
    });

  return (
    <article aria-labelledby="provider-title">
      <p>
        <Link to={{ name: 'admin', section: 'providers' }}>← Providers</Link>
      </p>
      <h1 id="provider-title">{p ? `Provider ${p.name}` : 'Provider'}</h1>
      <ErrorMessage error={loaded.error} />
      {loaded.loading && !p && <p>Loading…</p>}
      {loaded.data && !p && <p role="alert">No provider with this id.</p>}
      {p && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              {p.status.toLowerCase()}
              {p.lastError && <span className="error-inline"> ({p.lastError})</span>}
            </dd>
            <dt>Call template</dt>
            <dd>{p.callTemplateType.toLowerCase()}</dd>
            <dt>Registered</dt>
            <dd>{when(p.createdAt)}</dd>
            <dt>Last discovered</dt>
            <dd>{when(p.lastDiscoveredAt)}</dd>
            <dt>Credential</dt>
            <dd>
              {p.credential
                ? `${p.credential.authType}${p.credential.varName ? ` in ${p.credential.varName}` : ''}${p.credential.location ? ` (${p.credential.location})` : ''}, ${p.credential.hint}; set ${when(p.credential.createdAt)}${p.credential.rotatedAt ? `, rotated ${when(p.credential.rotatedAt)}` : ''}`
                : 'none'}
            </dd>
            <dt>TLS pins</dt>
            <dd>{p.tlsPins.length ? p.tlsPins.join(', ') : 'none'}</dd>
            <dt>Request signing</dt>
            <dd>{p.requestSigning.toLowerCase()}</dd>
          </dl>
          <div className="actions-row">
            <button type="button" onClick={() => void refresh()} disabled={action.busy}>
              Refresh tools
            </button>{' '}
            <Confirm
              label="Remove provider…"
              confirmLabel={`Remove ${p.name}`}
              danger
              busy={action.busy}
              question={`Remove ${p.name}? Its ${p.tools.totalCount} tool${p.tools.totalCount === 1 ? ' is' : 's are'} removed and its credentials deleted. This cannot be undone.`}
              onConfirm={() => void remove()}
            />
          </div>
          <ChangeSummary change={change} />
          <UserErrors errors={userErrors} />
          <Outcome action={action} />
          <section aria-labelledby="provider-tools-title">
            <h2 id="provider-tools-title">Tools ({p.tools.totalCount})</h2>
            <ToolToggle tools={p.tools.edges.map((e) => e.node)} onChanged={loaded.reload} />
          </section>
          <ProviderVariables providerId={p.id} />
        </>
      )}
    </article>
  );
}
