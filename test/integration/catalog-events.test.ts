import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CatalogChangedSubscription,
  type ExecuteToolMutation,
  type ExecuteToolMutationVariables,
  type FollowExecutionSubscription,
  type FollowExecutionSubscriptionVariables,
} from '../generated/graphql.js';
import { manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type LiveSubscription, subscribe } from '../helpers/subscriptions.js';

/** Two replicas need one PostgreSQL database and one Redis between them. */
const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

type Change = CatalogChangedSubscription['catalogChanged'];

let registry: TestRegistry;
let peer: Server;
let peerUrl: string;
/** What the manual peer serves, by path. */
const manuals = new Map<string, unknown>();
/** Calls of `/slow` wait for this to resolve. */
let releaseSlow: () => void = () => {};
let slow = Promise.resolve();
const open: LiveSubscription<unknown>[] = [];

const as = (token: string) => ({ authorization: `Bearer ${token}` });

async function mutate<T>(target: TestRegistry, query: string, input: Record<string, unknown>): Promise<T> {
  const res = await target.graphql<Record<string, T & { userErrors?: unknown[] }>>(query, { input }, as(target.adminToken));
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  const payload = Object.values(res.data!)[0]!;
  expect(payload.userErrors ?? []).toEqual([]);
  return payload;
}

/** Registers a provider whose manual the peer serves at `/<name>.json`; returns its id. */
async function register(target: TestRegistry, name: string, tools: Record<string, unknown>[]): Promise<string> {
  manuals.set(`/${name}.json`, manual(tools));
  const payload = await mutate<{ provider: { id: string } }>(
    target,
    `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { message } } }`,
    { name, callTemplate: { call_template_type: 'http', url: `${peerUrl}/${name}.json`, http_method: 'GET' } },
  );
  return payload.provider.id;
}

function catalog(target: TestRegistry, token: string): LiveSubscription<{ catalogChanged: Change }> {
  const live = subscribe<{ catalogChanged: Change }>(target.url, token, 'CatalogChanged');
  open.push(live as LiveSubscription<unknown>);
  return live;
}

/**
 * Resolves once every given subscription is live on the server: toggles a probe tool until each
 * has seen the toggle (a subscription only receives what is published after it is in effect).
 */
async function untilLive(target: TestRegistry, probeId: string, probeName: string, ...subs: LiveSubscription<{ catalogChanged: Change }>[]) {
  for (const sub of subs) {
    const deadline = Date.now() + 30_000;
    // Any probe event from now on proves the subscription live, also one that arrives late (a
    // loaded machine may deliver it after the next toggle).
    const from = sub.received.length;
    for (;;) {
      await mutate(target, `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { tool { id } userErrors { message } } }`, {
        toolId: probeId,
        enabled: true,
      });
      const seen = await sub
        .waitFor((d) => d.catalogChanged.toolName === probeName, { from, timeoutMs: 500 })
        .then(() => true)
        .catch(() => false);
      if (seen) break;
      if (Date.now() > deadline) throw new Error('the subscription never became live');
    }
  }
}

async function toolId(target: TestRegistry, name: string): Promise<string> {
  const res = await target.graphql<{ tool: { id: string } | null }>(`query($name: String!) { tool(name: $name) { id } }`, { name }, as(target.adminToken));
  return res.data!.tool!.id;
}

beforeAll(async () => {
  peer = createServer((req, res) => {
    if (req.url === '/slow') {
      void slow.then(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ done: true }));
      });
      return;
    }
    const body = manuals.get(req.url ?? '');
    res.statusCode = body ? 200 : 404;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  registry = await startRegistry({ env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32', REGISTRY_SUBSCRIPTION_RECHECK_SECONDS: '1' } });
  await register(registry, 'probe', [manualTool({ name: 'toggle' })]);
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await registry?.close();
  await new Promise((resolve) => peer?.close(resolve));
});

describe('catalogChanged', () => {
  it('announces tools added, quarantined, changed and removed, in order, with the tool as it is now', async () => {
    const agent = await registry.login({ roles: ['agent'] });
    const live = catalog(registry, agent);
    await untilLive(registry, await toolId(registry, 'probe.toggle'), 'probe.toggle', live);
    const from = live.received.length;
    const ofProvider = () => live.received.slice(from).map((d) => d.catalogChanged).filter((c) => c.tool.provider.name === 'weather_feed');

    const id = await register(registry, 'weather_feed', [manualTool({ name: 'forecast' }), manualTool({ name: 'alerts' })]);
    await live.waitFor((d) => d.catalogChanged.toolName === 'weather_feed.alerts', { from });
    expect(ofProvider().map((c) => [c.kind, c.toolName, c.tool.status])).toEqual([
      ['ADDED', 'weather_feed.forecast', 'ACTIVE'],
      ['ADDED', 'weather_feed.alerts', 'ACTIVE'],
    ]);

    // A changed description is not additive: the refresh quarantines it, approval releases it.
    manuals.set('/weather_feed.json', manual([manualTool({ name: 'forecast', description: 'Now something else entirely.' })]));
    await mutate(registry, `mutation($input: ProviderIdInput!) { refreshProvider(input: $input) { userErrors { message } } }`, { id });
    await live.waitFor((d) => d.catalogChanged.kind === 'REMOVED', { from });
    const forecast = await toolId(registry, 'weather_feed.forecast');
    await mutate(registry, `mutation($input: ApproveToolVersionInput!) { approveToolVersion(input: $input) { userErrors { message } } }`, {
      toolId: forecast,
      version: 2,
    });
    await mutate(registry, `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`, {
      toolId: forecast,
      enabled: false,
    });
    await mutate(registry, `mutation($input: ProviderIdInput!) { removeProvider(input: $input) { userErrors { message } } }`, { id });
    await live.waitFor((d) => d.catalogChanged.kind === 'REMOVED' && d.catalogChanged.toolName === 'weather_feed.forecast', { from });

    expect(ofProvider().slice(2).map((c) => [c.kind, c.toolName])).toEqual([
      ['QUARANTINED', 'weather_feed.forecast'],
      ['REMOVED', 'weather_feed.alerts'],
      ['CHANGED', 'weather_feed.forecast'],
      ['CHANGED', 'weather_feed.forecast'],
      ['REMOVED', 'weather_feed.forecast'],
    ]);
    // Each event carries the tool's state when the subscriber read it (after that change).
    const last = ofProvider().at(-1)!;
    expect(last.tool).toMatchObject({ status: 'REMOVED', enabled: false, version: 2 });
    expect(live.errors).toEqual([]);
  });

  it('shows each subscriber only the tools its read policies allow, and applies a policy change to open subscriptions', async () => {
    const reader = await registry.createClient({ roles: ['viewer'], name: 'restricted reader' });
    const restricted = (await registry.tokenFor(reader)).access_token;
    const policy = await mutate<{ policy: { id: string } }>(
      registry,
      `mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }`,
      {
        name: `hide-internal-${randomUUID().slice(0, 8)}`,
        effect: 'DENY',
        priority: 100,
        subjects: { principals: [reader.principalId] },
        resources: { tools: ['*.internal_*'] },
        actions: ['READ'],
      },
    );
    const limited = catalog(registry, restricted);
    const full = catalog(registry, registry.adminToken);
    await untilLive(registry, await toolId(registry, 'probe.toggle'), 'probe.toggle', limited, full);
    const [limitedFrom, fullFrom] = [limited.received.length, full.received.length];

    await register(registry, 'mixed', [manualTool({ name: 'public_lookup' }), manualTool({ name: 'internal_admin' })]);
    await full.waitFor((d) => d.catalogChanged.toolName === 'mixed.internal_admin', { from: fullFrom });
    await limited.waitFor((d) => d.catalogChanged.toolName === 'mixed.public_lookup', { from: limitedFrom });
    // The admin's subscription saw both; the restricted one handled the same batch and saw one.
    const mixed = (sub: typeof full, from: number) =>
      sub.received.slice(from).map((d) => d.catalogChanged.toolName).filter((name) => name.startsWith('mixed.'));
    expect(mixed(full, fullFrom)).toEqual(['mixed.public_lookup', 'mixed.internal_admin']);
    expect(mixed(limited, limitedFrom)).toEqual(['mixed.public_lookup']);

    // Lifting the deny applies to the open subscription: the next change of the hidden tool arrives.
    await mutate(registry, `mutation($input: DeletePolicyInput!) { deletePolicy(input: $input) { userErrors { message } } }`, {
      id: policy.policy.id,
    });
    await mutate(registry, `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`, {
      toolId: await toolId(registry, 'mixed.internal_admin'),
      enabled: false,
    });
    const change = await limited.waitFor((d) => d.catalogChanged.toolName === 'mixed.internal_admin', { from: limitedFrom });
    expect(change.catalogChanged).toMatchObject({ kind: 'CHANGED', tool: { enabled: false } });
  });

  it('refuses a subscriber without tools:read, and connections without a valid token', async () => {
    const noRead = await registry.login({ scopes: ['audit:read'] });
    const refused = catalog(registry, noRead);
    await refused.ended();
    expect(refused.errors.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);

    const forged = catalog(registry, 'not-a-token');
    await forged.ended();
    expect(forged.received).toEqual([]);
    expect(forged.errors[0]!.message).toMatch(/^closed 4403/);
  });

  it('closes an open subscription connection once its token is revoked', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    const live = catalog(registry, token);
    await untilLive(registry, await toolId(registry, 'probe.toggle'), 'probe.toggle', live);
    await mutate(registry, `mutation($input: PrincipalIdInput!) { revokeTokens(input: $input) { userErrors { message } } }`, {
      principalId: client.principalId,
    });
    await live.ended(5_000);
    expect(live.errors[0]!.message).toMatch(/^closed 4401: Unauthorized/);
  });

  it('holds a principal to 20 open connections: one more is closed with 4429, and a freed one can be used again', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    const probe = await toolId(registry, 'probe.toggle');
    const held = Array.from({ length: 20 }, () => catalog(registry, token));
    await untilLive(registry, probe, 'probe.toggle', ...held);

    const extra = catalog(registry, token);
    await extra.ended();
    expect(extra.errors[0]!.message).toMatch(/^closed 4429: Too many subscription connections/);
    // Another principal still connects.
    const other = catalog(registry, await registry.login({ roles: ['viewer'] }));
    await untilLive(registry, probe, 'probe.toggle', other);

    // The slot is free once the server has seen the close.
    await held[0]!.close();
    let again = catalog(registry, token);
    for (let tries = 0; tries < 20 && (await again.ended(250).then(() => true, () => false)); tries += 1) {
      expect(again.errors[0]!.message).toMatch(/^closed 4429/);
      again = catalog(registry, token);
    }
    await untilLive(registry, probe, 'probe.toggle', again);
    expect(held.slice(1).every((sub) => !sub.done)).toBe(true);
  });
});

describe.runIf(SHARED)('across replicas (PostgreSQL and Redis shared)', () => {
  let second: TestRegistry;

  beforeAll(async () => {
    second = await startRegistry({ shareDatabaseWith: registry, env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  });

  afterAll(() => second?.close());

  it('delivers a catalog change made on one replica to a subscriber of the other', async () => {
    const agent = await second.login({ roles: ['agent'] });
    const live = catalog(second, agent);
    // The probe is toggled on the first replica: seeing it proves the path through Redis.
    await untilLive(registry, await toolId(registry, 'probe.toggle'), 'probe.toggle', live);
    const from = live.received.length;
    await register(registry, 'far_away', [manualTool({ name: 'echo' })]);
    const change = await live.waitFor((d) => d.catalogChanged.toolName === 'far_away.echo', { from });
    expect(change.catalogChanged).toMatchObject({ kind: 'ADDED', tool: { status: 'ACTIVE', provider: { name: 'far_away' } } });
  });

  it('follows an execution running on one replica from a subscriber connected to the other', async () => {
    manuals.set(
      '/slow_provider.json',
      manual([
        manualTool({
          name: 'wait',
          inputs: { type: 'object', properties: {} },
          tool_call_template: { call_template_type: 'http', url: `${peerUrl}/slow`, http_method: 'GET' },
        }),
      ]),
    );
    await mutate(
      registry,
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { userErrors { message } } }`,
      { name: 'slow_provider', callTemplate: { call_template_type: 'http', url: `${peerUrl}/slow_provider.json`, http_method: 'GET' } },
    );
    slow = new Promise((resolve) => {
      releaseSlow = resolve;
    });
    const client = await registry.createClient({ roles: ['agent'] });
    const [onFirst, onSecond] = [(await registry.tokenFor(client)).access_token, (await second.tokenFor(client)).access_token];
    const started = await registry.op<ExecuteToolMutation, ExecuteToolMutationVariables>(
      'ExecuteTool',
      { input: { tool: 'slow_provider.wait', arguments: {}, mode: 'ASYNC' } },
      as(onFirst),
    );
    expect(started.errors).toBeUndefined();
    const { id } = started.data!.executeTool;

    const follow = subscribe<FollowExecutionSubscription, FollowExecutionSubscriptionVariables>(second.url, onSecond, 'FollowExecution', { id });
    open.push(follow as LiveSubscription<unknown>);
    await follow.waitFor((d) => d.executionUpdated.execution.status === 'RUNNING');
    releaseSlow();
    await follow.ended();
    expect(follow.errors).toEqual([]);
    const last = follow.received.at(-1)!.executionUpdated.execution;
    expect(last).toMatchObject({ id, status: 'SUCCEEDED', result: { done: true } });
  });
});
