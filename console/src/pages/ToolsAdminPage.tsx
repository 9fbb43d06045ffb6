import type * as G from '../generated/graphql';
import adminTools from '../operations/adminTools.graphql?raw';
import { setQuery, useAddress } from '../router';
import { useLoad, useSession } from '../session';
import { ErrorMessage } from '../ErrorMessage';
import { Pager, useCursorPages } from '../ui';
import { ToolToggle } from './ToolToggle';

/** Every tool with its enabled state, filtered by name and state (kept in the address), to enable or disable. */
export function ToolsAdminPage() {
  const { call } = useSession();
  const { search: query } = useAddress();
  const search = query.get('q') ?? '';
  const state = query.get('enabled') ?? '';
  const filterKey = `${search}|${state}`;
  const pages = useCursorPages(filterKey);
  const after = pages.after;
  const list = useLoad(
    () =>
      call<G.ConsoleAdminToolsQuery, G.ConsoleAdminToolsQueryVariables>(adminTools, {
        first: 50,
        after,
        filter: { search: search.trim() || undefined, enabled: state === '' ? undefined : state === 'yes' },
      }),
    [call, filterKey, after],
  );
  return (
    <section aria-labelledby="admin-tools-title">
      <h1 id="admin-tools-title">Tools</h1>
      <div className="filters" role="search">
        <div>
          <label htmlFor="admin-tools-search">Find tools</label>
          <input id="admin-tools-search" type="search" value={search} onChange={(e) => setQuery({ q: e.target.value }, true)} />
        </div>
        <div>
          <label htmlFor="admin-tools-enabled">Enabled</label>
          <select id="admin-tools-enabled" value={state} onChange={(e) => setQuery({ enabled: e.target.value }, false)}>
            <option value="">Any</option>
            <option value="yes">Enabled</option>
            <option value="no">Disabled</option>
          </select>
        </div>
      </div>
      <ErrorMessage error={list.error} />
      <p className="hint" aria-live="polite">
        {list.data ? `${list.data.tools.totalCount} tools` : ''}
      </p>
      <ToolToggle tools={list.data?.tools.edges.map((e) => e.node) ?? []} onChanged={list.reload} />
      <Pager label="Tool pages" pages={pages} pageInfo={list.data?.tools.pageInfo} />
    </section>
  );
}
