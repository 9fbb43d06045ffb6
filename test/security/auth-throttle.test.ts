import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { HAS_PRIVATE_REDIS, type PrivateRedis, startPrivateRedis } from './helpers/servers.js';

// Failed client authentications at POST /oauth/token are counted per client id and source address,
// per source address, and per client id: over a limit the endpoint answers 429 with Retry-After
// before any secret is hashed, and the audit log gets a bounded number of entries, not one per try.
// Loopback addresses other than 127.0.0.1 stand in for other hosts (Linux routes all of 127/8).

interface TokenAnswer {
  status: number;
  retryAfter: string | undefined;
  body: Record<string, unknown>;
}

/** POSTs a client_credentials grant to `url` from the local address `from`, on a connection of its own. */
function token(url: string, clientId: string, clientSecret: string, from = '127.0.0.1'): Promise<TokenAnswer> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString();
  return new Promise((resolve, reject) => {
    const req = request(`${url}/oauth/token`, { method: 'POST', localAddress: from, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter, body: JSON.parse(text) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** How many audit entries name this client id. */
async function auditEntriesAbout(registry: TestRegistry, clientId: string): Promise<number> {
  const res = await registry.graphql<{ auditLog: { totalCount: number } }>(
    '{ auditLog(first: 1, filter: { targetId: $id }) { totalCount } }'.replace('$id', JSON.stringify(clientId)),
    undefined,
    { authorization: `Bearer ${registry.adminToken}` },
  );
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.auditLog.totalCount;
}

function expectThrottled(answer: TokenAnswer) {
  expect(answer.status).toBe(429);
  expect(answer.body).toMatchObject({ error: 'slow_down' });
  expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
}

describe('throttling of failed client authentication', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({
      env: { REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS: '10', REGISTRY_AUTH_FAILURES_PER_ADDRESS: '50', REGISTRY_AUTH_FAILURES_PER_CLIENT: '100' },
    });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('answers 200 concurrent wrong secrets for the admin with at most 10 401s and 429s with Retry-After, and audits them in a few entries', { timeout: 120_000 }, async () => {
    const before = await auditEntriesAbout(registry, BOOTSTRAP.clientId);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => token(registry.url, BOOTSTRAP.clientId, `wrong-${i}`)));
    const unauthorized = answers.filter((a) => a.status === 401);
    const throttled = answers.filter((a) => a.status === 429);
    expect(unauthorized.length).toBeGreaterThan(0);
    expect(unauthorized.length).toBeLessThanOrEqual(10);
    expect(unauthorized.length + throttled.length).toBe(200);
    for (const answer of throttled) expectThrottled(answer);

    // 200 failures are a handful of entries (the first failure, the refusals summarised with counts), and the chain stays whole.
    const written = (await auditEntriesAbout(registry, BOOTSTRAP.clientId)) - before;
    expect(written).toBeGreaterThanOrEqual(2);
    expect(written).toBeLessThanOrEqual(15);
    const throttleEntries = await registry.graphql<{ auditLog: { edges: { node: { details: { refused?: number } } }[] } }>(
      `{ auditLog(first: 20, filter: { action: "token.throttle", targetId: ${JSON.stringify(BOOTSTRAP.clientId)} }) { edges { node { details } } } }`,
      undefined,
      { authorization: `Bearer ${registry.adminToken}` },
    );
    const refusedCounts = throttleEntries.data!.auditLog.edges.map((e) => e.node.details.refused ?? 0);
    expect(Math.max(...refusedCounts)).toBeGreaterThanOrEqual(64);
    const verified = await registry.graphql<{ verifyAuditLog: { valid: boolean } }>('{ verifyAuditLog { valid } }', undefined, { authorization: `Bearer ${registry.adminToken}` });
    expect(verified.data!.verifyAuditLog.valid).toBe(true);

    // The right secret from the throttled address waits too; from another address it works at once.
    expectThrottled(await token(registry.url, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret));
    expect((await token(registry.url, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret, '127.0.0.2')).status).toBe(200);
  });

  it('limits failures per source address across client ids, and leaves other addresses alone', { timeout: 120_000 }, async () => {
    const from = '127.0.0.3';
    const answers: TokenAnswer[] = [];
    // Sequential and spread over many unknown client ids, so only the per-address limit (50) binds.
    for (let i = 0; i < 55; i += 1) answers.push(await token(registry.url, `unknown-client-${i}`, 'wrong', from));
    expect(answers.slice(0, 50).map((a) => a.status)).toEqual(Array(50).fill(401));
    for (const answer of answers.slice(50)) expectThrottled(answer);

    const client = await registry.createClient({ roles: ['viewer'] });
    expectThrottled(await token(registry.url, client.clientId, client.clientSecret, from));
    expect((await token(registry.url, client.clientId, client.clientSecret, '127.0.0.4')).status).toBe(200);
  });

  it('lets 40 concurrent right secrets of one client from one address all through', { timeout: 120_000 }, async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const answers = await Promise.all(Array.from({ length: 40 }, () => token(registry.url, client.clientId, client.clientSecret, '127.0.0.9')));
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
  });

  it('gives a client id its full allowance back after a successful login', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const from = '127.0.0.5';
    for (let i = 0; i < 9; i += 1) expect((await token(registry.url, client.clientId, 'wrong', from)).status).toBe(401);
    expect((await token(registry.url, client.clientId, client.clientSecret, from)).status).toBe(200);
    for (let i = 0; i < 10; i += 1) expect((await token(registry.url, client.clientId, 'wrong', from)).status).toBe(401);
    expectThrottled(await token(registry.url, client.clientId, 'wrong', from));
  });
});

describe('the per-client-id limit across addresses', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({
      env: { REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS: '3', REGISTRY_AUTH_FAILURES_PER_ADDRESS: '50', REGISTRY_AUTH_FAILURES_PER_CLIENT: '5' },
    });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('refuses a client id tried from many addresses, except from an address it recently logged in from', async () => {
    // startRegistry logged the admin in from 127.0.0.1; a distributed guesser uses other addresses.
    const statuses: number[] = [];
    for (const from of ['127.0.0.2', '127.0.0.3']) {
      for (let i = 0; i < 3; i += 1) statuses.push((await token(registry.url, BOOTSTRAP.clientId, 'wrong', from)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expectThrottled(await token(registry.url, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret, '127.0.0.4'));
    expect((await token(registry.url, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret, '127.0.0.1')).status).toBe(200);
  });
});

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe.runIf(SHARED)('two instances sharing PostgreSQL and Redis', () => {
  let first: TestRegistry;
  let second: TestRegistry;

  beforeAll(async () => {
    const env = { REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS: '10' };
    first = await startRegistry({ env });
    second = await startRegistry({ env, shareDatabaseWith: first });
  }, 120_000);
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('count failures together: 10 failures spread over both, then both refuse', async () => {
    const client = await first.createClient({ roles: ['viewer'] });
    const from = '127.0.0.6';
    for (let i = 0; i < 10; i += 1) {
      expect((await token([first, second][i % 2]!.url, client.clientId, 'wrong', from)).status).toBe(401);
    }
    expectThrottled(await token(first.url, client.clientId, 'wrong', from));
    expectThrottled(await token(second.url, client.clientId, client.clientSecret, from));
  });
});

describe.runIf(HAS_PRIVATE_REDIS)('while Redis is unavailable', () => {
  let redis: PrivateRedis;
  let registry: TestRegistry;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    registry = await startRegistry({ redisUrl: redis.url, env: { REGISTRY_AUTH_FAILURES_PER_CLIENT_ADDRESS: '3' } });
  });
  afterAll(async () => {
    await registry?.close();
    await redis?.kill();
  });

  it('still throttles, counting in this replica, and still lets the right secret in', { timeout: 60_000 }, async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    await redis.kill();
    const from = '127.0.0.10';
    for (let i = 0; i < 3; i += 1) expect((await token(registry.url, client.clientId, 'wrong', from)).status).toBe(401);
    expectThrottled(await token(registry.url, client.clientId, 'wrong', from));
    expect((await token(registry.url, client.clientId, client.clientSecret, '127.0.0.11')).status).toBe(200);
    // Back, so the registry closes its connection cleanly.
    await redis.start();
  });
});
