import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureOf, SIGNATURE_HEADER } from '../../src/modules/alert/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type LiveSubscription, subscribe } from '../helpers/subscriptions.js';

/**
 * Scripted abusive sequences through the public surface, each by its own principal (or address), on
 * one registry whose alerts go to a webhook receiver that is down at first. The quiet control
 * sequence raises nothing.
 */

const SECRET = 'whsec-test-0123456789abcdef0123456789abcdef';
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const TOOLS = 50;

let registry: TestRegistry;
/**
 * The monitor's clock, standing still in the middle of every rule's window unless a test moves it,
 * so that no burst is split by a window edge.
 */
const MIDDAY = Date.UTC(2026, 0, 7, 12, 30);
let fakeNow = MIDDAY;
let receiverPort: number;
let receiver: Server | undefined;
/** Deliveries the receiver accepted: the alert id and whether the signature verified. */
const delivered: { id: string; signed: boolean; body: Record<string, unknown> }[] = [];
let auditReader: string;
let feed: LiveSubscription<{ securityAlertRaised: { id: string; rule: string; subject: string } }>;

interface Alert {
  id: string;
  rule: string;
  subject: string;
  principalId: string | null;
  count: number;
  threshold: number;
  windowSeconds: number;
  details: Record<string, unknown>;
}

/** The rate rules' baselines as the registry starts with them. */
const CALL_RATE_BASELINE = { baselineMultiple: 5, baselineFloor: 120, baselineMinWindows: 10 };
const DENIAL_RATE_BASELINE = { baselineMultiple: 5, baselineFloor: 10, baselineMinWindows: 10 };

/** Changes a rule as an admin would. */
async function tune(input: Record<string, unknown>): Promise<void> {
  const res = await registry.graphql<{ updateAlertRule: { userErrors: unknown[] } }>(
    `mutation($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { userErrors { code } } }`,
    { input },
    { authorization: `Bearer ${registry.adminToken}` },
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.updateAlertRule.userErrors).toEqual([]);
}

const ALERTS = `query($filter: SecurityAlertFilter, $first: Int) {
  securityAlerts(first: $first, filter: $filter) { totalCount edges { node { id rule subject principalId count threshold windowSeconds details } } }
}`;

async function alerts(filter: Record<string, unknown> = {}): Promise<Alert[]> {
  const res = await registry.graphql<{ securityAlerts: { edges: { node: Alert }[] } }>(ALERTS, { filter, first: 100 }, { authorization: `Bearer ${auditReader}` });
  expect(res.errors).toBeUndefined();
  return res.data!.securityAlerts.edges.map((e) => e.node);
}

/** Polls the alerts until `predicate` holds for them (the monitor evaluates shortly after the answers). */
async function alertsWhen(filter: Record<string, unknown>, predicate: (list: Alert[]) => boolean): Promise<Alert[]> {
  for (let i = 0; i < 200; i += 1) {
    const list = await alerts(filter);
    if (predicate(list)) return list;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`alerts never matched: ${JSON.stringify(await alerts(filter))}`);
}

const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status error { code } } }`;

async function call(token: string, tool: string, args: Record<string, unknown> = {}) {
  const res = await registry.graphql<{ executeTool: { status: string } }>(EXECUTE, { input: { tool, arguments: args } }, { authorization: `Bearer ${token}` });
  expect(res.errors).toBeUndefined();
  return res.data!.executeTool;
}

async function agent(): Promise<{ token: string; principalId: string }> {
  const client = await registry.createClient({ roles: ['agent'] });
  return { token: (await registry.tokenFor(client)).access_token, principalId: client.principalId };
}

/**
 * Raises a sentinel alert (a secret-shaped argument) and waits until it is stored: the monitor
 * evaluates events in order, so every event before it has been judged. Returns the sentinel's principal.
 */
async function afterASentinel(): Promise<string> {
  const sentinel = await agent();
  await call(sentinel.token, 'fleet.tool_0', { key: AWS_KEY });
  await alertsWhen({ principal: sentinel.principalId }, (l) => l.length > 0);
  return sentinel.principalId;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** The receiver a security team would run: checks the signature and its age before trusting the body. */
function startReceiver(): Promise<void> {
  receiver = createServer((request, response) => {
    void readBody(request).then((body) => {
      const header = String(request.headers[SIGNATURE_HEADER] ?? '');
      const t = Number(/t=(\d+)/.exec(header)?.[1]);
      const expected = Buffer.from(signatureOf(SECRET, t, body));
      const given = Buffer.from(header);
      const fresh = Math.abs(Date.now() / 1000 - t) < 300;
      const signed = fresh && expected.length === given.length && timingSafeEqual(expected, given);
      const parsed = JSON.parse(body) as { alert: { id: string } };
      delivered.push({ id: parsed.alert.id, signed, body: parsed });
      response.writeHead(signed ? 204 : 400).end();
    });
  });
  return new Promise((resolve) => receiver!.listen(receiverPort, '127.0.0.1', resolve));
}

/** The registry's settings: its webhook is the test's receiver, retried quickly. */
function registryEnv(): Record<string, string> {
  return {
    REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
    REGISTRY_ALERT_WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/alerts`,
    REGISTRY_ALERT_WEBHOOK_SECRET: SECRET,
    REGISTRY_ALERT_WEBHOOK_RETRY_BASE_MS: '20',
  };
}

beforeAll(async () => {
  // A port nothing listens on yet: the receiver is down until a test starts it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  receiverPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  registry = await startRegistry({ alertClock: () => fakeNow, env: registryEnv() });
  const text = { call_template_type: 'text', content: '"ok"' };
  const tools = Array.from({ length: TOOLS }, (_, t) => manualTool({ name: `tool_${t}`, tool_call_template: text }));
  await new ToolService(registry.db.fork()).importManual('fleet', manual(tools), INLINE_MANUAL);
  auditReader = await registry.login({ roles: ['policy_admin'] });
  feed = subscribe(registry.url, auditReader, 'SecurityAlertRaised');
});

afterAll(async () => {
  await feed?.close();
  await registry?.close();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

describe('security alerts', () => {
  it('starts with the documented rules, which only an admin may tune, within bounds', async () => {
    const res = await registry.graphql<{ alertRules: Record<string, unknown>[] }>(
      '{ alertRules { name enabled threshold windowSeconds baselineMultiple baselineFloor baselineMinWindows } }',
      {},
      { authorization: `Bearer ${registry.adminToken}` },
    );
    const none = { baselineMultiple: null, baselineFloor: null, baselineMinWindows: null };
    expect(res.data!.alertRules).toEqual([
      { name: 'AUTH_FAILURES', enabled: true, threshold: 20, windowSeconds: 300, ...none },
      { name: 'CALL_RATE', enabled: true, threshold: 600, windowSeconds: 60, ...CALL_RATE_BASELINE },
      { name: 'DENIAL_RATE', enabled: true, threshold: 10, windowSeconds: 300, ...DENIAL_RATE_BASELINE },
      { name: 'NEW_TOOLS', enabled: true, threshold: 25, windowSeconds: 3600, ...none },
      { name: 'OFF_HOURS', enabled: true, threshold: 5, windowSeconds: 3600, ...none },
      { name: 'SECRET_ARGUMENT', enabled: true, threshold: 1, windowSeconds: 3600, ...none },
    ]);
    const update = `mutation($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { rule { name threshold } userErrors { field code } } }`;
    const bad = await registry.graphql<{ updateAlertRule: { userErrors: { field: string[]; code: string }[] } }>(
      update,
      { input: { name: 'CALL_RATE', threshold: 0 } },
      { authorization: `Bearer ${registry.adminToken}` },
    );
    expect(bad.data!.updateAlertRule.userErrors).toEqual([{ field: ['threshold'], code: 'BAD_USER_INPUT' }]);
    for (const [input, field] of [
      [{ name: 'CALL_RATE', baselineMultiple: 0.5 }, 'baselineMultiple'],
      [{ name: 'DENIAL_RATE', baselineMinWindows: 31 }, 'baselineMinWindows'],
      [{ name: 'CALL_RATE', baselineFloor: 0 }, 'baselineFloor'],
      // Only the rate rules learn a usual rate.
      [{ name: 'NEW_TOOLS', baselineMultiple: 3 }, 'baselineMultiple'],
    ] as const) {
      const refused = await registry.graphql<{ updateAlertRule: { userErrors: { field: string[]; code: string }[] } }>(
        update,
        { input },
        { authorization: `Bearer ${registry.adminToken}` },
      );
      expect(refused.data!.updateAlertRule.userErrors).toEqual([{ field: [field], code: 'BAD_USER_INPUT' }]);
    }
    const forbidden = await registry.graphql(update, { input: { name: 'CALL_RATE', threshold: 1 } }, { authorization: `Bearer ${auditReader}` });
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('raises one alert for a secret-shaped argument, naming its kind and never its value; the webhook receiver is down, so it is retried', async () => {
    const { token, principalId } = await agent();
    await call(token, 'fleet.tool_0', { q: `aws_access_key_id=${AWS_KEY}` });
    await call(token, 'fleet.tool_1', { q: AWS_KEY });
    const [alert] = await alertsWhen({ rule: 'SECRET_ARGUMENT', principal: principalId }, (l) => l.length > 0);
    expect(alert).toMatchObject({ rule: 'SECRET_ARGUMENT', subject: `principal:${principalId}`, principalId, threshold: 1 });
    expect(alert!.details.kinds).toEqual(['aws_access_key_id']);
    expect(JSON.stringify(alert)).not.toContain(AWS_KEY);

    // The alert is an audit entry too, without the secret.
    const audit = await registry.graphql<{ auditLog: { edges: { node: { details: Record<string, unknown> } }[] } }>(
      `{ auditLog(first: 100, filter: { action: "security.alert" }) { edges { node { details } } } }`,
      {},
      { authorization: `Bearer ${auditReader}` },
    );
    const entry = audit.data!.auditLog.edges.find((e) => e.node.details.alertId === alert!.id);
    expect(entry?.node.details).toMatchObject({ rule: 'secret_argument', kinds: ['aws_access_key_id'] });
    expect(JSON.stringify(audit.data)).not.toContain(AWS_KEY);

    // Subscribers hear it as it is raised.
    await feed.waitFor((d) => d.securityAlertRaised.id === alert!.id);

    // Delivery failed (nothing listens) and was tried again, with the outbox row kept.
    for (let i = 0; ; i += 1) {
      const [row] = await registry.db.fork().execute<{ attempts: number; delivered_at: Date | null; last_error: string | null }[]>(
        `select attempts, delivered_at, last_error from security_alert_delivery where alert_id = ?`,
        [alert!.id],
      );
      if (row && row.attempts >= 2) {
        expect(row.delivered_at).toBeNull();
        expect(row.last_error).toBeTruthy();
        break;
      }
      if (i > 200) throw new Error(`not retried: ${JSON.stringify(row)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    await startReceiver();
  });

  it('raises one denial-rate alert for a burst of refused requests, not one per refusal', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(client)).access_token;
    for (let i = 0; i < 14; i += 1) {
      const res = await registry.graphql('{ auditLog(first: 1) { totalCount } }', {}, { authorization: `Bearer ${token}` });
      expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const list = await alertsWhen({ rule: 'DENIAL_RATE', principal: client.principalId }, (l) => l.length > 0);
    expect(list).toHaveLength(1);
    expect(list[0]!.count).toBeGreaterThanOrEqual(10);
  });

  it('raises an authentication-failure alert for a credential-stuffing run at /oauth/token', async () => {
    for (let i = 0; i < 24; i += 1) {
      const res = await registry.oauth({ grant_type: 'client_credentials', client_id: `stuffed-${i}@example.com`, client_secret: `Password${i}!` });
      expect(res.status).toBe(401);
    }
    const list = await alertsWhen({ rule: 'AUTH_FAILURES' }, (l) => l.some((a) => a.subject === 'address:127.0.0.1'));
    expect(list.filter((a) => a.subject === 'address:127.0.0.1')).toHaveLength(1);
    expect(list.every((a) => a.principalId === null)).toBe(true);
  });

  it(`raises a new-tools alert when an agent suddenly calls ${TOOLS} tools it never called before`, async () => {
    const { token, principalId } = await agent();
    for (let t = 0; t < 3; t += 1) await call(token, `fleet.tool_${t}`, { q: 'usual' });
    for (let t = 3; t < TOOLS; t += 1) expect((await call(token, `fleet.tool_${t}`, { q: 'x' })).status).toBe('SUCCEEDED');
    const list = await alertsWhen({ rule: 'NEW_TOOLS', principal: principalId }, (l) => l.length > 0);
    expect(list).toHaveLength(1);
    expect(list[0]!.count).toBeGreaterThanOrEqual(25);
    expect((list[0]!.details.tools as string[]).every((name) => name.startsWith('fleet.tool_'))).toBe(true);
  });

  it('raises nothing for a quiet agent: a few usual tools, ordinary arguments, a login, reads', async () => {
    const before = new Set((await alerts()).map((a) => a.id));
    const { token } = await agent();
    for (let round = 0; round < 3; round += 1) {
      for (let t = 0; t < 3; t += 1) {
        await call(token, `fleet.tool_${t}`, { q: ['hello world', 'c0a80101-7d2e-4b8f-9a11-2f6c3b1d0e55', 'sk-short', 'eyJhbGciOi'][(round + t) % 4] });
      }
    }
    await registry.graphql('{ tools(first: 5) { edges { node { name } } } }', {}, { authorization: `Bearer ${token}` });
    // A sentinel alert raised after the quiet sequence: once it is stored, the quiet events were evaluated.
    const sentinel = await agent();
    await call(sentinel.token, 'fleet.tool_0', { key: '-----BEGIN RSA PRIVATE KEY-----\nMIIEow==' });
    await alertsWhen({ principal: sentinel.principalId }, (l) => l.length > 0);
    // No alert of any rule, for anyone, but the sentinel's.
    const raised = (await alerts()).filter((a) => !before.has(a.id) && a.principalId !== sentinel.principalId);
    expect(raised).toEqual([]);
  });

  it("learns each principal's usual call rate: a steady high rate raises nothing, a jump to several times a principal's own rate does, far below the absolute threshold", async () => {
    // Learnt from 3 windows of history; then raised at 4 × the usual rate, or 10 calls, whichever is more.
    await tune({ name: 'CALL_RATE', baselineMultiple: 4, baselineFloor: 10, baselineMinWindows: 3 });
    const steady = await agent();
    const jumpy = await agent();
    const start = Date.UTC(2026, 0, 9, 9, 0, 30);
    try {
      for (let w = 0; w < 5; w += 1) {
        fakeNow = start + w * 60_000;
        for (let i = 0; i < 25; i += 1) await call(steady.token, 'fleet.tool_0', { q: 'steady' });
        // 5 calls a minute, then 25.
        if (w < 4) for (let i = 0; i < (w < 3 ? 5 : 25); i += 1) await call(jumpy.token, 'fleet.tool_0', { q: 'jumpy' });
      }
      const [alert] = await alertsWhen({ rule: 'CALL_RATE', principal: jumpy.principalId }, (l) => l.length > 0);
      expect(alert).toMatchObject({ threshold: 20, windowSeconds: 60 });
      expect(alert!.count).toBeGreaterThanOrEqual(20);
      expect(alert!.count).toBeLessThan(600);
      expect(alert!.details).toMatchObject({ usualPerWindow: 5, historyWindows: 3, baselineMultiple: 4, baselineFloor: 10 });

      // The same 25 calls a minute are usual for the steady agent: once a later sentinel is raised, they were judged.
      await afterASentinel();
      expect(await alerts({ principal: steady.principalId })).toEqual([]);
    } finally {
      fakeNow = MIDDAY;
      await tune({ name: 'CALL_RATE', ...CALL_RATE_BASELINE });
    }
  });

  it("learns each principal's usual denial rate: routine refusals raise nothing, a jump to several times a principal's own rate does, below the absolute threshold", async () => {
    await tune({ name: 'DENIAL_RATE', baselineMultiple: 3, baselineFloor: 3, baselineMinWindows: 2 });
    const steady = await registry.createClient({ roles: ['viewer'] });
    const jumpy = await registry.createClient({ roles: ['viewer'] });
    const tokens = new Map([
      [steady.principalId, (await registry.tokenFor(steady)).access_token],
      [jumpy.principalId, (await registry.tokenFor(jumpy)).access_token],
    ]);
    const refuse = async (principalId: string, times: number) => {
      for (let i = 0; i < times; i += 1) {
        const res = await registry.graphql('{ auditLog(first: 1) { totalCount } }', {}, { authorization: `Bearer ${tokens.get(principalId)}` });
        expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
    };
    const start = Date.UTC(2026, 0, 9, 14, 0, 30);
    try {
      // 9 refusals every 5 minutes (just under the absolute threshold of 10) for one; 2, then 8, for the other.
      for (let w = 0; w < 4; w += 1) {
        fakeNow = start + w * 300_000;
        await refuse(steady.principalId, 9);
        if (w < 3) await refuse(jumpy.principalId, w < 2 ? 2 : 8);
      }
      const [alert] = await alertsWhen({ rule: 'DENIAL_RATE', principal: jumpy.principalId }, (l) => l.length > 0);
      expect(alert).toMatchObject({ threshold: 6, windowSeconds: 300 });
      expect(alert!.count).toBeGreaterThanOrEqual(6);
      expect(alert!.details).toMatchObject({ usualPerWindow: 2, historyWindows: 2 });

      await afterASentinel();
      expect(await alerts({ principal: steady.principalId })).toEqual([]);
    } finally {
      fakeNow = MIDDAY;
      await tune({ name: 'DENIAL_RATE', ...DENIAL_RATE_BASELINE });
    }
  });

  it('applies a tuned rule at once: a call-rate threshold lowered to 5 raises on the 5th call, and is restored', async () => {
    const update = `mutation($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { rule { name threshold windowSeconds } userErrors { code } } }`;
    const tuned = await registry.graphql<{ updateAlertRule: { rule: { threshold: number } } }>(
      update,
      { input: { name: 'CALL_RATE', threshold: 5, windowSeconds: 3600 } },
      { authorization: `Bearer ${registry.adminToken}` },
    );
    expect(tuned.data!.updateAlertRule.rule.threshold).toBe(5);
    try {
      const { token, principalId } = await agent();
      for (let i = 0; i < 6; i += 1) await call(token, 'fleet.tool_0', { q: 'again' });
      const list = await alertsWhen({ rule: 'CALL_RATE', principal: principalId }, (l) => l.length > 0);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ threshold: 5, windowSeconds: 3600 });
    } finally {
      await registry.graphql(update, { input: { name: 'CALL_RATE', threshold: 600, windowSeconds: 60 } }, { authorization: `Bearer ${registry.adminToken}` });
    }
  });

  it('raises an off-hours alert for calls at an hour the agent never works at', async () => {
    const { token, principalId } = await agent();
    const day = Date.UTC(2026, 0, 5);
    try {
      // A day of work at 10:00 UTC: the baseline of usual hours.
      fakeNow = day + 10 * 3_600_000;
      for (let i = 0; i < 40; i += 1) await call(token, 'fleet.tool_0', { q: 'daytime' });
      // The next day, calls at 22:00, until the baseline (evaluated shortly after the calls) has judged five.
      fakeNow = day + 86_400_000 + 22 * 3_600_000;
      let list: Alert[] = [];
      for (let i = 0; i < 60 && list.length === 0; i += 1) {
        await call(token, 'fleet.tool_0', { q: 'nighttime' });
        list = await alerts({ rule: 'OFF_HOURS', principal: principalId });
      }
      expect(list).toHaveLength(1);
      expect(list[0]!.details).toMatchObject({ hoursUtc: [22], usualHoursUtc: [10] });
    } finally {
      fakeNow = MIDDAY;
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL)('counts on two replicas together through Redis, and raises the alert once', async () => {
    const second = await startRegistry({ shareDatabaseWith: registry, alertClock: () => fakeNow, env: registryEnv() });
    try {
      const client = await registry.createClient({ roles: ['viewer'] });
      // Six refusals on each replica: neither reaches the threshold of 10 alone.
      for (const replica of [registry, second]) {
        const { url } = replica;
        const token = (await replica.tokenFor(client)).access_token;
        for (let i = 0; i < 6; i += 1) {
          const res = await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query: '{ auditLog(first: 1) { totalCount } }' }),
          });
          const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
          expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        }
      }
      const list = await alertsWhen({ rule: 'DENIAL_RATE', principal: client.principalId }, (l) => l.length > 0);
      expect(list).toHaveLength(1);
      expect(list[0]!.count).toBeGreaterThanOrEqual(10);
    } finally {
      await second.close();
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL)("learns a principal's usual rate from every replica through Redis", async () => {
    await tune({ name: 'DENIAL_RATE', baselineMultiple: 3, baselineFloor: 3, baselineMinWindows: 2 });
    const second = await startRegistry({ shareDatabaseWith: registry, alertClock: () => fakeNow, env: registryEnv() });
    const start = Date.UTC(2026, 0, 9, 16, 0, 30);
    try {
      const client = await registry.createClient({ roles: ['viewer'] });
      const refuse = async (replica: TestRegistry, times: number) => {
        const token = (await replica.tokenFor(client)).access_token;
        for (let i = 0; i < times; i += 1) {
          const res = await replica.graphql('{ auditLog(first: 1) { totalCount } }', {}, { authorization: `Bearer ${token}` });
          expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        }
      };
      // Two windows of 2 refusals on the first replica, then 7 on the second: the second knows the
      // usual rate only through Redis (without it, 7 is below the absolute threshold of 10).
      for (let w = 0; w < 2; w += 1) {
        fakeNow = start + w * 300_000;
        await refuse(registry, 2);
      }
      // Once a later sentinel is raised on the first replica, its refusals were counted.
      await afterASentinel();
      fakeNow = start + 2 * 300_000;
      await refuse(second, 7);
      const list = await alertsWhen({ rule: 'DENIAL_RATE', principal: client.principalId }, (l) => l.length > 0);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ threshold: 6, details: { usualPerWindow: 2, historyWindows: 2 } });
    } finally {
      fakeNow = MIDDAY;
      await second.close();
      await tune({ name: 'DENIAL_RATE', ...DENIAL_RATE_BASELINE });
    }
  });

  it('delivers every alert to the webhook once it is up, signed (HMAC-SHA256 over timestamp and body), at least once', async () => {
    const all = await alerts();
    const ids = new Set(all.map((a) => a.id));
    expect(ids.size).toBeGreaterThanOrEqual(7);
    for (let i = 0; [...ids].some((id) => !delivered.some((d) => d.id === id)); i += 1) {
      if (i > 400) throw new Error(`undelivered: ${[...ids].filter((id) => !delivered.some((d) => d.id === id)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(delivered.every((d) => d.signed)).toBe(true);
    expect(new Set(delivered.map((d) => d.id))).toEqual(ids);
    const secretAlert = delivered.find((d) => (d.body.alert as { rule: string }).rule === 'secret_argument');
    expect(JSON.stringify(secretAlert)).not.toContain(AWS_KEY);
  });
});
