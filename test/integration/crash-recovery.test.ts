import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manual, manualTool } from '../helpers/factories.js';
import { httpPeer, json, type Peer } from '../helpers/peers/index.js';
import { clientCredentialsToken, type RegistryProcess, spawnRegistry } from '../helpers/process.js';

const MAIN = 'dist/src/main.js';
const ADMIN = { clientId: 'crash-admin', clientSecret: 'crash-admin-secret-0123456789abcdef' };

interface ExecutionView {
  id: string;
  status: string;
  attempts: number;
  result: unknown;
  error: { code: string; message: string; details: { reason?: string } | null } | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function graphql<T>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return body.data;
}

const EXECUTION = `query($id: ID!) { execution(id: $id) { id status attempts result error { code message details } } }`;

async function waitFor(url: string, token: string, id: string, done: (e: ExecutionView) => boolean, timeoutMs = 30_000): Promise<ExecutionView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { execution } = await graphql<{ execution: ExecutionView }>(url, token, EXECUTION, { id });
    if (done(execution) || Date.now() > until) return execution;
    await sleep(100);
  }
}

/**
 * Killing the server (SIGKILL: no shutdown code runs) while ASYNC calls run leaves them `running` in
 * the database; the restarted registry finds them by their stale lease and records the truth.
 */
describe('a registry killed during ASYNC executions', () => {
  let peer: Peer;
  let dataDir: string;
  /** Requests the peer received, by path. */
  const calls = new Map<string, number>();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'registry-crash-'));
    peer = await httpPeer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const seen = (calls.get(path) ?? 0) + 1;
      calls.set(path, seen);
      if (path === '/hang') return; // never answers
      // The idempotent tool hangs on its first call and answers the retry.
      if (path === '/flaky' && seen === 1) return;
      json(res, 200, { ok: true, call: seen });
    });
  });

  afterAll(async () => {
    await peer?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<RegistryProcess> {
    return spawnRegistry(process.execPath, [MAIN], {
      REGISTRY_DATA_DIR: dataDir,
      REGISTRY_SEED: 'none',
      REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId,
      REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret,
      REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
      REGISTRY_EXECUTION_LEASE_SECONDS: '1',
    });
  }

  it('marks a call it cannot repeat failed: interrupted, retries an idempotent one, and keeps the audit chain whole', { timeout: 120_000 }, async () => {
    const first = await start();
    let token = await clientCredentialsToken(first.url, ADMIN.clientId, ADMIN.clientSecret);
    const tools = manual([
      manualTool({
        name: 'submit',
        inputs: { type: 'object', properties: {} },
        outputs: {},
        tool_call_template: { call_template_type: 'http', url: `${peer.url}/hang`, http_method: 'POST' },
      }),
      manualTool({
        name: 'lookup',
        tags: ['idempotent'],
        inputs: { type: 'object', properties: {} },
        outputs: {},
        tool_call_template: { call_template_type: 'http', url: `${peer.url}/flaky`, http_method: 'GET' },
      }),
    ]);
    const registered = await graphql<{ registerProvider: { userErrors: unknown[] } }>(
      first.url,
      token,
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { userErrors { message } } }`,
      { input: { name: 'slow', callTemplate: { call_template_type: 'text', content: JSON.stringify(tools) } } },
    );
    expect(registered.registerProvider.userErrors).toEqual([]);

    const execute = async (tool: string) =>
      (
        await graphql<{ executeTool: ExecutionView }>(
          first.url,
          token,
          `mutation($tool: String!) { executeTool(input: { tool: $tool, arguments: {}, mode: ASYNC, timeoutMs: 60000 }) { id status attempts result error { code message details } } }`,
          { tool },
        )
      ).executeTool;
    const submit = await execute('slow.submit');
    const lookup = await execute('slow.lookup');
    expect(['QUEUED', 'RUNNING']).toContain(submit.status);
    expect((await waitFor(first.url, token, submit.id, (e) => e.status === 'RUNNING')).status).toBe('RUNNING');
    expect((await waitFor(first.url, token, lookup.id, (e) => e.status === 'RUNNING')).status).toBe('RUNNING');
    while ((calls.get('/hang') ?? 0) < 1 || (calls.get('/flaky') ?? 0) < 1) await sleep(50);

    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;

    const second = await start();
    token = await clientCredentialsToken(second.url, ADMIN.clientId, ADMIN.clientSecret);
    const interrupted = await waitFor(second.url, token, submit.id, (e) => e.status !== 'RUNNING' && e.status !== 'QUEUED');
    expect(interrupted.status).toBe('FAILED');
    expect(interrupted.error).toMatchObject({ code: 'INTERRUPTED', details: { reason: 'interrupted' } });
    expect(interrupted.error!.message).toMatch(/^interrupted/);
    expect(calls.get('/hang')).toBe(1); // a POST is never repeated

    const retried = await waitFor(second.url, token, lookup.id, (e) => e.status === 'SUCCEEDED');
    expect(retried).toMatchObject({ status: 'SUCCEEDED', attempts: 2, result: { ok: true, call: 2 } });

    const audit = await graphql<{ verifyAuditLog: { valid: boolean }; auditLog: { edges: { node: { action: string; outcome: string; details: { executionId?: string; code?: string } } }[] } }>(
      second.url,
      token,
      `{ verifyAuditLog { valid } auditLog(first: 100, filter: { action: "tool.execute" }) { edges { node { action outcome details } } } }`,
    );
    expect(audit.verifyAuditLog.valid).toBe(true);
    const entries = audit.auditLog.edges.map((e) => e.node);
    expect(entries).toContainEqual(expect.objectContaining({ outcome: 'FAILURE', details: expect.objectContaining({ executionId: submit.id, code: 'INTERRUPTED' }) }));
    expect(entries).toContainEqual(expect.objectContaining({ outcome: 'SUCCESS', details: expect.objectContaining({ executionId: lookup.id }) }));

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
