import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.js';
import { RegistryError } from '../../src/errors.js';
import { AuditEntry, AuditService } from '../../src/modules/audit/index.js';
import {
  Credential,
  CredentialAuthType,
  CredentialService,
  CredentialVault,
  generateMasterKey,
  type MasterKey,
  VaultError,
} from '../../src/modules/credential/index.js';
import { CallTemplateType, Provider } from '../../src/modules/provider/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { rejectionOf } from '../helpers/errors.js';

const API_KEY = 'sk-live-7f3c9a1e5b2d4c6f8a0b';
const PASSWORD = 'correct horse battery staple';
const CLIENT_SECRET = 'cs-4b1f0e9d8c7a6b5e';

let testDb: TestDatabase;
let db: Database;
let oldKey: MasterKey;
let provider: Provider;

const service = (vault: CredentialVault) => new CredentialService(db.fork(), vault);

async function createProvider(name: string): Promise<Provider> {
  const em = db.fork();
  const created = em.create(Provider, {
    name,
    callTemplateType: CallTemplateType.HTTP,
    callTemplate: { call_template_type: 'http', url: `https://${name}.example.com/utcp`, http_method: 'GET' },
  });
  await em.flush();
  return created;
}

async function badInput(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await rejectionOf(promise);
  expect(error.extensions.code).toBe('BAD_USER_INPUT');
  return error;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase(testDb.config);
  oldKey = generateMasterKey();
  provider = await createProvider('weather');
});

afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

describe('storing credentials', () => {
  it('stores an api key encrypted and reveals it to whoever holds the vault', async () => {
    const vault = new CredentialVault(oldKey);
    const stored = await service(vault).set(
      {
        providerId: provider.id,
        reference: 'WEATHER_KEY',
        authType: CredentialAuthType.API_KEY,
        secret: { api_key: API_KEY },
        settings: { var_name: 'X-Weather-Key', location: 'query' },
      },
      { requestId: 'req-1', sourceIp: '203.0.113.7' },
    );
    expect(stored.keyId).toBe(oldKey.id);
    expect(stored.rotatedAt ?? null).toBeNull();

    const loaded = await service(vault).findByReference(provider.id, 'WEATHER_KEY');
    expect(loaded).not.toBeNull();
    expect(service(vault).reveal(loaded!)).toEqual({ api_key: API_KEY });
    expect(loaded!.settings).toEqual({ var_name: 'X-Weather-Key', location: 'query', hint: `••••${API_KEY.slice(-4)}` });
  });

  it('keeps no plaintext in the row, the redacted view or the audit log', async () => {
    const vault = new CredentialVault(oldKey);
    await service(vault).set({
      providerId: provider.id,
      reference: 'WEATHER_BASIC',
      authType: CredentialAuthType.BASIC,
      secret: { username: 'weather-bot', password: PASSWORD },
    });
    const rows = await db.fork().execute<Record<string, unknown>[]>(`select * from credential`);
    const audit = await db.fork().execute<Record<string, unknown>[]>(`select * from audit_entry`);
    for (const text of [JSON.stringify(rows), JSON.stringify(audit)]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain('weather-bot');
    }

    const credential = (await service(vault).findByReference(provider.id, 'WEATHER_BASIC'))!;
    const view = service(vault).redacted(credential);
    expect(view).toEqual({
      id: credential.id,
      providerId: provider.id,
      reference: 'WEATHER_BASIC',
      authType: CredentialAuthType.BASIC,
      settings: {},
      keyId: oldKey.id,
      createdAt: expect.any(Date),
      rotatedAt: null,
      expiresAt: null,
      secret: { username: '[set]', password: '[set]' },
      hint: PASSWORD.length >= 16 ? `••••${PASSWORD.slice(-4)}` : '••••',
    });
    expect(JSON.stringify(view)).not.toContain(PASSWORD);
    expect(JSON.stringify(credential)).not.toContain(credential.ciphertext);

    const entry = await db.fork().findOneOrFail(AuditEntry, { action: 'credential.set', targetId: credential.id });
    expect(entry.details).toEqual({
      provider: 'weather',
      reference: 'WEATHER_BASIC',
      authType: 'basic',
      settings: {},
      replaced: false,
    });
  });

  it('refuses a missing or malformed field, naming the field and never echoing the secret', async () => {
    const vault = new CredentialVault(oldKey);
    const base = { providerId: provider.id, reference: 'BROKEN' };
    const cases: [Parameters<CredentialService['set']>[0], string][] = [
      [{ ...base, authType: CredentialAuthType.API_KEY, secret: {} }, 'secret.api_key'],
      [{ ...base, authType: CredentialAuthType.API_KEY, secret: { api_key: '' } }, 'secret.api_key'],
      [{ ...base, authType: CredentialAuthType.BASIC, secret: { username: 'bot' } }, 'secret.password'],
      [{ ...base, authType: CredentialAuthType.BASIC, secret: { username: 'a:b', password: PASSWORD } }, 'secret.username'],
      [{ ...base, authType: CredentialAuthType.BASIC, secret: { username: 'bot', password: PASSWORD, [API_KEY]: 'x' } }, 'secret'],
      [{ ...base, authType: CredentialAuthType.OAUTH2, secret: { client_id: 'app', client_secret: CLIENT_SECRET } }, 'settings.token_url'],
      [
        {
          ...base,
          authType: CredentialAuthType.OAUTH2,
          secret: { client_id: 'app', client_secret: CLIENT_SECRET },
          settings: { token_url: 'ftp://auth.example.com/token' },
        },
        'settings.token_url',
      ],
      [{ ...base, authType: CredentialAuthType.OAUTH2, secret: { client_id: CLIENT_SECRET } }, 'secret.client_secret'],
      [{ ...base, authType: CredentialAuthType.API_KEY, secret: { api_key: API_KEY }, settings: { location: 'body' } }, 'settings.location'],
      [{ ...base, authType: CredentialAuthType.API_KEY, secret: { api_key: API_KEY }, settings: { password: PASSWORD } }, 'settings.password'],
      [{ ...base, reference: '${KEY}', authType: CredentialAuthType.API_KEY, secret: { api_key: API_KEY } }, 'reference'],
      [{ ...base, authType: 'bearer' as CredentialAuthType, secret: { api_key: API_KEY } }, 'authType'],
    ];
    for (const [input, argument] of cases) {
      const error = await badInput(service(vault).set(input));
      expect(error.extensions.argument).toBe(argument);
      expect(error.message).toContain(argument === 'secret' ? '`secret`' : argument);
      for (const secret of [API_KEY, PASSWORD, CLIENT_SECRET]) expect(JSON.stringify(error)).not.toContain(secret);
      expect(error.message).not.toContain(API_KEY);
      expect(error.message).not.toContain(PASSWORD);
    }
    expect(await service(vault).findByReference(provider.id, 'BROKEN')).toBeNull();

    const missing = await service(vault)
      .set({ ...base, providerId: '00000000-0000-4000-8000-000000000000', authType: CredentialAuthType.API_KEY, secret: { api_key: API_KEY } })
      .catch((e: RegistryError) => e);
    expect((missing as RegistryError).extensions.code).toBe('NOT_FOUND');
  });

  it('replaces a credential in place, settings and auth type included', async () => {
    const vault = new CredentialVault(oldKey);
    const expiresAt = new Date('2031-01-01T00:00:00Z');
    const first = await service(vault).set({
      providerId: provider.id,
      reference: 'WEATHER_OAUTH',
      authType: CredentialAuthType.API_KEY,
      secret: { api_key: API_KEY },
    });
    expect(first.settings).toEqual({ var_name: 'X-Api-Key', location: 'header', hint: `••••${API_KEY.slice(-4)}` });
    const second = await service(vault).set(
      {
        providerId: provider.id,
        reference: 'WEATHER_OAUTH',
        authType: CredentialAuthType.OAUTH2,
        secret: { client_id: 'weather-app', client_secret: CLIENT_SECRET },
        settings: { token_url: 'https://auth.example.com/oauth/token', scope: 'forecast:read' },
        expiresAt,
      },
      { principalId: null, requestId: 'req-2' },
    );
    expect(second.id).toBe(first.id);

    const rows = await db.fork().find(Credential, { provider: provider.id, reference: 'WEATHER_OAUTH' });
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row!.authType).toBe(CredentialAuthType.OAUTH2);
    expect(row!.settings).toEqual({
      token_url: 'https://auth.example.com/oauth/token',
      scope: 'forecast:read',
      hint: CLIENT_SECRET.length >= 16 ? `••••${CLIENT_SECRET.slice(-4)}` : '••••',
    });
    expect(row!.rotatedAt).toBeInstanceOf(Date);
    expect(row!.expiresAt?.toISOString()).toBe(expiresAt.toISOString());
    expect(service(vault).reveal(row!)).toEqual({ client_id: 'weather-app', client_secret: CLIENT_SECRET });
    expect(service(vault).redacted(row!).secret).toEqual({ client_id: '[set]', client_secret: '[set]' });

    const entries = await db.fork().find(AuditEntry, { action: 'credential.set', targetId: first.id }, { orderBy: { seq: 'asc' } });
    expect(entries.map((e) => e.details.replaced)).toEqual([false, true]);
    expect(entries[1]!.requestId).toBe('req-2');
  });
});

describe('rotating the master key', () => {
  it('re-encrypts every credential under the new key, once, with one audit entry', async () => {
    const other = await createProvider('news');
    const oldVault = new CredentialVault(oldKey);
    for (let i = 0; i < 5; i += 1) {
      await service(oldVault).set({
        providerId: other.id,
        reference: `NEWS_KEY_${i}`,
        authType: CredentialAuthType.API_KEY,
        secret: { api_key: `${API_KEY}-${i}` },
      });
    }
    const before = await db.fork().find(Credential, {}, { orderBy: { id: 'asc' } });
    const secrets = new Map(before.map((c) => [c.id, service(oldVault).reveal(c)]));
    expect(before.length).toBeGreaterThanOrEqual(8);
    expect(new Set(before.map((c) => c.keyId))).toEqual(new Set([oldKey.id]));

    const newKey = generateMasterKey();
    // The new key alone cannot read what the old one sealed: rotation needs both.
    await expect(service(new CredentialVault(newKey)).rotateMasterKey()).rejects.toThrow(VaultError);

    const rotating = new CredentialVault(newKey, [oldKey]);
    const count = await service(rotating).rotateMasterKey({ requestId: 'rotate-1' }, 3);
    expect(count).toBe(before.length);

    const after = await db.fork().find(Credential, {}, { orderBy: { id: 'asc' } });
    const newOnly = new CredentialVault(newKey);
    for (const credential of after) {
      expect(credential.keyId).toBe(newKey.id);
      expect(service(newOnly).reveal(credential)).toEqual(secrets.get(credential.id));
      const previous = before.find((c) => c.id === credential.id)!;
      expect(credential.ciphertext).not.toBe(previous.ciphertext);
    }
    expect(() => service(oldVault).reveal(after[0]!)).toThrow(VaultError);

    // Rerunning finds nothing left to do and changes nothing.
    expect(await service(rotating).rotateMasterKey()).toBe(0);
    const again = await db.fork().find(Credential, {}, { orderBy: { id: 'asc' } });
    expect(again.map((c) => c.ciphertext)).toEqual(after.map((c) => c.ciphertext));

    const entries = await db.fork().find(AuditEntry, { action: 'credential.rotateMasterKey' });
    expect(entries).toHaveLength(1);
    expect(entries[0]!.requestId).toBe('rotate-1');
    expect(entries[0]!.details).toEqual({
      newKeyId: newKey.id,
      previousKeyIds: { [oldKey.id]: before.length },
      reEncrypted: before.length,
    });
    expect(JSON.stringify(entries[0])).not.toContain(newKey.key.toString('base64'));
    expect(JSON.stringify(entries[0])).not.toContain(oldKey.key.toString('base64'));
  });

  it('finishes an interrupted rotation, leaves credentials already under the new key alone, and rolls back on failure', async () => {
    const own = await createTestDatabase();
    const ownDb = await openDatabase(own.config);
    try {
      const em = ownDb.fork();
      const news = em.create(Provider, {
        name: 'news',
        callTemplateType: CallTemplateType.HTTP,
        callTemplate: { call_template_type: 'http', url: 'https://news.example.com/utcp', http_method: 'GET' },
      });
      await em.flush();
      const keyA = generateMasterKey();
      const keyB = generateMasterKey();
      const store = (key: MasterKey, reference: string) =>
        new CredentialService(ownDb.fork(), new CredentialVault(key)).set({
          providerId: news.id,
          reference,
          authType: CredentialAuthType.API_KEY,
          secret: { api_key: `${reference}-secret` },
        });
      // As an interrupted rotation from A to B would leave them: some rows under A, some under B.
      await store(keyA, 'A1');
      const a2 = await store(keyA, 'A2');
      const b1 = await store(keyB, 'B1');
      const keyIds = async () =>
        Object.fromEntries((await ownDb.fork().find(Credential, {})).map((c) => [c.reference, c.keyId]));
      const rotate = (vault: CredentialVault) => new CredentialService(ownDb.fork(), vault).rotateMasterKey({}, 1);

      // A vault missing a key in use refuses before changing anything.
      await expect(rotate(new CredentialVault(generateMasterKey(), [keyB]))).rejects.toThrow(/does not hold/);
      expect(await keyIds()).toEqual({ A1: keyA.id, A2: keyA.id, B1: keyB.id });

      // A credential that fails to decrypt aborts the whole rotation: nothing is half-done.
      const [row] = await ownDb.fork().execute<{ ciphertext: string }[]>(`select ciphertext from credential where id = ?`, [a2.id]);
      const ciphertext = row!.ciphertext;
      const tampered = Buffer.from(ciphertext, 'base64');
      tampered[tampered.length - 1]! ^= 1;
      await ownDb.fork().execute(`update credential set ciphertext = ? where id = ?`, [tampered.toString('base64'), a2.id]);
      const failure = await rotate(new CredentialVault(keyB, [keyA])).catch((e: Error) => e);
      expect(failure).toBeInstanceOf(VaultError);
      expect((failure as Error).message).toContain(a2.id);
      expect(await keyIds()).toEqual({ A1: keyA.id, A2: keyA.id, B1: keyB.id });
      await ownDb.fork().execute(`update credential set ciphertext = ? where id = ?`, [ciphertext, a2.id]);

      const b1Before = (await ownDb.fork().findOneOrFail(Credential, { id: b1.id })).ciphertext;
      expect(await rotate(new CredentialVault(keyB, [keyA]))).toBe(2);
      expect(await keyIds()).toEqual({ A1: keyB.id, A2: keyB.id, B1: keyB.id });
      const after = await ownDb.fork().find(Credential, {});
      expect(after.find((c) => c.id === b1.id)!.ciphertext).toBe(b1Before);
      const onlyB = new CredentialService(ownDb.fork(), new CredentialVault(keyB));
      expect(after.map((c) => onlyB.reveal(c).api_key).sort()).toEqual(['A1-secret', 'A2-secret', 'B1-secret']);

      const [entry] = await ownDb.fork().find(AuditEntry, { action: 'credential.rotateMasterKey' });
      expect(entry!.details).toEqual({ newKeyId: keyB.id, previousKeyIds: { [keyA.id]: 2 }, reEncrypted: 2 });
      expect(await new AuditService(ownDb.fork()).verify()).toMatchObject({ valid: true, firstBrokenSeq: null });
    } finally {
      await ownDb.close();
      await own.drop();
    }
  });

  it('leaves the audit chain intact', async () => {
    expect(await new AuditService(db.fork()).verify()).toMatchObject({ valid: true, firstBrokenSeq: null });
  });
});
