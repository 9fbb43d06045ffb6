import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { GraphQLJSON } from 'graphql-scalars';

/**
 * The peer: a bare Apollo Server 5 (standalone, on node:http; no auth, no database, no limits, no
 * cache), what a user might run instead of the registry. Its schema has exactly the fields the
 * benchmark selects, with the registry's types and names, so the same request gets an answer of the
 * same JSON shape:
 * - `tools(first, after)` serves the registry's catalog page (sent by the harness) from memory;
 * - `executeTool(input)` forwards `arguments.body` as a JSON POST to the echo upstream (global fetch,
 *   pooled keep-alive connections) and answers its JSON as `result`; it records nothing.
 * Extra variables (e.g. a `nonce`) are ignored, as graphql-js does.
 */

export interface PeerConfig {
  /** The registry's `data.tools` of the catalog query (its edges are served, `first` of them). */
  catalog?: { edges: { cursor: string; node: unknown }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  /** URL the execute mutation POSTs to. */
  echoUrl?: string;
}

const typeDefs = `#graphql
  scalar JSON
  enum CallTemplateType { CLI FILE GRAPHQL HTTP MCP SSE STREAMABLE_HTTP TEXT WEBSOCKET }
  enum ExecutionStatus { CANCELLED DENIED FAILED QUEUED RUNNING SUCCEEDED TIMED_OUT }
  type Provider { id: ID! name: String! }
  type Tool { id: ID! name: String! description: String! tags: [String!]! callTemplateType: CallTemplateType! provider: Provider! }
  type ToolEdge { cursor: String! node: Tool! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type ToolConnection { edges: [ToolEdge!]! pageInfo: PageInfo! }
  type Query { tools(first: Int = 20, after: String): ToolConnection! }
  input ExecuteToolInput { tool: String! arguments: JSON! }
  type Execution { id: ID! status: ExecutionStatus! result: JSON durationMs: Int }
  type Mutation { executeTool(input: ExecuteToolInput!): Execution! }
`;

async function start(config: PeerConfig): Promise<number> {
  const edges = config.catalog?.edges ?? [];
  const resolvers = {
    JSON: GraphQLJSON,
    Query: {
      tools: (_: unknown, args: { first: number }) => {
        const page = edges.slice(0, Math.max(0, args.first));
        return {
          edges: page,
          pageInfo: { hasNextPage: edges.length > page.length || Boolean(config.catalog?.pageInfo.hasNextPage), endCursor: page.at(-1)?.cursor ?? null },
        };
      },
    },
    Mutation: {
      executeTool: async (_: unknown, { input }: { input: { tool: string; arguments: { body?: unknown } } }) => {
        if (!config.echoUrl) throw new Error('no upstream configured');
        const started = performance.now();
        const response = await fetch(config.echoUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(input.arguments.body ?? {}),
        });
        const result: unknown = await response.json();
        return { id: randomUUID(), status: response.ok ? 'SUCCEEDED' : 'FAILED', result, durationMs: Math.round(performance.now() - started) };
      },
    },
  };
  const server = new ApolloServer({ typeDefs, resolvers });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return Number(new URL(url).port);
}

process.once('message', (config: PeerConfig) => {
  start(config).then(
    (port) => process.send!({ port }),
    (error: unknown) => process.send!({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('SIGTERM', () => process.exit(0));
process.send!({ ready: true });
