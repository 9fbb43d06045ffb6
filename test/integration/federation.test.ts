import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Execution, ExecutionStatus } from '../../src/modules/execution/index.js';
import { Principal, PrincipalKind } from '../../src/modules/principal/index.js';
import { buildRegistrySchema, printRegistrySchema } from '../../src/schema.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;

beforeAll(async () => {
  registry = await startRegistry({ seed: true });
});

afterAll(() => registry?.close());

describe('the subgraph schema', () => {
  it('is committed as schema/schema.graphql exactly as the code builds it (run `npm run schema`)', async () => {
    const committed = await readFile(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
    const { schema } = await buildRegistrySchema();
    expect(committed).toBe(printRegistrySchema(schema));
  });

  it('serves its SDL through _service with @key on Tool, Provider, Execution and Principal, and shareable value types', async () => {
    const res = await registry.graphql<{ _service: { sdl: string } }>('{ _service { sdl } }');
    const { sdl } = res.data!._service;
    expect(sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.7"');
    for (const type of ['Tool', 'Provider', 'Execution', 'Principal']) {
      expect(sdl).toMatch(new RegExp(`type ${type} @key\\(fields: "id"\\)`));
    }
    for (const type of ['PageInfo', 'UserError']) expect(sdl).toContain(`type ${type} @shareable`);
  });

  it('resolves Tool and Provider references through _entities', async () => {
    const tool = await registry.graphql<{ tool: { id: string; provider: { id: string } } }>(
      '{ tool(name: "weather.get_forecast") { id provider { id } } }',
    );
    const { id, provider } = tool.data!.tool;
    const res = await registry.graphql<{ _entities: ({ name: string } | null)[] }>(
      `query Refs($reps: [_Any!]!) {
        _entities(representations: $reps) { ... on Tool { name } ... on Provider { name } }
      }`,
      {
        reps: [
          { __typename: 'Tool', id },
          { __typename: 'Provider', id: provider.id },
          { __typename: 'Tool', id: '00000000-0000-4000-8000-000000000000' },
          { __typename: 'Tool', id: 'not-a-uuid' },
        ],
      },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities).toEqual([{ name: 'weather.get_forecast' }, { name: 'weather' }, null, null]);
  });

  it('does not reveal executions to anonymous callers through _entities', async () => {
    const em = registry.db.fork();
    const principal = em.create(Principal, { name: 'agent', kind: PrincipalKind.AGENT });
    const execution = em.create(Execution, { toolName: 'shell.echo', principal, status: ExecutionStatus.SUCCEEDED, result: 'hi' });
    await em.flush();
    const res = await registry.graphql<{ _entities: unknown[] }>(
      `{ _entities(representations: [{ __typename: "Execution", id: "${execution.id}" }]) { ... on Execution { id result } } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities).toEqual([null]);
  });

  it('resolves a Principal reference for itself, admins and audit:read only', async () => {
    const client = await registry.createClient({ roles: ['agent'], name: 'entity-agent' });
    const own = (await registry.tokenFor(client)).access_token;
    const query = `query Refs($reps: [_Any!]!) { _entities(representations: $reps) { ... on Principal { name kind } } }`;
    const reps = { reps: [{ __typename: 'Principal', id: client.principalId }] };
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await registry.graphql(query, reps, as(own))).data).toEqual({ _entities: [{ name: 'entity-agent', kind: 'AGENT' }] });
    expect((await registry.graphql(query, reps, as(registry.adminToken))).data).toEqual({ _entities: [{ name: 'entity-agent', kind: 'AGENT' }] });
    expect((await registry.graphql(query, reps, as(await registry.login({ scopes: ['audit:read'] })))).data).toEqual({
      _entities: [{ name: 'entity-agent', kind: 'AGENT' }],
    });
    expect((await registry.graphql(query, reps, as(registry.viewerToken))).data).toEqual({ _entities: [null] });
  });
});
