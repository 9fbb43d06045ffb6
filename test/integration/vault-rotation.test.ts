import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { rotateMasterKey } from '../../src/cli/rotate-master-key.js';
import { type Config, loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { CredentialAuthType, CredentialService, CredentialVault, parseMasterKey } from '../../src/modules/credential/index.js';
import { TotpService } from '../../src/modules/oauth/index.js';
import { Principal, PrincipalKind } from '../../src/modules/principal/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { ProviderVariableService } from '../../src/modules/variable/index.js';
import { createTestDatabase } from '../helpers/database.js';
import { INLINE_MANUAL, manual } from '../helpers/factories.js';

describe('npm run vault:rotate', () => {
  it('re-encrypts stored credentials, secret provider variables and TOTP second factors under the new master key named in the environment', async () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    // A database that outlives one connection: PostgreSQL, or an embedded one on disk.
    const testDb = await createTestDatabase();
    const dataDir = testDb.config.kind === 'pglite' ? await mkdtemp(join(tmpdir(), 'vault-')) : undefined;
    const env = { REGISTRY_MASTER_KEY: newKey, REGISTRY_PREVIOUS_MASTER_KEYS: oldKey, LOG_LEVEL: 'silent', ...(dataDir ? { REGISTRY_DATA_DIR: dataDir } : {}) };
    const config: Config = { ...loadConfig(env), ...(dataDir ? {} : { database: testDb.config }) };
    try {
      let db = await openDatabase(config.database);
      const { provider } = await new ToolService(db.fork()).importManual('vaulted', manual(), INLINE_MANUAL);
      const before = new CredentialService(db.fork(), new CredentialVault(parseMasterKey(oldKey)));
      await before.set({ providerId: provider.id, reference: 'API', authType: CredentialAuthType.API_KEY, secret: { api_key: 's3cret' } });
      const admin = { principalId: '00000000-0000-4000-8000-000000000001', scopes: new Set<string>(), roles: ['admin'], isAdmin: true, costBudgetPerHour: null };
      await new ProviderVariableService(db.fork(), new CredentialVault(parseMasterKey(oldKey))).set(
        { providerId: provider.id, variables: [{ name: 'NEWS_API_KEY', value: 'news-s3cret', secret: true }, { name: 'REGION', value: 'eu', secret: false }] },
        admin,
      );
      const em = db.fork();
      const operator = em.create(Principal, { name: 'operator', kind: PrincipalKind.USER, clientId: 'operator-mfa' });
      await em.flush();
      const { secret: totpSecret } = await new TotpService(db.fork(), new CredentialVault(parseMasterKey(oldKey))).enrol(operator);
      await db.close();

      // The credential, the one secret variable and the TOTP secret; the plain variable holds nothing sealed.
      expect(await rotateMasterKey(config)).toBe(3);
      expect(await rotateMasterKey(config)).toBe(0);

      db = await openDatabase(config.database);
      const onlyNew = new CredentialService(db.fork(), new CredentialVault(parseMasterKey(newKey)));
      const rotated = await onlyNew.findByReference(provider.id, 'API');
      expect(onlyNew.reveal(rotated!)).toEqual({ api_key: 's3cret' });
      const variables = await new ProviderVariableService(db.fork(), new CredentialVault(parseMasterKey(newKey))).resolve(provider.id, 'vaulted');
      expect(Object.fromEntries(variables.values)).toEqual({ vaulted_NEWS_API_KEY: 'news-s3cret', vaulted_REGION: 'eu' });
      expect(variables.secrets).toEqual(['news-s3cret']);
      const audit = await db.fork().execute<{ details: Record<string, unknown> }[]>(`select details from audit_entry where action = 'provider.rotateVariableKeys'`);
      expect(audit).toEqual([{ details: { newKeyId: parseMasterKey(newKey).id, previousKeyIds: { [parseMasterKey(oldKey).id]: 1 }, reEncrypted: 1 } }]);
      // The second factor still works with only the new key: the code of the current step is accepted.
      const code = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(totpSecret) }).generate();
      expect(await new TotpService(db.fork(), new CredentialVault(parseMasterKey(newKey))).verify(operator.id, code)).toBe(true);
      const totpAudit = await db.fork().execute<{ details: Record<string, unknown> }[]>(`select details from audit_entry where action = 'principal.rotateTotpKeys'`);
      expect(totpAudit).toEqual([{ details: { newKeyId: parseMasterKey(newKey).id, previousKeyIds: { [parseMasterKey(oldKey).id]: 1 }, reEncrypted: 1 } }]);
      await db.close();
    } finally {
      await testDb.drop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses previous keys without the key to rotate to', () => {
    expect(() => loadConfig({ REGISTRY_PREVIOUS_MASTER_KEYS: randomBytes(32).toString('base64') })).toThrow(/REGISTRY_PREVIOUS_MASTER_KEYS/);
  });
});
