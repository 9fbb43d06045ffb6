import type * as G from '../generated/graphql';
import auditEntry from '../operations/auditEntry.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { hrefOf, Link } from '../router';
import { useLoad, useSession } from '../session';
import { when } from './common';

/** The page of an audit entry's target, when the console has one. */
function targetLink(entry: G.ConsoleAuditEntryQuery['auditEntry']) {
  if (!entry?.targetId) return null;
  switch (entry.targetType) {
    case 'tool':
      return entry.targetName ? <Link to={{ name: 'tool', tool: entry.targetName }}>{entry.targetName}</Link> : null;
    case 'provider':
      return <Link to={{ name: 'provider', id: entry.targetId }}>{entry.targetName ?? entry.targetId}</Link>;
    case 'policy':
      return <Link to={{ name: 'policy', id: entry.targetId }}>{entry.targetName ?? entry.targetId}</Link>;
    default:
      return null;
  }
}

/** One audit entry: who did what to what, from where, its details and its place in the hash chain. */
export function AuditEntryPage({ seq }: { seq: string }) {
  const { call } = useSession();
  const loaded = useLoad(() => call<G.ConsoleAuditEntryQuery, G.ConsoleAuditEntryQueryVariables>(auditEntry, { seq }), [call, seq]);
  const e = loaded.data?.auditEntry;
  return (
    <article aria-labelledby="audit-entry-title">
      <p>
        <Link to={{ name: 'admin', section: 'audit' }}>← Audit log</Link>
      </p>
      <h1 id="audit-entry-title">Audit entry {seq}</h1>
      <ErrorMessage error={loaded.error} />
      {loaded.loading && !e && <p>Loading…</p>}
      {loaded.data && !e && <p role="alert">No audit entry {seq}.</p>}
      {e && (
        <>
          <dl className="facts">
            <dt>When</dt>
            <dd>{when(e.at)}</dd>
            <dt>Action</dt>
            <dd>{e.action}</dd>
            <dt>Outcome</dt>
            <dd>{e.outcome.toLowerCase()}</dd>
            <dt>Actor</dt>
            <dd>
              {e.actorName ?? 'the registry'}
              {e.actorId && (
                <>
                  {' '}
                  (<code>{e.actorId}</code>,{' '}
                  <Link to={`${hrefOf({ name: 'admin', section: 'audit' })}?actor=${encodeURIComponent(e.actorId)}`}>all their entries</Link>)
                </>
              )}
            </dd>
            <dt>Target</dt>
            <dd>
              {e.targetType} {targetLink(e) ?? e.targetName ?? ''}
              {e.targetId && (
                <>
                  {' '}
                  (<code>{e.targetId}</code>,{' '}
                  <Link to={`${hrefOf({ name: 'admin', section: 'audit' })}?targetId=${encodeURIComponent(e.targetId)}`}>all entries about it</Link>)
                </>
              )}
            </dd>
            <dt>Source address</dt>
            <dd>{e.sourceIp ?? '—'}</dd>
            <dt>Request id</dt>
            <dd>{e.requestId ? <code>{e.requestId}</code> : '—'}</dd>
            <dt>Hash</dt>
            <dd>
              <code className="hash">{e.hash}</code>
            </dd>
            <dt>Previous hash</dt>
            <dd>
              <code className="hash">{e.prevHash}</code>
            </dd>
          </dl>
          <section aria-labelledby="audit-details-title">
            <h2 id="audit-details-title">Details</h2>
            <pre>{JSON.stringify(e.details, null, 2)}</pre>
          </section>
        </>
      )}
    </article>
  );
}
