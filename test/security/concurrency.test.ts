import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { BOOTSTRAP, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { HAS_PRIVATE_POSTGRES, HAS_PRIVATE_REDIS, type PrivatePostgres, type PrivateRedis, startPrivatePostgres, startPrivateRedis } from './helpers/servers.js';

// Two registry instances on one PostgreSQL and one Redis, hammered at the same time: quotas hold
// exactly, concurrent retries with one idempotency key call the tool once, and the audit chain that
// both instances append to stays one line (no fork, no broken link, nothing missing). Runs on the
// CI servers when TEST_DATABASE_URL and TEST_REDIS_URL are set, else on private ones.

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const RUNNABLE = SHARED || (HAS_PRIVATE_POSTGRES && HAS_PRIVATE_REDIS);

interface Execution {
  id: string;
  status: string;
  error: { code: string } | null;
}

describe.runIf(RUNNABLE)('two instances sharing PostgreSQL and Redis', () => {
  let pg: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  let first: TestRegistry;
  let second: TestRegistry;
  let peer: Server;
  let hits = 0;
  let client: { principalId: string; clientId: string; clientSecret: string };
  let tokens: [string, string];
  const instances = () => [first, second] as const;

  async function execute(i: number, input: Record<string, unknown>): Promise<Execution> {
    const registry = instances()[i % 2]!;
    const res = await registry.graphql<{ executeTool: Execution }>(
      'mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status error { code } } }',
      { input: { arguments: {}, ...input } },
      { authorization: `Bearer ${tokens[i % 2]}` },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data!.executeTool;
  }

  beforeAll(async () => {
    peer = createServer((_req, res) => {
      hits += 1;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 200);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
    if (!SHARED) [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    const env = { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' };
    first = await startRegistry({ env, databaseServerUrl: pg?.url, redisUrl: redis?.url });
    second = await startRegistry({ env, shareDatabaseWith: first, redisUrl: redis?.url });
    await new ToolService(first.db.fork()).importManual(
      'shared',
      manual([
        manualTool({ name: 'quota', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"ok"' } }),
        manualTool({ name: 'slow', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${url}/slow`, http_method: 'POST' } }),
      ]),
      INLINE_MANUAL,
    );
    client = await first.createClient({ roles: ['agent'] });
    tokens = [(await first.tokenFor(client)).access_token, (await second.tokenFor(client)).access_token];
  }, 120_000);

  afterAll(async () => {
    await second?.close();
    await first?.close();
    await Promise.all([pg?.remove(), redis?.kill()]);
    await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
  });

  it('holds a quota exactly: 100 concurrent calls against 40 a day → exactly 40 run, on both instances', { timeout: 120_000 }, async () => {
    const policy = await first.graphql<{ createPolicy: { policy: { id: string } } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } } }',
      {
        input: {
          name: `quota-${randomUUID().slice(0, 8)}`,
          effect: 'ALLOW',
          priority: 10,
          actions: ['EXECUTE'],
          subjects: { principals: [client.principalId] },
          resources: { tools: ['shared.quota'] },
          limits: { quota: { calls: 40, period: 'DAY' }, rate: { calls: 1000, windowSeconds: 60 } },
        },
      },
      { authorization: `Bearer ${first.adminToken}` },
    );
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => execute(i, { tool: 'shared.quota' })));
    const succeeded = results.filter((r) => r.status === 'SUCCEEDED');
    expect(succeeded).toHaveLength(40);
    expect(results.filter((r) => r.status === 'DENIED' && r.error?.code === 'QUOTA_EXCEEDED')).toHaveLength(60);
    expect(results.filter((r, i) => r.status === 'SUCCEEDED' && i % 2 === 0).length).toBeGreaterThan(0);
    expect(results.filter((r, i) => r.status === 'SUCCEEDED' && i % 2 === 1).length).toBeGreaterThan(0);
    expect(policy.data!.createPolicy.policy.id).toBeTruthy();
  });

  it('calls a tool once for 40 concurrent retries with one idempotency key, split across the instances', { timeout: 60_000 }, async () => {
    const before = hits;
    const key = `retry-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => execute(i, { tool: 'shared.slow', idempotencyKey: key })));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.every((r) => r.status === 'SUCCEEDED')).toBe(true);
    expect(hits - before).toBe(1);
    const audited = await first.db.fork().execute<{ n: number }[]>(`select count(*)::int as n from audit_entry where action = 'tool.execute' and details->>'executionId' = ?`, [results[0]!.id]);
    expect(audited[0]!.n).toBe(1);
  });

  it('keeps the audit chain one line while both instances append to it at once', { timeout: 120_000 }, async () => {
    const em = first.db.fork();
    const before = (await em.execute<{ before: string }[]>('select coalesce(max(seq), 0)::text as before from audit_entry'))[0]!.before;
    const viewer = await second.login({ roles: ['viewer'] });
    const writers: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      writers.push(execute(i, { tool: 'shared.slow' })); // tool.execute
      writers.push(instances()[i % 2]!.tokenFor(BOOTSTRAP)); // token issuance
      writers.push(instances()[(i + 1) % 2]!.graphql('{ auditLog { totalCount } }', {}, { authorization: `Bearer ${viewer}` })); // authorization.denied
    }
    await Promise.all(writers);

    const entries = await em.execute<{ seq: string; prev_hash: string; hash: string; action: string }[]>(
      'select a.seq::text as seq, a.prev_hash, a.hash, a.action from audit_entry a order by a.seq',
    );
    // One line: each entry links to the one before it, no two entries share a predecessor (a fork),
    // and no hash repeats.
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev_hash, `entry ${entries[i]!.seq}`).toBe(entries[i - 1]!.hash);
    expect(new Set(entries.map((e) => e.prev_hash)).size).toBe(entries.length);
    expect(new Set(entries.map((e) => e.hash)).size).toBe(entries.length);
    // Nothing missing: every write of this test has its entry.
    const added = entries.filter((e) => BigInt(e.seq) > BigInt(before));
    const count = (action: string) => added.filter((e) => e.action === action).length;
    expect(count('tool.execute')).toBe(40);
    expect(count('authorization.denied')).toBe(40);
    expect(count('token.issue')).toBeGreaterThanOrEqual(40);
    const verified = await first.graphql<{ verifyAuditLog: { valid: boolean; checked: number } }>('{ verifyAuditLog { valid checked } }', {}, {
      authorization: `Bearer ${first.adminToken}`,
    });
    expect(verified.data!.verifyAuditLog).toEqual({ valid: true, checked: entries.length });
  });
});
