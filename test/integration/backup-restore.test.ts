import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { httpPeer, json, type Peer, utcpManual } from '../helpers/peers/index.js';
import { clientCredentialsToken, type RegistryProcess, run, spawnRegistry } from '../helpers/process.js';

// Backups restored for real: registries run as processes, `node dist/src/cli/backup.js` and
// `restore.js` (what `npm run backup` / `restore` run) or pg_dump / pg_restore move the data, and a
// registry started on the restored data proves through its API that the audit chain verifies and
// the vault still decrypts the secret a provider's calls send to a real peer.

const MAIN = 'dist/src/main.js';
const ADMIN = { clientId: 'backup-admin', clientSecret: 'backup-admin-secret-0123456789abcdef' };
const API_KEY = `backup-key-${randomBytes(12).toString('hex')}`;

let peer: Peer;
let scratch: string;
/** The X-Api-Key of each discovery request the peer received. */
const keysSeen: (string | undefined)[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'registry-backup-'));
  peer = await httpPeer((req, res) => {
    keysSeen.push(req.headers['x-api-key'] as string | undefined);
    if (req.headers['x-api-key'] !== API_KEY) return json(res, 401, { error: 'wrong key' });
    json(res, 200, utcpManual(['forecast'], { call_template_type: 'http', url: `${peer.url}/forecast`, http_method: 'GET' }));
  });
});
afterAll(async () => {
  await peer?.close();
  await rm(scratch, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<RegistryProcess> {
  return spawnRegistry(process.execPath, [MAIN], {
    REGISTRY_SEED: 'none',
    REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId,
    REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret,
    REGISTRY_EGRESS_ALLOW: '127.0.0.1/32',
    REGISTRY_AUDIT_CHECKPOINT_SECONDS: '0',
    ...env,
  });
}

async function stop(registry: RegistryProcess): Promise<void> {
  process.kill(-registry.child.pid!, 'SIGTERM');
  expect(await registry.exited).toBe(0);
}

async function graphql<T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await clientCredentialsToken(url, ADMIN.clientId, ADMIN.clientSecret)}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return body.data;
}

/** Registers a provider whose discovery sends a vault secret to the peer, and takes a signed checkpoint. */
async function populate(url: string): Promise<string> {
  const { registerProvider } = await graphql<{ registerProvider: { provider: { id: string } | null; userErrors: unknown[] } }>(
    url,
    `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { message } } }`,
    { input: { name: 'weather', callTemplate: { call_template_type: 'http', url: `${peer.url}/manual`, http_method: 'GET', auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' } } } },
  );
  expect(registerProvider.userErrors).toEqual([]);
  await graphql(url, `mutation { createAuditCheckpoint { checkpoint { seq } } }`);
  return registerProvider.provider!.id;
}

/** On restored data: the audit log verifies against its signed checkpoints, and a refresh sends the decrypted secret to the peer. */
async function checkRestored(url: string, providerId: string): Promise<void> {
  const { verifyAuditLog } = await graphql<{ verifyAuditLog: { valid: boolean; checkpoint: { seq: string } | null; summary: string } }>(
    url,
    `{ verifyAuditLog { valid checkpoint { seq } summary } }`,
  );
  expect(verifyAuditLog.valid, verifyAuditLog.summary).toBe(true);
  expect(verifyAuditLog.checkpoint).not.toBeNull();
  keysSeen.length = 0;
  const { refreshProvider } = await graphql<{ refreshProvider: { userErrors: unknown[] } }>(
    url,
    `mutation($input: ProviderIdInput!) { refreshProvider(input: $input) { userErrors { message } } }`,
    { input: { id: providerId } },
  );
  expect(refreshProvider.userErrors).toEqual([]);
  expect(keysSeen).toEqual([API_KEY]);
}

describe('backups', () => {
  it.skipIf(process.env.TEST_DATABASE_URL)(
    'of the embedded database restore into a registry whose audit log verifies and whose vault still decrypts',
    { timeout: 240_000 },
    async () => {
      const dataDir = join(scratch, 'original');
      const restoredDir = join(scratch, 'restored');
      const file = join(scratch, 'registry.backup');
      const cli = (script: string, dir: string, ...args: string[]) => run(process.execPath, [`dist/src/cli/${script}.js`, ...args], { REGISTRY_DATA_DIR: dir });

      await mkdir(dataDir);
      const original = await start({ REGISTRY_DATA_DIR: dataDir });
      const providerId = await populate(original.url);
      const refused = await cli('backup', dataDir, file);
      expect(refused.code).toBe(1);
      expect(refused.output).toContain('is open: stop the registry that uses it first');
      await stop(original);

      const backup = await cli('backup', dataDir, file);
      expect(backup.output).toContain('backup written');
      expect(backup.code).toBe(0);
      expect((await cli('backup', dataDir, file)).output).toContain('a backup never overwrites a file');

      const restore = await cli('restore', restoredDir, file);
      expect(restore.output).toContain('restored the backup');
      expect(restore.code).toBe(0);
      const again = await cli('restore', restoredDir, file);
      expect(again.code).toBe(1);
      expect(again.output).toContain('already holds a database');

      const restored = await start({ REGISTRY_DATA_DIR: restoredDir });
      try {
        await checkRestored(restored.url, providerId);
      } finally {
        await stop(restored);
      }
    },
  );

  it.runIf(process.env.TEST_DATABASE_URL)(
    'of PostgreSQL (pg_dump custom format, pg_restore) restore into a registry whose audit log verifies and whose vault still decrypts',
    { timeout: 240_000 },
    async () => {
      const databases: TestDatabase[] = [await createTestDatabase(), await createTestDatabase()];
      const [source, target] = databases.map((d) => (d.config as { url: string }).url) as [string, string];
      const keys = { REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]), REGISTRY_MASTER_KEY: randomBytes(32).toString('base64') };
      const file = join(scratch, 'registry.dump');
      try {
        const original = await start({ DATABASE_URL: source, ...keys });
        const providerId = await populate(original.url);
        await stop(original);

        const dump = await run('pg_dump', ['--format=custom', `--file=${file}`, source], {});
        expect(dump.output).toBe('');
        expect(dump.code).toBe(0);
        const restore = await run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${target}`, file], {});
        expect(restore.output).toBe('');
        expect(restore.code).toBe(0);

        const restored = await start({ DATABASE_URL: target, ...keys });
        try {
          await checkRestored(restored.url, providerId);
        } finally {
          await stop(restored);
        }
      } finally {
        for (const database of databases) await database.drop();
      }
    },
  );
});
