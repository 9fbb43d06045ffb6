import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// A policy's rate limit of N calls per W seconds holds for EVERY span of W seconds, not per fixed
// window (which lets up to 2N through across a window edge). With PostgreSQL and Redis, two
// replicas share the limit through Redis; embedded, one registry holds it in memory.

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const LIMIT = 5;
const WINDOW_SECONDS = 3;
const WINDOW_MS = WINDOW_SECONDS * 1000;
const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe(`a rate limit of ${LIMIT} calls per ${WINDOW_SECONDS} s${SHARED ? ', two replicas on one PostgreSQL and Redis' : ', embedded'}`, () => {
  let registries: TestRegistry[] = [];
  let tokens: string[] = [];
  let tool: string;

  beforeAll(async () => {
    const first = await startRegistry();
    registries = SHARED ? [first, await startRegistry({ shareDatabaseWith: first })] : [first];
    const provider = `window_${randomUUID().slice(0, 8)}`;
    tool = `${provider}.call`;
    await new ToolService(first.db.fork()).importManual(
      provider,
      manual([manualTool({ name: 'call', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"ok"' } })]),
      INLINE_MANUAL,
    );
    const client = await first.createClient({ roles: ['agent'] });
    tokens = await Promise.all(registries.map(async (r) => (await r.tokenFor(client)).access_token));
    const created = await first.graphql<{ createPolicy: { userErrors: unknown[] } }>(
      'mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }',
      {
        input: {
          name: `window-${provider}`,
          effect: 'ALLOW',
          priority: 10,
          subjects: { principals: [client.principalId] },
          resources: { tools: [tool] },
          actions: ['EXECUTE'],
          limits: { rate: { calls: LIMIT, windowSeconds: WINDOW_SECONDS } },
        },
      },
      { authorization: `Bearer ${first.adminToken}` },
    );
    expect(created.data?.createPolicy.userErrors).toEqual([]);
  });

  afterAll(async () => {
    for (const registry of [...registries].reverse()) await registry.close();
  });

  interface Call {
    sent: number;
    received: number;
    status: number;
    retryAfter: string | null;
    code?: string;
  }

  /** One call through `POST /tools/{name}/call`, on replica `i % replicas`, with its send and receive times. */
  async function call(i: number): Promise<Call> {
    const registry = registries[i % registries.length]!;
    const sent = Date.now();
    const response = await fetch(`${registry.url}/tools/${tool}/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % registries.length]}` },
      body: '{}',
    });
    const text = await response.text();
    const body = (response.status === 200 ? {} : JSON.parse(text)) as { error?: { code: string } };
    return { sent, received: Date.now(), status: response.status, retryAfter: response.headers.get('retry-after'), code: body.error?.code };
  }

  it('admits at most the limit in every span of the window, across the window edges, and says when to retry', { timeout: 60_000 }, async () => {
    // One call opens a window (a fixed window would start when it was admitted, by the time it was
    // answered); a burst of twice the limit follows well before where that window would end, another
    // right after, then more, so that spans over every kind of edge are exercised.
    const calls: Call[] = [await call(0)];
    const start = calls[0]!.received;
    let n = 1;
    for (const at of [0.6, 1.05, 1.6, 2.2]) {
      await sleepUntil(start + at * WINDOW_MS);
      calls.push(...(await Promise.all(Array.from({ length: 2 * LIMIT }, () => call(n++)))));
    }

    const admitted = calls.filter((c) => c.status === 200).sort((a, b) => a.sent - b.sent);
    const refused = calls.filter((c) => c.status !== 200);
    expect(admitted.length).toBeGreaterThan(LIMIT);
    expect(refused.length).toBeGreaterThan(0);

    // Every span [s, s + W): the calls surely admitted inside it (sent at or after s, answered before
    // s + W) number at most the limit. Spans start at each send time (where a count can rise).
    for (const first of calls) {
      const inside = admitted.filter((c) => c.sent >= first.sent && c.received < first.sent + WINDOW_MS);
      expect(inside.length, `calls admitted in the ${WINDOW_SECONDS} s from +${first.sent - start} ms`).toBeLessThanOrEqual(LIMIT);
    }

    // Each refusal is RATE_LIMITED (429) and says when to retry, within the window.
    for (const refusal of refused) {
      expect(refusal).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(Number(refusal.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(refusal.retryAfter)).toBeLessThanOrEqual(WINDOW_SECONDS + 1);
    }

    // A refused caller that waits as long as it was told gets through.
    const last = await call(n++);
    if (last.status !== 200) {
      await sleepUntil(Date.now() + Number(last.retryAfter) * 1000);
      expect((await call(n++)).status).toBe(200);
    }
    if (SHARED) {
      // Both replicas admitted and refused: the limit is one, shared.
      const byReplica = (status: number) => new Set(calls.map((c, i) => (c.status === status ? i % 2 : -1)).filter((r) => r >= 0)).size;
      expect(byReplica(200)).toBe(2);
      expect(byReplica(429)).toBe(2);
    }
  });
});
