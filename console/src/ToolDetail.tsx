import { ErrorMessage } from './ErrorMessage';
import type { ConsoleToolQuery, ConsoleToolQueryVariables } from './generated/graphql';
import tool from './operations/tool.graphql?raw';
import { SchemaView } from './SchemaView';
import { Link } from './router';
import { Table } from './ui';
import { useLoad, useSession } from './session';
import { TryIt } from './TryIt';

/** One tool: description, schemas, versions, quarantine and provider status, and the Try-it form. */
export function ToolDetail({ name }: { name: string }) {
  const { call, session } = useSession();
  const isAdmin = session.roles.includes('admin');
  const { data, error, loading } = useLoad(() => call<ConsoleToolQuery, ConsoleToolQueryVariables>(tool, { name }), [call, name]);
  const t = data?.tool;
  return (
    <article aria-labelledby="tool-title">
      <p>
        <Link to={{ name: 'catalog' }}>← Catalog</Link>
      </p>
      <h1 id="tool-title">{name}</h1>
      <ErrorMessage error={error} />
      {loading && !t && <p>Loading…</p>}
      {data && !t && <p role="alert">No tool named {name}, or you may not read it.</p>}
      {t && (
        <>
          <p>{t.description}</p>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              {t.status.toLowerCase()}
              {t.quarantined && <span className="badge warn">quarantined: a changed definition awaits approval</span>}
              {!t.enabled && <span className="badge warn">disabled</span>}
            </dd>
            <dt>Version</dt>
            <dd>{t.version}</dd>
            <dt>Call template</dt>
            <dd>{t.callTemplateType.toLowerCase()}</dd>
            <dt>Provider</dt>
            <dd>
              {isAdmin ? <Link to={{ name: 'provider', id: t.provider.id }}>{t.provider.name}</Link> : t.provider.name} — {t.provider.status.toLowerCase()}
              {t.provider.lastError && <span className="error-inline"> ({t.provider.lastError})</span>}
            </dd>
            <dt>Tags</dt>
            <dd>{t.tags.join(', ') || '—'}</dd>
          </dl>
          <div className="columns">
            <SchemaView title="Input" schema={t.inputs} />
            <SchemaView title="Output" schema={t.outputs} />
          </div>
          <section aria-labelledby="versions-title">
            <h3 id="versions-title">Versions</h3>
            <Table columns={['Version', 'Status', 'Created', 'Decided']}>
              {t.versions.map((v) => (
                <tr key={v.version}>
                  <td>{v.version}</td>
                  <td>{v.status.toLowerCase()}</td>
                  <td>{new Date(v.createdAt).toLocaleString()}</td>
                  <td>{v.decidedAt ? new Date(v.decidedAt).toLocaleString() : '—'}</td>
                </tr>
              ))}
            </Table>
          </section>
          <TryIt tool={t.name} schema={t.inputs} disabled={t.quarantined || !t.enabled} />
        </>
      )}
    </article>
  );
}
