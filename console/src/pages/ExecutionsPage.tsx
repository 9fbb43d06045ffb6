import type * as G from '../generated/graphql';
import executions from '../operations/executions.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { Link, setQuery, useAddress } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { ScrollTable, when } from './common';
import { PrincipalPicker, usePrincipals } from './PrincipalPicker';

export const EXECUTION_STATUSES: G.ExecutionStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DENIED', 'CANCELLED', 'TIMED_OUT'];

/** The history of calls, newest first, filtered by tool, status and principal (kept in the address). */
export function ExecutionsPage() {
  const { call } = useSession();
  const { search: query } = useAddress();
  const tool = query.get('tool') ?? '';
  const statusParam = query.get('status') ?? '';
  const status = (EXECUTION_STATUSES as string[]).includes(statusParam) ? (statusParam as G.ExecutionStatus) : '';
  const principal = query.get('principal') ?? '';
  const filterKey = `${tool}|${status}|${principal}`;
  const pages = useCursorPages(filterKey);
  const after = pages.after;
  const list = useLoad(
    () =>
      call<G.ConsoleExecutionsQuery, G.ConsoleExecutionsQueryVariables>(executions, {
        first: 20,
        after,
        filter: { tool: tool.trim() || undefined, status: status ? [status] : undefined, principal: principal || undefined },
      }),
    [call, filterKey, after],
  );
  const principals = usePrincipals();
  const page = list.data?.executions;
  return (
    <section aria-labelledby="executions-title">
      <h1 id="executions-title">Executions</h1>
      <div className="filters" role="search">
        <div>
          <label htmlFor="executions-tool">Tool</label>
          <input id="executions-tool" placeholder="weather.get_forecast" value={tool} onChange={(e) => setQuery({ tool: e.target.value }, true)} />
        </div>
        <div>
          <label htmlFor="executions-status">Status</label>
          <select id="executions-status" value={status} onChange={(e) => setQuery({ status: e.target.value }, false)}>
            <option value="">Any</option>
            {EXECUTION_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase().replace('_', ' ')}
              </option>
            ))}
          </select>
        </div>
        <div>
          <PrincipalPicker id="executions-principal" label="Principal" value={principal} onChange={(id) => setQuery({ principal: id }, false)} emptyLabel="Anyone" principals={principals.list} />
        </div>
      </div>
      <ErrorMessage error={list.error} />
      <p className="hint" aria-live="polite">
        {page ? `${page.totalCount} execution${page.totalCount === 1 ? '' : 's'}` : ''}
      </p>
      <ScrollTable busy={list.loading} columns={['Started', 'Tool', 'Status', 'Mode', 'Duration', 'Principal']}>
        {page?.edges.map(({ node: e }) => (
          <tr key={e.id}>
            <td>
              <Link to={{ name: 'execution', id: e.id }} aria-label={`Execution of ${e.toolName} at ${when(e.createdAt)}`}>
                {when(e.createdAt)}
              </Link>
            </td>
            <td>{e.toolName}</td>
            <td>{e.status.toLowerCase().replace('_', ' ')}</td>
            <td>{e.mode.toLowerCase()}</td>
            <td>{e.durationMs === null || e.durationMs === undefined ? '—' : `${e.durationMs} ms`}</td>
            <td>{e.principal?.name ?? '—'}</td>
          </tr>
        ))}
      </ScrollTable>
      <Pager label="Execution pages" pages={pages} pageInfo={page?.pageInfo} previousLabel="Newer" nextLabel="Older" />
    </section>
  );
}
