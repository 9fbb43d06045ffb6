import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Principal, PrincipalStatus } from '../../src/modules/principal/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

// Replicas of one registry hold verified tokens, token holders and policies in memory (no SQL on a
// warm request). Revocation must still reach the replica that holds them: as soon as the announcement
// arrives while the event bus is up, by reading the database while it is cut, within REGISTRY_AUTH_CACHE_TTL_SECONDS when
// an announcement is lost.
const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const ME = '{ me { principal { id } } }';
const REVOKE = 'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { userErrors { message } } }';
const as = (token: string) => ({ authorization: `Bearer ${token}` });

/** `me` on `replica` with `token`: the HTTP status, the error code and the statements it ran. */
async function me(replica: TestRegistry, token: string) {
  replica.resetQueryLog();
  const res = await replica.graphql<{ me: { principal: { id: string } } }>(ME, undefined, as(token));
  return { status: res.status, code: res.errors?.[0]?.extensions?.code, statements: replica.queries.filter((q) => /^\s*select/i.test(q)) };
}

/**
 * Expects `replica` to refuse `token` as soon as the announcement reaches it: a Redis pub/sub message
 * on its way while the announcing replica answers (Redis may write it a moment after that answer on a
 * busy machine), so within a second, far inside the replica's TTL of 300 s, which cannot explain it.
 */
async function refusedSoon(replica: TestRegistry, token: string): Promise<void> {
  await expect.poll(async () => (await me(replica, token)).status, { timeout: 1000, interval: 10 }).toBe(401);
  expect(await me(replica, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
}

/** Uses `token` on `replica` until its holder is cached there: `me` then reads only the principal `me` shows. */
async function warm(replica: TestRegistry, token: string): Promise<void> {
  expect((await me(replica, token)).status).toBe(200);
  // `me` itself reads the principal; authentication reads nothing once the replica listens for changes.
  await expect.poll(async () => (await me(replica, token)).statements.length).toBe(1);
}

describe.runIf(SHARED)('revocation reaches the replica that cached the token', () => {
  let a: TestRegistry;
  let b: TestRegistry;
  beforeAll(async () => {
    a = await startRegistry();
    b = await startRegistry({ shareDatabaseWith: a, env: { REGISTRY_AUTH_CACHE_TTL_SECONDS: '300' } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('refuses a token on B in the next request after its tokens were revoked on A', async () => {
    const client = await a.createClient({ roles: ['viewer'] });
    const token = (await b.tokenFor(client)).access_token;
    await warm(b, token);
    const revoked = await a.graphql<{ revokeTokens: { userErrors: unknown[] } }>(REVOKE, { id: client.principalId }, as(a.adminToken));
    expect(revoked.data!.revokeTokens.userErrors).toEqual([]);
    await refusedSoon(b, token);
  });

  it('refuses a token on B in the next request after its principal was disabled on A, and accepts it once enabled again', async () => {
    const client = await a.createClient({ roles: ['viewer'] });
    const token = (await b.tokenFor(client)).access_token;
    await warm(b, token);
    const status = (value: string) =>
      a.graphql<{ setPrincipalStatus: { principal: { status: string }; userErrors: unknown[] } }>(
        'mutation($id: ID!, $status: PrincipalStatus!) { setPrincipalStatus(input: { principalId: $id, status: $status }) { principal { status } userErrors { message } } }',
        { id: client.principalId, status: value },
        as(a.adminToken),
      );
    expect((await status('DISABLED')).data!.setPrincipalStatus).toEqual({ principal: { status: 'DISABLED' }, userErrors: [] });
    await refusedSoon(b, token);
    expect((await b.oauth({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })).status).toBe(401);
    await status('ACTIVE');
    await expect.poll(async () => (await me(b, token)).status, { timeout: 1000, interval: 10 }).toBe(200);
  });

  it('refuses a token on B in the next request after its family was revoked on A (refresh-token reuse)', async () => {
    const client = await a.createClient({ roles: ['viewer'] });
    const issued = await b.tokenFor(client);
    await warm(b, issued.access_token);
    const refresh = { grant_type: 'refresh_token', client_id: client.clientId, client_secret: client.clientSecret, refresh_token: issued.refresh_token };
    expect((await a.oauth(refresh)).status).toBe(200);
    // The same refresh token again: reuse, which revokes the whole family.
    expect((await a.oauth(refresh)).status).toBe(400);
    await refusedSoon(b, issued.access_token);
  });

  it('refuses a cached token while the replica is cut off from the bus, by reading the database', async () => {
    const flaky = await startTcpProxy(process.env.TEST_REDIS_URL!);
    const c = await startRegistry({ shareDatabaseWith: a, redisUrl: flaky.url });
    try {
      const client = await a.createClient({ roles: ['viewer'] });
      const token = (await c.tokenFor(client)).access_token;
      await warm(c, token);
      flaky.down();
      await a.graphql(REVOKE, { id: client.principalId }, as(a.adminToken));
      // No announcement can reach C: it decides from the database.
      expect(await me(c, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      flaky.up();
      expect(await me(c, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    } finally {
      await c.close();
      await flaky.close();
    }
  });

  it('refuses a disabled principal within REGISTRY_AUTH_CACHE_TTL_SECONDS when no announcement comes', async () => {
    const d = await startRegistry({ shareDatabaseWith: a, env: { REGISTRY_AUTH_CACHE_TTL_SECONDS: '1' } });
    try {
      const client = await a.createClient({ roles: ['viewer'] });
      const token = (await d.tokenFor(client)).access_token;
      await warm(d, token);
      // Changed in the database behind every replica's back: only the TTL ends what D holds.
      await a.db.fork().nativeUpdate(Principal, { id: client.principalId }, { status: PrincipalStatus.DISABLED });
      await expect.poll(async () => (await me(d, token)).status, { timeout: 5_000, interval: 100 }).toBe(401);
    } finally {
      await d.close();
    }
  });
});
