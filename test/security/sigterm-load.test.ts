import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { AuditService } from '../../src/modules/audit/index.js';
import { spawnRegistry } from '../helpers/process.js';

// SIGTERM to the real registry process while tool calls are in flight: the calls it accepted finish
// and are answered, new connections are refused, the process exits cleanly, and what it stored is
// whole: no call left queued or running, each with one audit entry, the chain unbroken.

const MAIN = 'dist/src/main.js';
const ADMIN = { clientId: 'sigterm-admin', clientSecret: 'sigterm-admin-secret-0123456789abcdef' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SIGTERM during a load of executions', () => {
  let peer: Server;
  let peerUrl: string;
  let dataDir: string;
  let received = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'registry-sigterm-'));
    peer = createServer((req, res) => {
      if (req.url === '/manual') {
        const tool = (name: string) => ({
          name,
          description: name,
          inputs: { type: 'object', properties: { i: { type: 'integer' } } },
          outputs: {},
          tool_call_template: { call_template_type: 'http', url: `${peerUrl}/work`, http_method: 'POST', body_field: 'body' },
        });
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ utcp_version: '1.1.0', manual_version: '1', tools: [tool('work')] }));
      }
      received += 1;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}'), 800);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    peer?.closeAllConnections();
    await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('finishes and answers every accepted call, exits 0, and leaves nothing half-written', { timeout: 120_000 }, async () => {
    const registry = await spawnRegistry(process.execPath, [MAIN], {
      REGISTRY_DATA_DIR: dataDir,
      REGISTRY_SEED: 'none',
      REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId,
      REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret,
      REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
      REGISTRY_SHUTDOWN_GRACE_MS: '8000',
    });
    let exited = false;
    try {
      const token = await fetch(`${registry.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${ADMIN.clientId}:${ADMIN.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      }).then(async (r) => ((await r.json()) as { access_token: string }).access_token);
      const gql = (query: string, variables: Record<string, unknown>) =>
        fetch(`${registry.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables }),
        });
      const registered = await gql('mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { created userErrors { message } } }', {
        input: { name: 'busy', callTemplate: { call_template_type: 'http', url: `${peerUrl}/manual`, http_method: 'GET' } },
      }).then((r) => r.json());
      expect(registered).toMatchObject({ data: { registerProvider: { created: ['busy.work'], userErrors: [] } } });

      // 24 calls (a third ASYNC) in flight, then SIGTERM; then 6 more that arrive during shutdown.
      type Answer = { status: number; body?: { data?: { executeTool?: { id: string; status: string } }; errors?: { extensions?: { code?: string } }[] }; failed?: string };
      const call = (i: number): Promise<Answer> =>
        gql('mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status } }', {
          input: { tool: 'busy.work', arguments: { body: { i } }, mode: i % 3 === 0 ? 'ASYNC' : 'SYNC' },
        }).then(
          async (r) => ({ status: r.status, body: JSON.parse(await r.text()) as Answer['body'] }),
          (error: Error) => ({ status: 0, failed: String(error.cause ?? error) }),
        );
      const inFlight = Array.from({ length: 24 }, (_, i) => call(i));
      await expect.poll(() => received, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(16);
      registry.child.kill('SIGTERM');
      await sleep(100);
      const late = Array.from({ length: 6 }, (_, i) => call(100 + i));
      const answers = await Promise.all(inFlight);
      const lateAnswers = await Promise.all(late);
      const code = await registry.exited;
      exited = true;
      expect(code).toBe(0);

      // Every call the registry had accepted was answered with its execution, finished (SYNC) or
      // claimed (ASYNC: stored running, and finished before exit); one it had not yet read was refused, coded.
      const accepted = [...answers, ...lateAnswers].filter((a) => a.body?.data?.executeTool);
      for (const answer of [...answers, ...lateAnswers]) {
        if (answer.status === 0) continue; // no connection: the listener was closed
        expect([200, 503], JSON.stringify(answer)).toContain(answer.status);
        expect(JSON.stringify(answer)).not.toMatch(/stacktrace|\n\s+at /);
        if (answer.body?.data?.executeTool) expect(['RUNNING', 'SUCCEEDED']).toContain(answer.body.data.executeTool.status);
        else expect(['UPSTREAM_UNAVAILABLE'], JSON.stringify(answer)).toContain(answer.body?.errors?.[0]?.extensions?.code);
      }
      expect(accepted.length).toBeGreaterThanOrEqual(16);
      console.info(`SIGTERM: ${accepted.length} accepted calls answered, ${30 - accepted.length} refused while shutting down`);

      const db = await openDatabase({ kind: 'pglite', dataDir: join(dataDir, 'pglite') });
      try {
        const em = db.fork();
        const rows = await em.execute<{ id: string; status: string; audited: number }[]>(
          `select e.id, e.status, (select count(*)::int from audit_entry a where a.action = 'tool.execute' and a.details->>'executionId' = e.id::text) as audited from execution e`,
        );
        expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining(accepted.map((a) => a.body!.data!.executeTool!.id)));
        for (const row of rows) {
          expect(['succeeded', 'failed'], JSON.stringify(row)).toContain(row.status);
          expect(row.audited, JSON.stringify(row)).toBe(1);
        }
        expect(rows.filter((r) => r.status === 'succeeded').length).toBeGreaterThanOrEqual(accepted.length);
        expect(await new AuditService(db.fork()).verify()).toMatchObject({ valid: true, firstBrokenSeq: null });
      } finally {
        await db.close();
      }
    } finally {
      if (!exited) process.kill(-registry.child.pid!, 'SIGKILL');
    }
  });
});
