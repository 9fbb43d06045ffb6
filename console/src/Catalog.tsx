import { useEffect, useState } from 'react';
import { ErrorMessage } from './ErrorMessage';
import type { CallTemplateType, ConsoleToolsQuery, ConsoleToolsQueryVariables } from './generated/graphql';
import tools from './operations/tools.graphql?raw';
import { Link, setQuery, useAddress } from './router';
import { useLoad, useSession } from './session';
import { Pager, useCursorPages } from './ui';

const TYPES: CallTemplateType[] = ['HTTP', 'SSE', 'STREAMABLE_HTTP', 'WEBSOCKET', 'GRAPHQL', 'MCP', 'CLI', 'TEXT', 'FILE'];
const PAGE_SIZE = 10;

/** The value after the user stopped typing for `ms`. */
function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * Search as you type, filters by tag, provider and call template type, and cursor paging. The search
 * and filters live in the address (`?q=…&tag=…&provider=…&type=…`): typing rewrites the current
 * history entry, picking a tag or a type adds one, so Back undoes it.
 */
export function Catalog() {
  const { call } = useSession();
  const { search: query } = useAddress();
  const search = query.get('q') ?? '';
  const tag = query.get('tag') ?? '';
  const provider = query.get('provider') ?? '';
  const typeParam = query.get('type') ?? '';
  const type: CallTemplateType | '' = (TYPES as string[]).includes(typeParam) ? (typeParam as CallTemplateType) : '';
  const setSearch = (q: string) => setQuery({ q }, true);
  const setTag = (t: string, replace = true) => setQuery({ tag: t }, replace);
  const setProvider = (p: string) => setQuery({ provider: p }, true);
  const setType = (t: string) => setQuery({ type: t }, false);
  const filter = useDebounced({ search: search.trim(), tag: tag.trim(), provider: provider.trim(), type }, 200);
  const filterKey = JSON.stringify(filter);
  const pages = useCursorPages(filterKey);
  const after = pages.after;

  const { data, error, loading } = useLoad(
    () =>
      call<ConsoleToolsQuery, ConsoleToolsQueryVariables>(tools, {
        first: PAGE_SIZE,
        after,
        filter: {
          search: filter.search || undefined,
          tags: filter.tag ? [filter.tag] : undefined,
          provider: filter.provider || undefined,
          callTemplateType: filter.type || undefined,
        },
      }),
    [call, filterKey, after],
  );
  const page = data?.tools;

  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">Catalog</h1>
      <div className="filters" role="search">
        <div>
          <label htmlFor="search">Search tools</label>
          <input id="search" type="search" placeholder="e.g. forecast" value={search} onChange={(e) => setSearch(e.target.value)} />
        </div>
        <div>
          <label htmlFor="tag">Tag</label>
          <input id="tag" value={tag} onChange={(e) => setTag(e.target.value)} />
        </div>
        <div>
          <label htmlFor="provider">Provider</label>
          <input id="provider" value={provider} onChange={(e) => setProvider(e.target.value)} />
        </div>
        <div>
          <label htmlFor="type">Call template type</label>
          <select id="type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">Any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t.toLowerCase()}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorMessage error={error} />
      <p aria-live="polite" className="hint">
        {loading ? 'Searching…' : page ? `${page.totalCount} tool${page.totalCount === 1 ? '' : 's'}` : ''}
      </p>
      <ul className="tools" aria-label="Tools">
        {page?.edges.map(({ node }) => (
          <li key={node.id} className="card">
            <h2>
              <Link to={{ name: 'tool', tool: node.name }}>{node.name}</Link>
            </h2>
            <p>{node.description}</p>
            <p className="meta">
              <span className="badge">{node.callTemplateType.toLowerCase()}</span>
              {node.quarantined && <span className="badge warn">quarantined</span>}
              <span className={`badge ${node.provider.status === 'ACTIVE' ? '' : 'warn'}`}>provider {node.provider.status.toLowerCase()}</span>
              {node.tags.map((t) => (
                <button key={t} type="button" className="tag" onClick={() => setTag(t, false)} aria-label={`Filter by tag ${t}`}>
                  #{t}
                </button>
              ))}
            </p>
          </li>
        ))}
      </ul>
      <Pager label="Pages" pages={pages} pageInfo={page?.pageInfo} />
    </section>
  );
}
