import { useState, type FormEvent } from 'react';
import { ErrorMessage } from './ErrorMessage';
import type * as G from './generated/graphql';
import approve from './operations/approve.graphql?raw';
import audit from './operations/audit.graphql?raw';
import explainAccess from './operations/explainAccess.graphql?raw';
import policies from './operations/policies.graphql?raw';
import providers from './operations/providers.graphql?raw';
import providerVariables from './operations/providerVariables.graphql?raw';
import quarantined from './operations/quarantined.graphql?raw';
import refreshProvider from './operations/refreshProvider.graphql?raw';
import registerProvider from './operations/registerProvider.graphql?raw';
import setProviderVariables from './operations/setProviderVariables.graphql?raw';
import verifyAudit from './operations/verifyAudit.graphql?raw';
import { useLoad, useSession } from './session';
import { Pager, Table, useCursorPages } from './ui';

type Tab = 'providers' | 'quarantine' | 'policies' | 'audit';
const TABS: [Tab, string][] = [
  ['providers', 'Providers'],
  ['quarantine', 'Quarantine'],
  ['policies', 'Policies'],
  ['audit', 'Audit log'],
];

/** Providers, quarantined versions, policies with explainAccess, and the audit log. */
export function Admin() {
  const [tab, setTab] = useState<Tab>('providers');
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <nav aria-label="Admin sections" className="tabs">
        {TABS.map(([id, label]) => (
          <button key={id} type="button" aria-current={tab === id ? 'page' : undefined} onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </nav>
      {tab === 'providers' && <Providers />}
      {tab === 'quarantine' && <Quarantine />}
      {tab === 'policies' && <Policies />}
      {tab === 'audit' && <Audit />}
    </section>
  );
}

type Change = { created?: string[]; updated?: string[]; quarantined?: string[]; removed?: string[]; restored?: string[]; warnings?: string[]; userErrors: { field: string[]; message: string; code: string }[] };

function ChangeSummary({ change }: { change: Change | null }) {
  if (!change) return null;
  if (change.userErrors.length) {
    return (
      <div role="alert" className="error">
        {change.userErrors.map((e) => (
          <p key={e.message}>
            {e.message} ({e.code}
            {e.field.length ? ` at ${e.field.join('.')}` : ''})
          </p>
        ))}
      </div>
    );
  }
  const parts = (['created', 'updated', 'quarantined', 'removed', 'restored', 'warnings'] as const)
    .filter((k) => change[k]?.length)
    .map((k) => `${k}: ${change[k]!.join(', ')}`);
  return <p role="status">{parts.length ? parts.join('; ') : 'No changes.'}</p>;
}

function Providers() {
  const { call } = useSession();
  const list = useLoad(() => call<G.ConsoleProvidersQuery, G.ConsoleProvidersQueryVariables>(providers, { first: 50 }), [call]);
  const [name, setName] = useState('');
  const [source, setSource] = useState<'url' | 'manual'>('url');
  const [url, setUrl] = useState('');
  const [manual, setManual] = useState('');
  const [change, setChange] = useState<Change | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [variablesOf, setVariablesOf] = useState<string | null>(null);

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

  return (
    <section aria-labelledby="providers-title">
      <h2 id="providers-title">Providers</h2>
      <ErrorMessage error={list.error} />
      <Table columns={['Name', 'Type', 'Status', 'Last discovered', 'Last error', <span className="sr-only">Actions</span>]}>
        {list.data?.providers.edges.map(({ node: p }) => (
          <tr key={p.id}>
            <td>{p.name}</td>
            <td>{p.callTemplateType.toLowerCase()}</td>
            <td>{p.status.toLowerCase()}</td>
            <td>{p.lastDiscoveredAt ? new Date(p.lastDiscoveredAt).toLocaleString() : '—'}</td>
            <td className="error-inline">{p.lastError ?? ''}</td>
            <td>
              <button type="button" onClick={() => void refresh(p.id)} aria-label={`Refresh ${p.name}`}>
                Refresh
              </button>{' '}
              <button type="button" onClick={() => setVariablesOf(p.id)} aria-label={`Variables of ${p.name}`} aria-pressed={variablesOf === p.id}>
                Variables
              </button>
            </td>
          </tr>
        ))}
      </Table>
      <ChangeSummary change={change} />
      <ErrorMessage error={error} />
      {variablesOf && <ProviderVariables key={variablesOf} providerId={variablesOf} />}
      <form onSubmit={register} className="card">
        <h3>Register a provider</h3>
        <label htmlFor="provider-name">Name</label>
        <input id="provider-name" required value={name} onChange={(e) => setName(e.target.value)} />
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
            <input id="provider-url" type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
          </>
        ) : (
          <>
            <label htmlFor="provider-manual">Manual (JSON or OpenAPI)</label>
            <textarea id="provider-manual" rows={8} required value={manual} onChange={(e) => setManual(e.target.value)} />
          </>
        )}
        <button type="submit" className="primary">
          Register
        </button>
      </form>
    </section>
  );
}

/** A provider's variables: which its tools still need, the ones set (secret values never shown), and a form to set or remove them. */
function ProviderVariables({ providerId }: { providerId: string }) {
  const { call } = useSession();
  const loaded = useLoad(() => call<G.ConsoleProviderVariablesQuery, G.ConsoleProviderVariablesQueryVariables>(providerVariables, { id: providerId }), [call, providerId]);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [secret, setSecret] = useState(true);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const provider = loaded.data?.provider;

  async function change(input: { variables?: G.ProviderVariableInput[]; remove?: string[] }, done: string) {
    setError(null);
    setMessage(null);
    try {
      const data = await call<G.ConsoleSetProviderVariablesMutation, G.ConsoleSetProviderVariablesMutationVariables>(setProviderVariables, {
        input: { providerId, ...input },
      });
      const [problem] = data.setProviderVariables.userErrors;
      if (problem) {
        setError(new Error(`${problem.message} (${problem.code}${problem.field.length ? ` at ${problem.field.join('.')}` : ''})`));
        return;
      }
      setMessage(done);
      setValue('');
      loaded.reload();
    } catch (e) {
      setError(e);
    }
  }

  function save(event: FormEvent) {
    event.preventDefault();
    // The value leaves the form as soon as it is sent; it is never shown again when secret.
    void change({ variables: [{ name: name.trim(), value, secret }] }, `Saved ${name.trim()}${secret ? ' (secret)' : ''}.`);
  }

  if (!provider) return <ErrorMessage error={loaded.error} />;
  return (
    <section aria-labelledby="variables-title" className="card">
      <h3 id="variables-title">Variables of {provider.name}</h3>
      <p data-testid="missing-variables">
        {provider.missingVariables.length ? `Still needed by its tools: ${provider.missingVariables.join(', ')}` : 'Every variable its tools refer to is set.'}
      </p>
      <Table columns={['Name', 'Value', 'Updated', <span className="sr-only">Actions</span>]}>
        {provider.variables.map((v) => (
          <tr key={v.name}>
            <td>{v.name}</td>
            <td>{v.secret ? <em>secret (stored in the vault)</em> : v.value}</td>
            <td>{new Date(v.updatedAt).toLocaleString()}</td>
            <td>
              <button type="button" onClick={() => void change({ remove: [v.name] }, `Removed ${v.name}.`)} aria-label={`Remove ${v.name}`}>
                Remove
              </button>
            </td>
          </tr>
        ))}
      </Table>
      {message && <p role="status">{message}</p>}
      <ErrorMessage error={error} />
      <form onSubmit={save}>
        <label htmlFor="variable-name">Variable name</label>
        <input id="variable-name" required list="missing-variable-names" autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
        <datalist id="missing-variable-names">
          {provider.missingVariables.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <label htmlFor="variable-value">Value</label>
        <input id="variable-value" required type={secret ? 'password' : 'text'} autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
        <label className="inline">
          <input type="checkbox" checked={secret} onChange={(e) => setSecret(e.target.checked)} /> Secret (kept in the vault, never shown)
        </label>
        <button type="submit" className="primary">
          Set variable
        </button>
      </form>
    </section>
  );
}

function Quarantine() {
  const { call } = useSession();
  const list = useLoad(() => call<G.ConsoleQuarantinedQuery, G.ConsoleQuarantinedQueryVariables>(quarantined, {}), [call]);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function approveVersion(toolId: string, version: number) {
    setError(null);
    setMessage(null);
    try {
      const data = await call<G.ConsoleApproveMutation, G.ConsoleApproveMutationVariables>(approve, { input: { toolId, version } });
      const { tool, userErrors } = data.approveToolVersion;
      if (userErrors[0]) setError(new Error(`${userErrors[0].message} (${userErrors[0].code})`));
      else if (tool) setMessage(`Approved ${tool.name} version ${tool.version}: now ${tool.status.toLowerCase()}.`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  }

  const tools = list.data?.tools.edges ?? [];
  return (
    <section aria-labelledby="quarantine-title">
      <h2 id="quarantine-title">Quarantined versions</h2>
      <ErrorMessage error={list.error} />
      <ErrorMessage error={error} />
      {message && <p role="status">{message}</p>}
      {list.data && tools.length === 0 && <p>No tool awaits approval.</p>}
      {tools.map(({ node: t }) =>
        t.versions
          .filter((v) => v.status === 'PENDING')
          .map((v) => (
            <article key={`${t.id}:${v.version}`} className="card">
              <h3>
                {t.name} — version {v.version} (approved: {t.version})
              </h3>
              <div className="columns">
                <div>
                  <h4>Approved definition</h4>
                  <p>{t.description}</p>
                </div>
                <div>
                  <h4>Pending definition</h4>
                  <pre>{JSON.stringify(v.definition, null, 2)}</pre>
                </div>
              </div>
              <button type="button" className="primary" onClick={() => void approveVersion(t.id, v.version)} aria-label={`Approve ${t.name} version ${v.version}`}>
                Approve
              </button>
            </article>
          )),
      )}
    </section>
  );
}

function Policies() {
  const { call } = useSession();
  const list = useLoad(() => call<G.ConsolePoliciesQuery, G.ConsolePoliciesQueryVariables>(policies, {}), [call]);
  const [tool, setTool] = useState('');
  const [action, setAction] = useState<G.PolicyAction>('EXECUTE');
  const [principal, setPrincipal] = useState('');
  const [args, setArgs] = useState('');
  const [answer, setAnswer] = useState<G.ConsoleExplainAccessQuery['explainAccess'] | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function explain(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setAnswer(null);
    try {
      const data = await call<G.ConsoleExplainAccessQuery, G.ConsoleExplainAccessQueryVariables>(explainAccess, {
        tool: tool.trim(),
        action,
        principal: principal.trim() || undefined,
        arguments: args.trim() ? (JSON.parse(args) as unknown) : undefined,
      });
      setAnswer(data.explainAccess);
    } catch (e) {
      setError(e instanceof SyntaxError ? new Error(`Arguments are not valid JSON: ${e.message}`) : e);
    }
  }

  return (
    <section aria-labelledby="policies-title">
      <h2 id="policies-title">Policies</h2>
      <ErrorMessage error={list.error} />
      <Table columns={['Priority', 'Name', 'Effect', 'Actions', 'Active', 'Description']}>
        {list.data?.policies.edges.map(({ node: p }) => (
          <tr key={p.id}>
            <td>{p.priority}</td>
            <td>{p.name}</td>
            <td>{p.effect.toLowerCase()}</td>
            <td>{p.actions.map((a) => a.toLowerCase()).join(', ')}</td>
            <td>{p.active ? 'yes' : 'no'}</td>
            <td>{p.description}</td>
          </tr>
        ))}
      </Table>
      <form onSubmit={explain} className="card">
        <h3>Explain access</h3>
        <label htmlFor="explain-tool">Tool</label>
        <input id="explain-tool" required placeholder="weather.get_forecast" value={tool} onChange={(e) => setTool(e.target.value)} />
        <label htmlFor="explain-action">Action</label>
        <select id="explain-action" value={action} onChange={(e) => setAction(e.target.value as G.PolicyAction)}>
          <option value="READ">read</option>
          <option value="EXECUTE">execute</option>
          <option value="ADMIN">admin</option>
        </select>
        <label htmlFor="explain-principal">Principal id (empty: yourself)</label>
        <input id="explain-principal" value={principal} onChange={(e) => setPrincipal(e.target.value)} />
        <label htmlFor="explain-arguments">Arguments (JSON, optional)</label>
        <textarea id="explain-arguments" rows={3} value={args} onChange={(e) => setArgs(e.target.value)} />
        <button type="submit" className="primary">
          Explain
        </button>
      </form>
      <ErrorMessage error={error} />
      {answer && (
        <div role="status" className="card">
          <p>
            <strong>{answer.allowed ? 'Allowed' : 'Denied'}</strong>: {answer.reason}
            {answer.decidingPolicy && ` (deciding policy: ${answer.decidingPolicy.name})`}
          </p>
          <ul>
            {answer.evaluations.map((e) => (
              <li key={e.policyId}>
                {e.name}: {e.matched ? 'matched' : 'did not match'}
                {e.applied ? ', applied' : ''} — {e.reasons.join('; ')}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function Audit() {
  const { call } = useSession();
  const pages = useCursorPages();
  const after = pages.after;
  const list = useLoad(() => call<G.ConsoleAuditQuery, G.ConsoleAuditQueryVariables>(audit, { after }), [call, after]);
  const verification = useLoad(() => call<G.ConsoleVerifyAuditQuery, G.ConsoleVerifyAuditQueryVariables>(verifyAudit, {}), [call]);
  const v = verification.data?.verifyAuditLog;
  const page = list.data?.auditLog;
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <ErrorMessage error={verification.error} />
      {v && (
        <p role="status" className={v.valid ? 'ok' : 'error'}>
          {v.valid ? `Hash chain verified: ${v.checked} entries intact.` : `Hash chain broken at entry ${v.firstBrokenSeq} (${v.checked} checked).`}
        </p>
      )}
      <ErrorMessage error={list.error} />
      <Table columns={['#', 'When', 'Action', 'Outcome', 'Actor', 'Target']}>
        {page?.edges.map(({ node: e }) => (
          <tr key={e.seq}>
            <td>{e.seq}</td>
            <td>{new Date(e.at).toLocaleString()}</td>
            <td>{e.action}</td>
            <td>{e.outcome.toLowerCase()}</td>
            <td>{e.actorId ?? '—'}</td>
            <td>
              {e.targetType} {e.targetId ?? ''}
            </td>
          </tr>
        ))}
      </Table>
      <Pager label="Audit pages" pages={pages} pageInfo={page?.pageInfo} previousLabel="Newer" nextLabel="Older" />
    </section>
  );
}
