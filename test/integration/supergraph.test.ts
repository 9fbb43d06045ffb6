import { readFile } from 'node:fs/promises';
import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Execution, ExecutionStatus } from '../../src/modules/execution/index.js';
import { Principal } from '../../src/modules/principal/index.js';
import { type GraphQLResponse, startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * A second subgraph, as another team would write it: agents that favour a registry tool, ran a
 * registry execution and are a registry principal; and a field of its own on the registry's Tool.
 */
const AGENTS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable", "@inaccessible"])

  type Agent @key(fields: "id") {
    id: ID!
    name: String!
    team: String!
    favoriteTool: Tool
    lastExecution: Execution
    principal: Principal
    "Kept inside this subgraph: the supergraph does not serve it."
    costCenter: String @inaccessible
  }

  type Tool @key(fields: "id") {
    id: ID!
    "Agents of this subgraph that favour the tool."
    favoredBy: [Agent!]!
  }

  type Execution @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Principal @key(fields: "id") {
    id: ID!
    "The agent profile this subgraph keeps for a registry principal."
    agentProfile: Agent
  }

  type PageInfo @shareable {
    hasNextPage: Boolean!
    endCursor: String
  }

  type Query {
    agents: [Agent!]!
  }
`;

interface AgentRow {
  id: string;
  name: string;
  team: string;
  toolId: string;
  executionId: string;
  principalId: string;
}

let registry: TestRegistry;
let agentsServer: ApolloServer<{ authorization?: string }>;
let gatewayServer: ApolloServer<{ authorization?: string }>;
let gatewayUrl: string;
const agents: AgentRow[] = [];
/** Authorization headers the agents subgraph received from the gateway. */
const agentsSaw: (string | undefined)[] = [];
let agentToken: string;
let agentPrincipalId: string;
let executionId: string;
let forecastId: string;

async function viaGateway<T>(query: string, token?: string): Promise<GraphQLResponse<T>> {
  const res = await fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

const agentView = (row: AgentRow) => ({ __typename: 'Agent', id: row.id, name: row.name, team: row.team, costCenter: 'cc-4711' });

beforeAll(async () => {
  registry = await startRegistry({ seed: true });
  const client = await registry.createClient({ roles: ['agent'], name: 'forecaster' });
  agentPrincipalId = client.principalId;
  agentToken = (await registry.tokenFor(client)).access_token;
  const tool = await registry.graphql<{ tool: { id: string } }>('{ tool(name: "weather.get_forecast") { id } }');
  forecastId = tool.data!.tool.id;
  const em = registry.db.fork();
  const execution = em.create(Execution, {
    toolName: 'weather.get_forecast',
    principal: em.getReference(Principal, agentPrincipalId),
    status: ExecutionStatus.SUCCEEDED,
    result: { temperature: 21 },
  });
  await em.flush();
  executionId = execution.id;
  agents.push({ id: 'a1', name: 'Forecaster', team: 'weather', toolId: forecastId, executionId, principalId: agentPrincipalId });

  agentsServer = new ApolloServer({
    schema: buildSubgraphSchema([
      {
      typeDefs: parse(AGENTS_SDL),
      resolvers: {
        Query: { agents: () => agents.map(agentView) },
        Agent: {
          __resolveReference: (ref: { id: string }) => {
            const row = agents.find((a) => a.id === ref.id);
            return row ? agentView(row) : null;
          },
          favoriteTool: (agent: { id: string }) => ({ __typename: 'Tool', id: agents.find((a) => a.id === agent.id)!.toolId }),
          lastExecution: (agent: { id: string }) => ({ __typename: 'Execution', id: agents.find((a) => a.id === agent.id)!.executionId }),
          principal: (agent: { id: string }) => ({ __typename: 'Principal', id: agents.find((a) => a.id === agent.id)!.principalId }),
        },
        Tool: {
          favoredBy: (tool: { id: string }) => agents.filter((a) => a.toolId === tool.id).map(agentView),
        },
        Principal: {
          agentProfile: (principal: { id: string }) => {
            const row = agents.find((a) => a.principalId === principal.id);
            return row ? agentView(row) : null;
          },
        },
      } as never,
      },
    ]),
  });
  const agentsUrl = (
    await startStandaloneServer(agentsServer, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => {
        agentsSaw.push(req.headers.authorization);
        return {};
      },
    })
  ).url;

  // Composition as Rover / the router's build step does it: the committed registry SDL plus the new subgraph.
  const composed = composeServices([
    { name: 'registry', url: `${registry.url}/graphql`, typeDefs: parse(await readFile('schema/schema.graphql', 'utf8')) },
    { name: 'agents', url: agentsUrl, typeDefs: parse(AGENTS_SDL) },
  ]);
  expect(composed.errors ?? []).toEqual([]);

  const gateway = new ApolloGateway({
    supergraphSdl: composed.supergraphSdl!,
    // Forward the caller's bearer token to every subgraph, as the router's `propagate` rule does.
    buildService: ({ url }) =>
      new RemoteGraphQLDataSource<{ authorization?: string }>({
        url,
        willSendRequest({ request, context }) {
          if (context.authorization) request.http!.headers.set('authorization', context.authorization);
        },
      }),
  });
  gatewayServer = new ApolloServer({ gateway });
  gatewayUrl = (
    await startStandaloneServer(gatewayServer, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => ({ authorization: req.headers.authorization }),
    })
  ).url;
});

afterAll(async () => {
  await gatewayServer?.stop();
  await agentsServer?.stop();
  await registry?.close();
});

describe('the registry in a supergraph behind @apollo/gateway', () => {
  it('joins agents with the registry’s tools, executions and principals (agents → registry)', async () => {
    const res = await viaGateway<{
      agents: { name: string; favoriteTool: { name: string; provider: { name: string } } | null; lastExecution: unknown; principal: unknown }[];
    }>(
      `{ agents { name favoriteTool { name provider { name } } lastExecution { status toolName result } principal { name roles } } }`,
      agentToken,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.agents).toEqual([
      {
        name: 'Forecaster',
        favoriteTool: { name: 'weather.get_forecast', provider: { name: 'weather' } },
        lastExecution: { status: 'SUCCEEDED', toolName: 'weather.get_forecast', result: { temperature: 21 } },
        principal: { name: 'forecaster', roles: ['agent'] },
      },
    ]);
    // The gateway forwarded the caller's token to the other subgraph as well.
    expect(agentsSaw.at(-1)).toBe(`Bearer ${agentToken}`);
  });

  it('extends registry types with fields of the other subgraph (registry → agents)', async () => {
    const res = await viaGateway<{ tool: unknown; me: unknown }>(
      `{ tool(name: "weather.get_forecast") { name favoredBy { name team } } me { principal { name agentProfile { name } } } }`,
      agentToken,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({
      tool: { name: 'weather.get_forecast', favoredBy: [{ name: 'Forecaster', team: 'weather' }] },
      me: { principal: { name: 'forecaster', agentProfile: { name: 'Forecaster' } } },
    });
  });

  it('keeps the registry’s authorization on _entities: no tools:read, no tools; someone else’s execution stays hidden', async () => {
    const noRead = await registry.login({ scopes: ['audit:read'] });
    const withoutRead = await viaGateway<{ agents: { favoriteTool: unknown; lastExecution: unknown }[] }>(
      `{ agents { name favoriteTool { name description } lastExecution { status } } }`,
      noRead,
    );
    // audit:read may see executions, but without tools:read the registry resolves no tool.
    expect(withoutRead.data!.agents).toEqual([{ name: 'Forecaster', favoriteTool: null, lastExecution: { status: 'SUCCEEDED' } }]);

    const stranger = await registry.login({ roles: ['agent'] });
    const other = await viaGateway<{ agents: { favoriteTool: unknown; lastExecution: unknown; principal: unknown }[] }>(
      `{ agents { name favoriteTool { name } lastExecution { status result } principal { name clientId } } }`,
      stranger,
    );
    expect(other.data!.agents).toEqual([{ name: 'Forecaster', favoriteTool: { name: 'weather.get_forecast' }, lastExecution: null, principal: null }]);

    // Without a token the registry refuses the whole entity fetch; the gateway keeps only what the
    // agents subgraph knows (the execution's id stub), none of the registry's data.
    const anonymous = await viaGateway<{ agents: { favoriteTool: unknown; lastExecution: { result: unknown } | null }[] }>(
      `{ agents { name favoriteTool { name } lastExecution { result } } }`,
    );
    const [seen] = anonymous.data!.agents;
    expect(seen!.favoriteTool).toBeNull();
    expect(seen!.lastExecution?.result ?? null).toBeNull();
    expect(anonymous.errors!.map((e) => e.extensions?.code)).toContain('UNAUTHENTICATED');
  });

  it('keeps the registry’s own root fields guarded through the gateway', async () => {
    const viewer = await viaGateway<{ auditLog: unknown }>(`{ auditLog(first: 1) { totalCount } }`, registry.viewerToken);
    expect(viewer.data).toBeNull();
    expect(viewer.errors!.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('does not serve fields a subgraph marks @inaccessible', async () => {
    const res = await viaGateway(`{ agents { costCenter } }`, agentToken);
    expect(res.errors![0]!.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.errors![0]!.message).toMatch(/Cannot query field "costCenter"/);
  });
});
