import type * as G from '../generated/graphql';
import audit from '../operations/audit.graphql?raw';
import verifyAudit from '../operations/verifyAudit.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { Link, setQuery, useAddress } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { ScrollTable, when } from './common';
import { PrincipalPicker, usePrincipals } from './PrincipalPicker';

const OUTCOMES: G.AuditOutcome[] = ['SUCCESS', 'FAILURE', 'DENIED'];

/** How old a checkpoint is, in the largest whole unit. */
function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** The hash chain's verdict with the anchoring checkpoint: what is covered, what is not yet, and every problem found. */
export function AuditVerificationView() {
  const { call } = useSession();
  const verification = useLoad(() => call<G.ConsoleVerifyAuditQuery, G.ConsoleVerifyAuditQueryVariables>(verifyAudit, {}), [call]);
  const v = verification.data?.verifyAuditLog;
  return (
    <section aria-labelledby="verification-title" className="card">
      <h2 id="verification-title">Verification</h2>
      <ErrorMessage error={verification.error} />
      {verification.loading && !v && <p>Verifying…</p>}
      {v && (
        <>
          <p role="status" className={v.valid ? 'ok' : 'error'}>
            <strong>{v.valid ? 'Hash chain verified.' : `Hash chain broken${v.firstBrokenSeq ? ` at entry ${v.firstBrokenSeq}` : ''}.`}</strong> {v.summary}
          </p>
          <dl className="facts" data-testid="checkpoint-status">
            <dt>Checkpoint</dt>
            <dd>
              {v.checkpoint
                ? `entry ${v.checkpoint.seq} (${v.checkpoint.count} entries), signed ${when(v.checkpoint.at)} with key ${v.checkpoint.keyId}${v.checkpointAgeSeconds !== null && v.checkpointAgeSeconds !== undefined ? `, ${age(v.checkpointAgeSeconds)} ago` : ''}`
                : 'none yet: no entry is anchored'}
            </dd>
            <dt>Not yet anchored</dt>
            <dd>{v.unanchoredEntries} entries</dd>
            <dt>Checkpoints checked</dt>
            <dd>{v.checkpointsChecked}</dd>
            <dt>Entries</dt>
            <dd>
              {v.entries}
              {v.lastSeq ? ` (last: ${v.lastSeq})` : ''}
            </dd>
          </dl>
          {v.problems.length > 0 && (
            <ul className="error">
              {v.problems.map((p, i) => (
                <li key={i}>
                  {p.kind.toLowerCase().replaceAll('_', ' ')}
                  {p.seq ? ` at entry ${p.seq}` : ''}: {p.message}
                </li>
              ))}
            </ul>
          )}
          <button type="button" onClick={verification.reload}>
            Verify again
          </button>
        </>
      )}
    </section>
  );
}

/** The audit log, newest first, with names for ids, filters kept in the address, and a link to each entry. */
export function AuditPage() {
  const { call } = useSession();
  const { search: query } = useAddress();
  const action = query.get('action') ?? '';
  const actor = query.get('actor') ?? '';
  const targetType = query.get('targetType') ?? '';
  const targetId = query.get('targetId') ?? '';
  const outcomeParam = query.get('outcome') ?? '';
  const outcome = (OUTCOMES as string[]).includes(outcomeParam) ? (outcomeParam as G.AuditOutcome) : '';
  const filterKey = [action, actor, targetType, targetId, outcome].join('|');
  const pages = useCursorPages(filterKey);
  const after = pages.after;
  const list = useLoad(
    () =>
      call<G.ConsoleAuditQuery, G.ConsoleAuditQueryVariables>(audit, {
        after,
        filter: {
          action: action.trim() || undefined,
          actorId: actor || undefined,
          targetType: targetType.trim() || undefined,
          targetId: targetId.trim() || undefined,
          outcome: outcome || undefined,
        },
      }),
    [call, filterKey, after],
  );
  const principals = usePrincipals();
  const page = list.data?.auditLog;
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <AuditVerificationView />
      <div className="filters" role="search">
        <div>
          <label htmlFor="audit-action">Action</label>
          <input id="audit-action" placeholder="policy.update" value={action} onChange={(e) => setQuery({ action: e.target.value }, true)} />
        </div>
        <div>
          <PrincipalPicker id="audit-actor" label="Actor" value={actor} onChange={(id) => setQuery({ actor: id }, false)} emptyLabel="Anyone" principals={principals.list} />
        </div>
        <div>
          <label htmlFor="audit-target-type">Target type</label>
          <input id="audit-target-type" placeholder="tool" value={targetType} onChange={(e) => setQuery({ targetType: e.target.value }, true)} />
        </div>
        <div>
          <label htmlFor="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={outcome} onChange={(e) => setQuery({ outcome: e.target.value }, false)}>
            <option value="">Any</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o.toLowerCase()}
              </option>
            ))}
          </select>
        </div>
      </div>
      {targetId && (
        <p>
          Only entries about <code>{targetId}</code>.{' '}
          <button type="button" className="link" onClick={() => setQuery({ targetId: '' }, false)}>
            Show all targets
          </button>
        </p>
      )}
      <ErrorMessage error={list.error} />
      <p className="hint" aria-live="polite">
        {page ? `${page.totalCount} entr${page.totalCount === 1 ? 'y' : 'ies'}` : ''}
      </p>
      <ScrollTable busy={list.loading} columns={['#', 'When', 'Action', 'Outcome', 'Actor', 'Target']}>
        {page?.edges.map(({ node: e }) => (
          <tr key={e.seq}>
            <td>
              <Link to={{ name: 'audit', seq: e.seq }} aria-label={`Entry ${e.seq}`}>
                {e.seq}
              </Link>
            </td>
            <td>{when(e.at)}</td>
            <td>{e.action}</td>
            <td>{e.outcome.toLowerCase()}</td>
            <td>{e.actorName ?? (e.actorId ? <code>{e.actorId}</code> : 'the registry')}</td>
            <td>
              {e.targetType} {e.targetName ?? (e.targetId ? <code>{e.targetId}</code> : '')}
            </td>
          </tr>
        ))}
      </ScrollTable>
      <Pager label="Audit pages" pages={pages} pageInfo={page?.pageInfo} previousLabel="Newer" nextLabel="Older" />
    </section>
  );
}
