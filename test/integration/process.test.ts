import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { clientCredentialsToken, isRunning, run, spawnRegistry } from '../helpers/process.js';

const MAIN = 'dist/src/main.js';
const ADMIN = { REGISTRY_BOOTSTRAP_CLIENT_ID: 'ops-admin', REGISTRY_BOOTSTRAP_CLIENT_SECRET: 'ops-admin-secret-0123456789abcdef' };

async function graphql<T>(url: string, query: string, token: string): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  expect(body.errors).toBeUndefined();
  expect(response.status).toBe(200);
  return body.data;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the registry process', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('starts with `npm start` on the embedded database, prints an admin credential once with lines to paste, serves the seeded catalog, and stops on SIGTERM to npm', { timeout: 180_000 }, async () => {
    const registry = await spawnRegistry('npm', ['start'], {}, 170_000);
    const group = registry.child.pid!;
    try {
      const clientId = /client_id: +(\S+)/.exec(registry.output())?.[1];
      const clientSecret = /client_secret: +(\S+)/.exec(registry.output())?.[1];
      expect(clientId).toBeDefined();
      // The in-memory database was loaded from the build's migrated template, not created and migrated anew.
      expect(registry.output()).toMatch(/"embeddedTemplate":true[^\n]*Tool Registry ready at/);
      const anonymous = await fetch(`${registry.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ tools(first: 5) { edges { node { name } } } }' }),
      });
      expect(((await anonymous.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
      const token = await clientCredentialsToken(registry.url, clientId!, clientSecret!);
      const data = await graphql<{ tools: { edges: { node: { name: string; description: string; tags: string[] } }[] } }>(
        registry.url,
        '{ tools(first: 5) { edges { node { name description tags } } } }',
        token,
      );
      expect(data.tools.edges).toHaveLength(5);
      expect(data.tools.edges[0]!.node).toMatchObject({ name: 'currency.convert', tags: ['finance', 'currency'] });

      // The printed hint names the port really listened on (PORT=0 picked one) and runs as pasted.
      const hint = /In another shell[^\n]*\n((?: {2}.*\n)+)/.exec(registry.output())?.[1];
      expect(hint).toContain(`export CLIENT_ID='${clientId}' CLIENT_SECRET='${clientSecret}'`);
      expect(hint).toContain(`${registry.url}/oauth/token`);
      const pasted = await run('bash', ['-c', `set -e\n${hint}\nprintf 'TOKEN=%s' "$TOKEN"`], {});
      expect(pasted.code).toBe(0);
      const printedToken = /TOKEN=(\S+)/.exec(pasted.output)?.[1];
      expect(printedToken).toMatch(/^ey/);
      expect((await graphql<{ me: { scopes: string[] } }>(registry.url, '{ me { scopes } }', printedToken!)).me.scopes).toContain('tools:read');

      // SIGTERM to npm alone (as a process manager or `kill <pid>` sends it) stops the registry: nothing of the group survives.
      process.kill(group, 'SIGTERM');
      expect(await registry.exited).toBe(0);
      await expect(fetch(`${registry.url}/healthz`)).rejects.toThrow();
      await expect.poll(() => isRunning(-group), { timeout: 15_000 }).toBe(false);
      expect(registry.output()).toContain('"msg":"stopped"');
    } finally {
      if (isRunning(-group)) process.kill(-group, 'SIGKILL');
    }
  });

  it('finishes a request in flight on SIGTERM, refuses new connections, then exits cleanly', async () => {
    const registry = await spawnRegistry(process.execPath, [MAIN], ADMIN);
    const token = await clientCredentialsToken(registry.url, ADMIN.REGISTRY_BOOTSTRAP_CLIENT_ID, ADMIN.REGISTRY_BOOTSTRAP_CLIENT_SECRET);
    const { port } = new URL(registry.url);
    const body = JSON.stringify({ query: '{ tools(first: 2) { edges { node { name } } } }' });
    const half = Math.floor(body.length / 2);

    // A client that sends half its body, then the rest only after the server was told to stop.
    let sent!: () => void;
    const headersSent = new Promise<void>((resolve) => (sent = resolve));
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${token}` },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half), () => sent());
      void headersSent.then(async () => {
        await sleep(300);
        registry.child.kill('SIGTERM');
        await sleep(500);
        req.end(body.slice(half));
      });
    });

    await headersSent;
    await sleep(600);
    // The listener is closed while the slow request is still open.
    await expect(fetch(`${registry.url}/healthz`)).rejects.toThrow();
    const answer = await response;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      data: { tools: { edges: [{ node: { name: 'currency.convert' } }, { node: { name: 'currency.latest_rates' } }] } },
    });
    expect(await registry.exited).toBe(0);
    expect(registry.output()).toContain('"msg":"stopped"');
  });

  it('keeps its data, admin and signing key in REGISTRY_DATA_DIR across restarts, migrating and seeding only once', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'registry-data-'));
    dirs.push(dataDir);
    const count = async (url: string, token: string) =>
      (await graphql<{ tools: { totalCount: number } }>(url, '{ tools { totalCount } }', token)).tools.totalCount;

    // Both runs are one deployment with one public URL (the token issuer); their ports are ephemeral.
    const env = { REGISTRY_DATA_DIR: dataDir, REGISTRY_PUBLIC_URL: 'http://registry.example.test' };
    const first = await spawnRegistry(process.execPath, [MAIN], env);
    const clientId = /client_id: +(\S+)/.exec(first.output())![1]!;
    const clientSecret = /client_secret: +(\S+)/.exec(first.output())![1]!;
    const token = await clientCredentialsToken(first.url, clientId, clientSecret);
    const seeded = await count(first.url, token);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await spawnRegistry(process.execPath, [MAIN], env);
    // The token of the first run still verifies: the signing key was kept, and so was the admin.
    expect(await count(second.url, token)).toBe(seeded);
    expect(second.output()).not.toContain('seeded example provider');
    expect(second.output()).not.toContain('client_secret');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('starts with an empty catalog when REGISTRY_SEED=none', { timeout: 120_000 }, async () => {
    const registry = await spawnRegistry(process.execPath, [MAIN], { REGISTRY_SEED: 'none', ...ADMIN });
    const token = await clientCredentialsToken(registry.url, ADMIN.REGISTRY_BOOTSTRAP_CLIENT_ID, ADMIN.REGISTRY_BOOTSTRAP_CLIENT_SECRET);
    expect((await graphql<{ tools: { totalCount: number } }>(registry.url, '{ tools { totalCount } }', token)).tools.totalCount).toBe(0);
    registry.child.kill('SIGTERM');
    expect(await registry.exited).toBe(0);
  });

  it('refuses to start on an invalid environment, naming every problem', async () => {
    const result = await run(process.execPath, [MAIN], { PORT: 'x', DATABASE_URL: 'mysql://db', LOG_LEVEL: 'chatty' });
    expect(result.code).toBe(1);
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL']) expect(result.output).toContain(name);
  });

  it('exits with an error when PostgreSQL cannot be reached, without printing the password', async () => {
    const result = await run(process.execPath, [MAIN], {
      DATABASE_URL: 'postgres://registry:hunter2-secret@127.0.0.1:1/registry',
      REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
      REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain('failed to start');
    expect(result.output).not.toContain('hunter2-secret');
  });
});
