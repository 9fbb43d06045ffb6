import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import providers from '../operations/providers.graphql?raw';
import refreshProvider from '../operations/refreshProvider.graphql?raw';
import registerProvider from '../operations/registerProvider.graphql?raw';
import { Link } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { type Change, ChangeSummary, FieldError, FieldErrors, invalidProps, ScrollTable, when } from './common';

/** Providers: the list (each opens its page), refresh, and registering a new one from a URL or a pasted manual. */
export function ProvidersPage() {
  const { call } = useSession();
  const pages = useCursorPages();
  const after = pages.after;
  const list = useLoad(() => call<G.ConsoleProvidersQuery, G.ConsoleProvidersQueryVariables>(providers, { first: 50, after }), [call, after]);
  const [name, setName] = useState('');
  const [source, setSource] = useState<'url' | 'manual'>('url');
  const [url, setUrl] = useState('');
  const [manual, setManual] = useState('');
  const [change, setChange] = useState<Change | null>(null);
  const [error, setError] = useState<unknown>(null);
  const errors = new FieldErrors(change?.userErrors);

  async function register(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setChange(null);
    const callTemplate = source === 'url' ? { call_template_type: 'http', url: url.trim(), http_method: 'GET' } : { call_template_type: 'text', content: manual };
    try {
      const data = await call<G.ConsoleRegisterProviderMutation, G.ConsoleRegisterProviderMutationVariables>(registerProvider, { input: { name: name.trim(), callTemplate } });
      setChange(data.registerProvider);
      if (!data.registerProvider.userErrors.length) list.reload();
    } catch (e) {
      setError(e);
    }
  }

  async function refresh(id: string) {
    setError(null);
    setChange(null);
    try {
      const data = await call<G.ConsoleRefreshProviderMutation, G.ConsoleRefreshProviderMutationVariables>(refreshProvider, { id });
      setChange(data.refreshProvider);
    } catch (e) {
      setError(e);
    }
    list.reload();
  }

  const nameError = errors.of('name');
  const templateError = errors.of('callTemplate');
  return (
    <section aria-labelledby="providers-title">
      <h1 id="providers-title">Providers</h1>
      <ErrorMessage error={list.error} />
      <ScrollTable columns={['Name', 'Type', 'Status', 'Last discovered', 'Last error', <span className="sr-only">Actions</span>]}>
        {list.data?.providers.edges.map(({ node: p }) => (
          <tr key={p.id}>
            <td>
              <Link to={{ name: 'provider', id: p.id }}>{p.name}</Link>
            </td>
            <td>{p.callTemplateType.toLowerCase()}</td>
            <td>{p.status.toLowerCase()}</td>
            <td>{when(p.lastDiscoveredAt)}</td>
            <td className="error-inline">{p.lastError ?? ''}</td>
            <td>
              <button type="button" onClick={() => void refresh(p.id)} aria-label={`Refresh ${p.name}`}>
                Refresh
              </button>
            </td>
          </tr>
        ))}
      </ScrollTable>
      <Pager label="Provider pages" pages={pages} pageInfo={list.data?.providers.pageInfo} />
      {change && !change.userErrors.some((e) => ['name', 'callTemplate'].includes(e.field.join('.'))) && <ChangeSummary change={change} />}
      <ErrorMessage error={error} />
      <form onSubmit={register} className="card" noValidate>
        <h2>Register a provider</h2>
        <label htmlFor="provider-name">Name</label>
        <input id="provider-name" required value={name} onChange={(e) => setName(e.target.value)} {...invalidProps('provider-name', nameError)} />
        <FieldError id="provider-name" message={nameError} />
        <fieldset>
          <legend>Manual</legend>
          <label className="inline">
            <input type="radio" name="source" checked={source === 'url'} onChange={() => setSource('url')} /> From a URL (UTCP manual or OpenAPI)
          </label>
          <label className="inline">
            <input type="radio" name="source" checked={source === 'manual'} onChange={() => setSource('manual')} /> Pasted manual
          </label>
        </fieldset>
        {source === 'url' ? (
          <>
            <label htmlFor="provider-url">URL</label>
            <input id="provider-url" type="url" required value={url} onChange={(e) => setUrl(e.target.value)} {...invalidProps('provider-url', templateError)} />
            <FieldError id="provider-url" message={templateError} />
          </>
        ) : (
          <>
            <label htmlFor="provider-manual">Manual (JSON or OpenAPI)</label>
            <textarea id="provider-manual" rows={8} required value={manual} onChange={(e) => setManual(e.target.value)} {...invalidProps('provider-manual', templateError)} />
            <FieldError id="provider-manual" message={templateError} />
          </>
        )}
        <button type="submit" className="primary">
          Register
        </button>
      </form>
    </section>
  );
}
