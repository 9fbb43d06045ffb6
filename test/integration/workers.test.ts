import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { manual, manualTool } from '../helpers/factories.js';
import { isRunning, type RegistryProcess, run, spawnRegistry } from '../helpers/process.js';
import { subscribe } from '../helpers/subscriptions.js';

// REGISTRY_WORKERS: the real built server as a primary and its workers on one port, sharing one
// PostgreSQL database and one Redis. Every request below opens its own connection, which the
// primary hands to the workers in turn; `x-registry-worker` names the worker that answered.

const MAIN = 'dist/src/main.js';
const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const ADMIN = { clientId: 'workers-admin', clientSecret: randomBytes(24).toString('base64url') };

interface Answer<T = unknown> {
  status: number;
  worker: string | undefined;
  body: T;
}

/** One request on a connection of its own (no keep-alive), so the primary picks a worker for it. */
function call<T = unknown>(url: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        headers: { connection: 'close', ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const worker = res.headers['x-registry-worker'];
          resolve({ status: res.statusCode!, worker: typeof worker === 'string' ? worker : undefined, body: (text ? JSON.parse(text) : null) as T });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface GraphQLBody<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

function graphql<T>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer<GraphQLBody<T>>> {
  return call<GraphQLBody<T>>(url, 'POST', '/graphql', JSON.stringify({ query, variables }), {
    'content-type': 'application/json',
    authorization: `Bearer ${token}`,
  });
}

/** Repeats `send` (each time on a new connection) until worker `worker` answered it; bounded. */
async function onWorker<T>(worker: string, send: () => Promise<Answer<T>>): Promise<Answer<T>> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const answer = await send();
    if (answer.worker === worker) return answer;
  }
  throw new Error(`worker ${worker} answered none of 20 requests`);
}

/**
 * Sends `send` (a request not to be repeated) to worker `worker` of two: the primary hands new
 * connections to the workers in turn, so after one answered by the other worker, the next goes to
 * this one. The answer's header confirms it.
 */
async function nextOn<T>(url: string, worker: string, send: () => Promise<Answer<T>>): Promise<Answer<T>> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const probe = await call(url, 'GET', '/healthz');
    if (probe.worker === worker) continue;
    const answer = await send();
    expect(answer.worker).toBe(worker);
    return answer;
  }
  throw new Error(`worker ${worker} answered none of 20 requests`);
}

async function tokenFor(url: string, clientId: string, clientSecret: string): Promise<string> {
  const res = await call<{ access_token: string }>(url, 'POST', '/oauth/token', new URLSearchParams({ grant_type: 'client_credentials' }).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
  });
  expect(res.status).toBe(200);
  return res.body.access_token;
}

/** The environment of a PostgreSQL + Redis deployment on `database`, with two workers. */
async function serverEnv(database: TestDatabase): Promise<Record<string, string>> {
  return {
    DATABASE_URL: (database.config as { url: string }).url,
    REDIS_URL: process.env.TEST_REDIS_URL!,
    REGISTRY_WORKERS: '2',
    REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
    REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId,
    REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret,
    // Only an invalidation can make a worker forget a cached catalog answer within the test.
    REGISTRY_CATALOG_CACHE_TTL_SECONDS: '3600',
  };
}

/** The primary's log lines (JSON) whose message is `msg`. */
function primaryLines(registry: RegistryProcess, msg: string): Record<string, unknown>[] {
  return registry
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.role === 'primary' && line.msg === msg);
}

describe('REGISTRY_WORKERS where workers could not share state', () => {
  it('refuses more than one worker on the embedded database, which one process owns', async () => {
    const result = await run(process.execPath, [MAIN], { REGISTRY_WORKERS: '2' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('REGISTRY_WORKERS: more than 1 needs DATABASE_URL');
    expect(result.output).not.toContain('ready at');
  });

  it('refuses more than one worker without Redis, where each would keep its own limits and invalidations', async () => {
    const result = await run(process.execPath, [MAIN], {
      REGISTRY_WORKERS: '2',
      // Never reached: the configuration is refused first.
      DATABASE_URL: 'postgres://registry@127.0.0.1:1/registry',
      REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
      REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain('REGISTRY_WORKERS: more than 1 needs REDIS_URL');
    expect(result.output).not.toContain('needs DATABASE_URL');
  });
});

describe.runIf(SHARED)('REGISTRY_WORKERS=2 on PostgreSQL and Redis', () => {
  let database: TestDatabase;
  let registry: RegistryProcess;
  let adminToken: string;
  const provider = `workers_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    // The primary serves every worker's metrics on a port of its own.
    registry = await spawnRegistry(process.execPath, [MAIN], { ...(await serverEnv(database)), REGISTRY_METRICS_PORT: '0' });
    adminToken = await tokenFor(registry.url, ADMIN.clientId, ADMIN.clientSecret);
    const tools = manual(
      ['limited', 'kept', 'dropped'].map((name) =>
        manualTool({ name, inputs: { type: 'object', properties: {} }, tool_call_template: { call_template_type: 'text', content: '{"ok":true}' } }),
      ),
    );
    const registered = await graphql<{ registerProvider: { userErrors: unknown[] } }>(
      registry.url,
      adminToken,
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { userErrors { message } } }`,
      { input: { name: provider, callTemplate: { call_template_type: 'text', content: JSON.stringify(tools) } } },
    );
    expect(registered.body.errors).toBeUndefined();
    expect(registered.body.data!.registerProvider.userErrors).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    const group = registry?.child.pid;
    if (group && isRunning(-group)) process.kill(-group, 'SIGKILL');
    await database?.drop();
  });

  it('serves the port from both workers, /healthz and /readyz each answering for its own worker, after one start-up of the primary', async () => {
    const health = await Promise.all([1, 2, 3, 4].map(() => call<{ status: string }>(registry.url, 'GET', '/healthz')));
    const ready = await Promise.all([1, 2, 3, 4].map(() => call<{ status: string; database: string }>(registry.url, 'GET', '/readyz')));
    for (const answer of health) expect(answer).toMatchObject({ status: 200, body: { status: 'ok' } });
    for (const answer of ready) expect(answer).toMatchObject({ status: 200, body: { status: 'ready', database: 'postgresql' } });
    expect(new Set([...health, ...ready].map((a) => a.worker))).toEqual(new Set(['1', '2']));

    // The primary migrated, ensured the admin and forked; the workers only served.
    const lines = registry.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const admins = lines.filter((line) => line.msg === 'bootstrap admin ready');
    expect(admins).toHaveLength(1);
    expect(admins[0]).toMatchObject({ role: 'primary' });
    expect(primaryLines(registry, 'Tool Registry ready at ' + registry.url + '/graphql')).toHaveLength(1);
    expect(lines.filter((line) => line.msg === 'worker listening').map((line) => [line.role, line.worker])).toEqual(
      expect.arrayContaining([['worker', 1], ['worker', 2]]),
    );
    // Every request's log line names the worker that served it.
    expect(lines.filter((line) => line.msg === 'request completed').every((line) => line.role === 'worker' && typeof line.worker === 'number')).toBe(true);
  });

  it('holds a policy’s rate limit across the workers: four calls allowed in all, whichever worker takes them', async () => {
    const created = await graphql<{ createPrincipal: { principal: { id: string; clientId: string }; clientSecret: string } }>(
      registry.url,
      adminToken,
      `mutation($input: CreatePrincipalInput!) { createPrincipal(input: $input) { principal { id clientId } clientSecret userErrors { message } } }`,
      { input: { kind: 'AGENT', name: 'rate-limited agent', roles: ['agent'] } },
    );
    const agent = created.body.data!.createPrincipal;
    const token = await tokenFor(registry.url, agent.principal.clientId, agent.clientSecret);
    const policy = await graphql<{ createPolicy: { policy: { id: string }; userErrors: unknown[] } }>(
      registry.url,
      adminToken,
      `mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }`,
      {
        input: {
          name: `workers-rate-${randomUUID().slice(0, 8)}`,
          effect: 'ALLOW',
          priority: 10,
          subjects: { principals: [agent.principal.id] },
          resources: { tools: [`${provider}.limited`] },
          actions: ['EXECUTE'],
          limits: { rate: { calls: 4, windowSeconds: 3600 } },
        },
      },
    );
    expect(policy.body.data!.createPolicy.userErrors).toEqual([]);

    const calls: Answer<GraphQLBody<{ executeTool: { status: string; error: { code: string } | null } }>>[] = [];
    for (let i = 0; i < 8; i += 1) {
      calls.push(
        await graphql(registry.url, token, `mutation($tool: String!) { executeTool(input: { tool: $tool, arguments: {} }) { status error { code } } }`, {
          tool: `${provider}.limited`,
        }),
      );
    }
    for (const answer of calls) expect(answer.body.errors).toBeUndefined();
    const outcomes = calls.map((answer) => answer.body.data!.executeTool);
    expect(outcomes.filter((o) => o.status === 'SUCCEEDED')).toHaveLength(4);
    expect(outcomes.filter((o) => o.status === 'DENIED').every((o) => o.error?.code === 'RATE_LIMITED')).toBe(true);
    expect(outcomes.filter((o) => o.status === 'DENIED')).toHaveLength(4);
    // Both workers took calls, and both allowed some: each alone would have allowed four.
    const succeededOn = new Set(calls.filter((_, i) => outcomes[i]!.status === 'SUCCEEDED').map((answer) => answer.worker));
    expect(succeededOn).toEqual(new Set(['1', '2']));
  });

  it('drops a tool disabled through one worker from the catalog every worker serves, cached answers included', async () => {
    const token = await tokenFor(registry.url, ADMIN.clientId, ADMIN.clientSecret);
    const LIST = `query($provider: String!) { tools(first: 10, filter: { provider: $provider, enabled: true }) { edges { node { id name } } } }`;
    const names = (answer: Answer<GraphQLBody<{ tools: { edges: { node: { id: string; name: string } }[] } }>>) =>
      answer.body.data!.tools.edges.map((e) => e.node.name).sort();
    const list = () => graphql<{ tools: { edges: { node: { id: string; name: string } }[] } }>(registry.url, token, LIST, { provider });
    // Each worker answers (and caches) the listing twice.
    for (const worker of ['1', '2', '1', '2']) {
      expect(names(await onWorker(worker, list))).toEqual([`${provider}.dropped`, `${provider}.kept`, `${provider}.limited`]);
    }
    const dropped = (await list()).body.data!.tools.edges.find((e) => e.node.name === `${provider}.dropped`)!.node.id;

    const disabled = await nextOn(registry.url, '1', () =>
      graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
        registry.url,
        adminToken,
        `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
        { input: { toolId: dropped, enabled: false } },
      ),
    );
    expect(disabled.body.data!.setToolEnabled.userErrors).toEqual([]);

    // The other worker hears of it over Redis; bounded wait, far below the cache's hour.
    let onOther = await onWorker('2', list);
    for (let i = 0; i < 50 && names(onOther).includes(`${provider}.dropped`); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      onOther = await onWorker('2', list);
    }
    expect(names(onOther)).toEqual([`${provider}.kept`, `${provider}.limited`]);
    expect(names(await onWorker('1', list))).toEqual([`${provider}.kept`, `${provider}.limited`]);
  });

  it('delivers catalog changes made through either worker to a subscriber connected to one of them', { timeout: 60_000 }, async () => {
    const name = `${provider}.kept`;
    const found = await graphql<{ tool: { id: string } }>(registry.url, adminToken, 'query($name: String!) { tool(name: $name) { id } }', { name });
    const toolId = found.body.data!.tool.id;
    const setEnabled = (enabled: boolean) =>
      graphql<{ setToolEnabled: { userErrors: unknown[] } }>(
        registry.url,
        adminToken,
        `mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { message } } }`,
        { input: { toolId, enabled } },
      );
    const live = subscribe<{ catalogChanged: { toolName: string; tool: { enabled: boolean } | null } }>(registry.url, adminToken, 'CatalogChanged');
    try {
      // Live once it hears a change made after it connected (through whichever worker).
      let heard = false;
      for (let attempt = 0; attempt < 40 && !heard; attempt += 1) {
        const from = live.received.length;
        await setEnabled(true);
        heard = await live.waitFor((d) => d.catalogChanged.toolName === name, { from, timeoutMs: 500 }).then(() => true, () => false);
      }
      expect(heard).toBe(true);
      // One change through each worker: whichever the subscriber is on, one of them reaches it through Redis.
      for (const [worker, enabled] of [['1', false], ['2', true]] as const) {
        const from = live.received.length;
        const changed = await nextOn(registry.url, worker, () => setEnabled(enabled));
        expect(changed.body.data!.setToolEnabled.userErrors).toEqual([]);
        const change = await live.waitFor((d) => d.catalogChanged.toolName === name && d.catalogChanged.tool?.enabled === enabled, { from, timeoutMs: 15_000 });
        expect(change.catalogChanged.tool).toMatchObject({ enabled });
      }
    } finally {
      await live.close();
    }
  });

  it('scrapes every worker’s numbers at once through the primary’s REGISTRY_METRICS_PORT', async () => {
    const url = /"role":"primary".*"msg":"metrics at (http:[^"]+)"/.exec(registry.output())?.[1] as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const healthz = async () => {
      const body = await (await fetch(url)).text();
      return body
        .split('\n')
        .filter((line) => line.startsWith('registry_http_requests_total{') && line.includes('route="/healthz"'))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    };
    const before = await healthz();
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => call(registry.url, 'GET', '/healthz')));
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set(['1', '2']));
    expect((await healthz()) - before).toBe(6);
  });

  it('replaces a killed worker and keeps serving the port meanwhile', { timeout: 90_000 }, async () => {
    const first = primaryLines(registry, 'worker ready').find((line) => line.worker === 1)!;
    process.kill(first.workerPid as number, 'SIGKILL');
    await expect.poll(() => primaryLines(registry, 'worker died; replacing it').map((line) => line.worker), { timeout: 15_000 }).toEqual([1]);

    // The other worker serves every request while the replacement starts.
    for (let i = 0; i < 4; i += 1) expect(await call(registry.url, 'GET', '/readyz')).toMatchObject({ status: 200, worker: '2' });
    await expect.poll(() => primaryLines(registry, 'worker ready').map((line) => line.worker), { timeout: 60_000, interval: 200 }).toContain(3);
    const answers = await Promise.all([1, 2, 3, 4].map(() => call(registry.url, 'GET', '/readyz')));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(new Set(answers.map((answer) => answer.worker))).toEqual(new Set(['2', '3']));
    // The new worker serves the same data and honours the same tokens.
    const me = await onWorker('3', () => graphql<{ me: { scopes: string[] } }>(registry.url, adminToken, '{ me { scopes } }'));
    expect(me.body.data!.me.scopes).toContain('tools:read');
  });

  it('on SIGTERM, finishes a request in flight on a worker, then every worker drains and the primary exits 0', { timeout: 60_000 }, async () => {
    const { port } = new URL(registry.url);
    const body = JSON.stringify({ query: '{ tools(first: 2) { edges { node { name } } } }' });
    const half = Math.floor(body.length / 2);
    let sent!: () => void;
    const headersSent = new Promise<void>((resolve) => (sent = resolve));
    const response = new Promise<{ status: number; worker: unknown }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/graphql',
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${adminToken}` },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, worker: res.headers['x-registry-worker'] }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half), () => sent());
      void headersSent.then(async () => {
        await new Promise((r) => setTimeout(r, 300));
        registry.child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 500));
        req.end(body.slice(half));
      });
    });
    expect(await response).toMatchObject({ status: 200 });
    expect(await registry.exited).toBe(0);
    await expect(call(registry.url, 'GET', '/healthz')).rejects.toThrow();
    const lines = registry.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line.msg === 'stopped' && line.role === 'worker').map((line) => line.worker).sort()).toEqual([2, 3]);
    expect(primaryLines(registry, 'all workers stopped')).toMatchObject([{ exitCode: 0 }]);
  });
});

describe.runIf(SHARED)('REGISTRY_WORKERS=2 when the workers cannot start', () => {
  let database: TestDatabase;
  let taken: Server;
  beforeAll(async () => {
    database = await createTestDatabase();
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => taken?.close(resolve));
    await database?.drop();
  });

  it('gives up and exits non-zero when workers keep failing at start (here: the port is taken)', { timeout: 90_000 }, async () => {
    const env = { ...(await serverEnv(database)), PORT: String((taken.address() as AddressInfo).port) };
    const result = await run(process.execPath, [MAIN], env);
    expect(result.code).toBe(1);
    expect(result.output).toContain('workers keep failing at start; giving up');
    expect(result.output).not.toContain('ready at');
  });
});
