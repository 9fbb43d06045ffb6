import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { buildASTSchema, Kind, parse, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { useEffect, useMemo, useRef, type ComponentProps, type RefObject } from 'react';
import { subscriptionClient } from './api';
import { ErrorMessage } from './ErrorMessage';
import type { ConsoleExplorerSchemaQuery, ConsoleExplorerSchemaQueryVariables } from './generated/graphql';
import explorerSchema from './operations/explorerSchema.graphql?raw';
import { useLoad, useSession } from './session';

type Fetcher = ComponentProps<typeof GraphiQL>['fetcher'];
type Params = Parameters<Fetcher>[0];

/** The explorer's tabs, queries and history live in this page's memory only: nothing is written to the browser's storage. */
class MemoryStorage {
  private readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  clear() {
    this.items.clear();
  }
}


function isSubscription(params: Params): boolean {
  try {
    const operations = parse(params.query).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const chosen = params.operationName ? operations.find((o) => o.name?.value === params.operationName) : operations[0];
    return chosen?.operation === 'subscription';
  } catch {
    // The registry reports the syntax error.
    return false;
  }
}

/** A subscription's results, on a connection of its own that closes when GraphiQL stops listening. */
async function* subscribe(token: string, params: Params) {
  const client = subscriptionClient(token);
  try {
    yield* client.iterate({ query: params.query, variables: params.variables ?? undefined, operationName: params.operationName ?? undefined });
  } finally {
    await client.dispose();
  }
}

/**
 * Runs the explorer's operations as the signed-in principal: queries and mutations over HTTP,
 * subscriptions over graphql-ws. The token is added here, never shown in the headers editor.
 */
function fetcherFor(token: string): Fetcher {
  return async (params, options) => {
    if (isSubscription(params)) return subscribe(token, params) as never;
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: { ...(options?.headers as Record<string, string> | undefined), 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(params),
    });
    return (await response.json()) as never;
  };
}

const DEFAULT_QUERY = `# Operations here run as you, with your roles and scopes, and count
# against your query budget like any other client's.
{
  me {
    principal {
      name
      roles
    }
    scopes
  }
}
`;

/** Names for GraphiQL's editors, whose CodeMirror inputs come without one. */
function labelEditor(textarea: HTMLTextAreaElement) {
  const tools = textarea.closest('.graphiql-editor-tool');
  const name = textarea.closest('.graphiql-query-editor')
    ? 'GraphQL operation'
    : textarea.closest('.graphiql-response')
      ? 'Response'
      : tools
        ? [...tools.querySelectorAll(':scope > .graphiql-editor')].indexOf(textarea.closest('.graphiql-editor')!) === 0
          ? 'Variables (JSON)'
          : 'Request headers (JSON)'
        : 'Editor';
  textarea.setAttribute('aria-label', name);
}

/**
 * Makes GraphiQL's editors accessible where it leaves them short: each CodeMirror input gets a name,
 * and each editor's scrolling area can take keyboard focus (so it can be scrolled without a mouse).
 */
function useAccessibleEditors(frame: RefObject<HTMLDivElement | null>, shown: boolean) {
  useEffect(() => {
    const root = frame.current;
    if (!root) return;
    const fix = () => {
      for (const textarea of root.querySelectorAll<HTMLTextAreaElement>('.CodeMirror textarea:not([aria-label])')) labelEditor(textarea);
      // CodeMirror makes them focusable by script only (tabindex -1).
      for (const scroll of root.querySelectorAll<HTMLElement>('.CodeMirror-scroll:not([tabindex="0"])')) scroll.tabIndex = 0;
    };
    fix();
    const observer = new MutationObserver(fix);
    observer.observe(root, { childList: true, subtree: true });
    return () => observer.disconnect();
  }, [frame, shown]);
}

/** GraphiQL, served by the registry, for the signed-in principal. */
export function Explorer() {
  const { call, session } = useSession();
  // The schema as the registry publishes it to everyone, introspection or not: the federation field
  // `_service { sdl }` (introspection is off in production unless `REGISTRY_INTROSPECTION=true`).
  // The SDL uses federation directives it does not define, hence `assumeValidSDL`.
  const loaded = useLoad(() => call<ConsoleExplorerSchemaQuery, ConsoleExplorerSchemaQueryVariables>(explorerSchema, {}), [call]);
  const built = useMemo<{ schema?: GraphQLSchema; error?: unknown }>(() => {
    if (!loaded.data) return {};
    try {
      return { schema: buildASTSchema(parse(loaded.data._service.sdl ?? ''), { assumeValidSDL: true }) };
    } catch (error) {
      return { error: new Error(`The registry's schema could not be read: ${(error as Error).message}`) };
    }
  }, [loaded.data]);
  const schema = built.schema;
  const fetcher = useMemo(() => fetcherFor(session.token), [session.token]);
  const storage = useMemo(() => new MemoryStorage(), []);
  const frame = useRef<HTMLDivElement>(null);
  useAccessibleEditors(frame, schema !== undefined);
  return (
    <section aria-labelledby="explorer-title" className="explorer">
      <h1 id="explorer-title">GraphQL explorer</h1>
      <p className="hint">
        Write and run GraphQL operations against this registry as <strong>{session.name}</strong>. Queries, tabs and history are kept in this page only.
      </p>
      <ErrorMessage error={loaded.error ?? built.error} />
      {loaded.loading && !schema && <p role="status">Loading the schema…</p>}
      {schema && (
        <div className="explorer-frame" ref={frame}>
          <GraphiQL
            fetcher={fetcher}
            schema={schema}
            storage={storage}
            defaultQuery={DEFAULT_QUERY}
            shouldPersistHeaders={false}
            showPersistHeadersSettings={false}
            forcedTheme="system"
          />
        </div>
      )}
    </section>
  );
}
