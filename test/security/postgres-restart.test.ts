import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../src/modules/audit/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { HAS_PRIVATE_POSTGRES, type PrivatePostgres, query, startPrivatePostgres } from './helpers/servers.js';

// PostgreSQL restarted while executions are running and arriving: a private server (never the
// machine's shared one) is stopped with its connections cut and started again. Every call the
// registry accepted ends stored with its audit entry, the chain verifies, and the registry serves
// again without a restart of its own.

/** At least this many calls, sent before, during and after the outage. */
const CALLS = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(HAS_PRIVATE_POSTGRES)('PostgreSQL restarted during a load of executions', () => {
  let pg: PrivatePostgres;
  let registry: TestRegistry;
  let peer: Server;
  let agent: string;

  beforeAll(async () => {
    peer = createServer((_req, res) => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 150));
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
    pg = await startPrivatePostgres();
    registry = await startRegistry({
      databaseServerUrl: pg.url,
      // The outage makes the registry log errors on purpose; keep them out of the test output.
      env: { REGISTRY_EGRESS_ALLOW: '127.0.0.1/32', REGISTRY_EXECUTION_LEASE_SECONDS: '2', LOG_LEVEL: 'fatal' },
    });
    await new ToolService(registry.db.fork()).importManual(
      'load',
      manual([
        manualTool({ name: 'slow', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'http', url: `${url}/slow`, http_method: 'GET' } }),
      ]),
      INLINE_MANUAL,
    );
    agent = await registry.login({ roles: ['agent'] });
  }, 120_000);

  /** Connections of the registry's pool that are in use (not idle). */
  async function checkedOut(): Promise<number> {
    const pool = (await registry.db.fork().getConnection().getNativeClient()) as unknown as { totalCount: number; idleCount: number };
    return pool.totalCount - pool.idleCount;
  }

  afterAll(async () => {
    await registry?.close().catch(() => undefined);
    await pg?.remove();
    await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
  });

  it('ends every accepted call stored with its audit entry, and serves again without a restart', { timeout: 180_000 }, async () => {
    const answers: { status: number; id?: string; code?: string; text: string }[] = [];
    const call = async (i: number) => {
      try {
        const response = await fetch(`${registry.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}` },
          body: JSON.stringify({
            query: 'mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status } }',
            variables: { input: { tool: 'load.slow', arguments: { i }, mode: i % 3 === 0 ? 'ASYNC' : 'SYNC' } },
          }),
        });
        const text = await response.text();
        const body = JSON.parse(text) as { data?: { executeTool?: { id: string } }; errors?: { extensions?: { code?: string } }[] };
        answers.push({ status: response.status, id: body.data?.executeTool?.id, code: body.errors?.[0]?.extensions?.code, text });
      } catch (error) {
        answers.push({ status: 0, text: String(error) });
      }
    };

    // Calls arrive in waves of 10 while the database goes away (its connections cut) and comes back.
    let sent = 0;
    let stopping = false;
    const load = (async () => {
      while (!stopping || sent < CALLS) {
        await Promise.all(Array.from({ length: 10 }, () => call(sent++)));
        await sleep(100);
      }
    })();
    await sleep(700);
    await pg.stop();
    const down = await fetch(`${registry.url}/readyz`);
    expect(down.status).toBe(503);
    await sleep(1500);
    await pg.start();
    await sleep(500);
    stopping = true;
    await load;

    // The same registry serves again once the database is back.
    await expect
      .poll(async () => (await registry.graphql('{ me { scopes } }', {}, { authorization: `Bearer ${agent}` })).status, { timeout: 30_000, interval: 250 })
      .toBe(200);
    const after = await registry.graphql<{ executeTool: { status: string } }>('mutation { executeTool(input: { tool: "load.slow", arguments: {} }) { status } }', {}, {
      authorization: `Bearer ${agent}`,
    });
    expect(after.data?.executeTool.status, JSON.stringify(after.errors)).toBe('SUCCEEDED');

    expect(answers).toHaveLength(sent);
    for (const answer of answers) expect(answer.text).not.toMatch(/stacktrace|\n\s+at |node_modules/);
    const accepted = answers.filter((a) => a.id).map((a) => a.id!);
    expect(accepted.length).toBeGreaterThan(0);
    const refused = answers.filter((a) => !a.id);
    console.info(`PostgreSQL restart: ${accepted.length} calls accepted, ${refused.length} refused while it was down (${[...new Set(refused.map((a) => `${a.status} ${a.code}`))].join(', ')})`);

    // Every call the registry stored (answered or not) ends, with its audit entry.
    const database = (registry.config.database as { url: string }).url;
    await expect
      .poll(async () => Number((await query<{ n: string }>(database, `select count(*) as n from execution where status in ('queued', 'running')`))[0]!.n), {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(0);
    const stored = await query<{ id: string; status: string; audited: string }>(
      database,
      `select e.id, e.status, (select count(*) from audit_entry a where a.action = 'tool.execute' and a.details->>'executionId' = e.id::text) as audited from execution e`,
    );
    const storedIds = new Set(stored.map((e) => e.id));
    for (const id of accepted) expect(storedIds, `accepted ${id} is stored`).toContain(id);
    for (const execution of stored) expect(Number(execution.audited), `${execution.id} (${execution.status}) is audited once`).toBe(1);
    expect(await new AuditService(registry.db.fork()).verify()).toMatchObject({ valid: true, firstBrokenSeq: null });

    // No pool slot is held by a connection the restart cut: once idle, every connection is back.
    await expect.poll(async () => checkedOut(), { timeout: 10_000, interval: 50 }).toBe(0);
  });

  it('gives back the pool slot of a transaction whose connection the server cut', async () => {
    const database = (registry.config.database as { url: string }).url;
    const cut = registry.db
      .fork()
      .transactional((tx) => tx.execute('select pg_sleep(30) as cut_me'))
      .then(
        () => 'committed',
        () => 'failed',
      );
    await expect
      .poll(async () => (await query(database, `select pid from pg_stat_activity where query like '%cut_me%' and pid <> pg_backend_pid()`)).length, { timeout: 5_000 })
      .toBe(1);
    await query(database, `select pg_terminate_backend(pid) from pg_stat_activity where query like '%cut_me%' and pid <> pg_backend_pid()`);
    expect(await cut).toBe('failed');
    await expect.poll(async () => checkedOut(), { timeout: 5_000, interval: 50 }).toBe(0);
    expect(await registry.db.fork().execute('select 1 as ok')).toEqual([{ ok: 1 }]);
  });
});
