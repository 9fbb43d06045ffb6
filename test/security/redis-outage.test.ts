import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Principal } from '../../src/modules/principal/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { HAS_PRIVATE_REDIS, type PrivateRedis, startPrivateRedis } from './helpers/servers.js';

// Redis (a private server, killed and started again) holds the rate limits, quotas and query-cost
// budgets. While it is gone, calls that a limit binds are refused (LIMITER_UNAVAILABLE), never run
// unlimited; query budgets fall back to this process's memory, still enforced, and the registry
// says so in its log; when Redis is back, both work as before without a restart.

const EXECUTE = 'mutation($tool: String!) { executeTool(input: { tool: $tool, arguments: {} }) { id status error { code message } } }';

describe.runIf(HAS_PRIVATE_REDIS)('Redis unavailable', () => {
  let redis: PrivateRedis;
  let registry: TestRegistry;
  let agent: { id: string; token: string };
  let logged = '';

  const execute = async (tool: string) => {
    const res = await registry.graphql<{ executeTool: { id: string; status: string; error: { code: string; message: string } | null } }>(EXECUTE, { tool }, { authorization: `Bearer ${agent.token}` });
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data!.executeTool;
  };

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const logStream = new PassThrough();
    logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    registry = await startRegistry({ redisUrl: redis.url, logStream, env: { LOG_LEVEL: 'warn' } });
    await new ToolService(registry.db.fork()).importManual(
      'redis',
      manual([
        manualTool({ name: 'limited', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"limited"' } }),
        manualTool({ name: 'free', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"free"' } }),
      ]),
      INLINE_MANUAL,
    );
    const client = await registry.createClient({ roles: ['agent'] });
    agent = { id: client.principalId, token: (await registry.tokenFor(client)).access_token };
    const created = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { policy { id } userErrors { message } } }',
      {
        input: {
          name: 'limited-calls',
          effect: 'ALLOW',
          priority: 10,
          actions: ['EXECUTE'],
          subjects: { principals: [agent.id] },
          resources: { tools: ['redis.limited'] },
          limits: { rate: { calls: 1000, windowSeconds: 60 }, quota: { calls: 1000, period: 'DAY' } },
        },
      },
      { authorization: `Bearer ${registry.adminToken}` },
    );
    expect(created.data!.createPolicy.userErrors).toEqual([]);
  });

  afterAll(async () => {
    await registry?.close();
    await redis?.kill();
  });

  it('refuses limited calls with LIMITER_UNAVAILABLE while it is gone, keeps budgets enforced, and recovers without a restart', { timeout: 60_000 }, async () => {
    expect(await execute('redis.limited')).toMatchObject({ status: 'SUCCEEDED' });

    await redis.kill();
    // Fail closed: a call a limit binds is refused, stored and audited; it is never run unlimited.
    const refused = await execute('redis.limited');
    expect(refused).toMatchObject({ status: 'DENIED', error: { code: 'LIMITER_UNAVAILABLE' } });
    const again = await execute('redis.limited');
    expect(again.error?.code).toBe('LIMITER_UNAVAILABLE');
    // Through the UTCP endpoint the same refusal is 503 (retry later), not the 403 of a policy denial.
    const viaUtcp = await fetch(`${registry.url}/tools/redis.limited/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.token}` },
      body: '{}',
    });
    expect(viaUtcp.status).toBe(503);
    expect(await viaUtcp.json()).toMatchObject({ error: { code: 'LIMITER_UNAVAILABLE' } });
    // A call no limit binds needs no counter, and runs.
    expect(await execute('redis.free')).toMatchObject({ status: 'SUCCEEDED' });

    // Query budgets degrade to this process's memory: still charged, still enforced, and logged.
    await registry.db.fork().nativeUpdate(Principal, { id: agent.id }, { costBudgetPerHour: 25 });
    const costs: number[] = [];
    let limited: { code?: string; resetAt?: unknown } | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await registry.graphql<{ me: unknown }>('{ me { scopes } }', {}, { authorization: `Bearer ${agent.token}` });
      expect(res.status).toBeLessThan(500);
      const error = res.errors?.[0]?.extensions;
      if (error?.code === 'RATE_LIMITED') limited = error;
      else costs.push((res.extensions?.cost as { remaining: number }).remaining);
    }
    expect(limited).toMatchObject({ code: 'RATE_LIMITED', limit: 25 });
    expect(costs.length).toBeGreaterThan(0);
    expect(costs.length).toBeLessThanOrEqual(25);
    expect(logged).toMatch(/redis unavailable/);

    await redis.start();
    await expect.poll(async () => (await execute('redis.limited')).status, { timeout: 20_000, interval: 250 }).toBe('SUCCEEDED');

    const audit = await registry.db.fork().execute<{ code: string }[]>(
      `select details->>'code' as code from audit_entry where action = 'tool.execute' and details->>'executionId' in (?, ?)`,
      [refused.id, again.id],
    );
    expect(audit.map((a) => a.code)).toEqual(['LIMITER_UNAVAILABLE', 'LIMITER_UNAVAILABLE']);
  });
});
