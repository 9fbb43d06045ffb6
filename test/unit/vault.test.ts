import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CredentialVault,
  generateMasterKey,
  loadOrCreateMasterKey,
  masterKeyFrom,
  type MasterKey,
  parseMasterKey,
  VaultError,
} from '../../src/modules/credential/index.js';

const SECRET = { api_key: 'sk-live-0123456789abcdef' };

/** Flips one bit of the decoded ciphertext at `index` (negative counts from the end). */
function flipByte(ciphertext: string, index: number): string {
  const bytes = Buffer.from(ciphertext, 'base64');
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = bytes[at]! ^ 0x01;
  return bytes.toString('base64');
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('master keys', () => {
  it('names a key by the first 16 hex characters of its sha-256', () => {
    const bytes = randomBytes(32);
    const key = masterKeyFrom(bytes);
    expect(key.id).toBe(createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    expect(key.key.equals(bytes)).toBe(true);
    expect(() => masterKeyFrom(randomBytes(16))).toThrow(/32 bytes/);
  });

  it('never prints or serializes the key bytes', () => {
    const key = generateMasterKey();
    const base64 = key.key.toString('base64');
    const hex = key.key.toString('hex');
    for (const shown of [JSON.stringify({ key }), inspect({ key }), String(inspect(key))]) {
      expect(shown).toContain(key.id);
      expect(shown).not.toContain(base64);
      expect(shown).not.toContain(hex);
      expect(shown).not.toMatch(/<Buffer/);
    }
  });

  it('parses standard and URL-safe base64, with or without padding', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));
    const standard = bytes.toString('base64');
    expect(standard).toMatch(/[+/]/);
    for (const text of [standard, standard.replace(/=+$/, ''), bytes.toString('base64url'), ` ${standard}\n`]) {
      expect(parseMasterKey(text).key.equals(bytes)).toBe(true);
    }
  });

  it('refuses wrong lengths and non-base64 without echoing the input', () => {
    const cases = [
      randomBytes(16).toString('base64'),
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(64).toString('base64'),
      `${randomBytes(32).toString('base64').slice(0, 40)}!!!!`,
      `sk secret ${randomBytes(24).toString('hex')}`,
      '',
    ];
    for (const input of cases) {
      const error = thrown(() => parseMasterKey(input));
      expect(error.message).toMatch(/master key/);
      if (input) expect(error.message).not.toContain(input.slice(0, 12));
    }
    expect(thrown(() => parseMasterKey(cases[1]!)).message).toMatch(/decodes to 31/);
  });
});

describe('the credential vault', () => {
  const current = generateMasterKey();
  const previous = generateMasterKey();

  it('decrypts what it encrypts, recording the current key id', () => {
    const vault = new CredentialVault(current, [previous]);
    const sealed = vault.encrypt(SECRET);
    expect(sealed.keyId).toBe(current.id);
    expect(vault.keyId).toBe(current.id);
    expect(sealed.ciphertext).not.toContain(SECRET.api_key);
    expect(Buffer.from(sealed.ciphertext, 'base64').toString('latin1')).not.toContain(SECRET.api_key);
    expect(vault.decrypt(sealed.ciphertext, sealed.keyId)).toEqual(SECRET);
  });

  it('uses a fresh IV for every encryption', () => {
    const vault = new CredentialVault(current);
    const ciphertexts = Array.from({ length: 20 }, () => vault.encrypt(SECRET).ciphertext);
    const ivs = ciphertexts.map((c) => Buffer.from(c, 'base64').subarray(0, 12).toString('hex'));
    expect(new Set(ciphertexts).size).toBe(20);
    expect(new Set(ivs).size).toBe(20);
  });

  it('refuses a tampered IV, tag, ciphertext, key id or encoding with a VaultError that holds no secret', () => {
    const vault = new CredentialVault(current, [previous]);
    const { ciphertext, keyId } = vault.encrypt(SECRET);
    const attempts: [string, string][] = [
      [flipByte(ciphertext, 0), keyId], // IV
      [flipByte(ciphertext, 12), keyId], // tag
      [flipByte(ciphertext, -1), keyId], // ciphertext
      [ciphertext, previous.id], // another known key id
      [ciphertext, 'ffffffffffffffff'], // an unknown key id
      [ciphertext.slice(0, -4), keyId], // truncated
      [Buffer.from(ciphertext, 'base64').subarray(0, 20).toString('base64'), keyId], // shorter than iv ‖ tag
      [`${ciphertext}*`, keyId], // not base64
      ['', keyId],
    ];
    for (const [text, id] of attempts) {
      const error = thrown(() => vault.decrypt(text, id));
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).not.toContain(SECRET.api_key);
      expect(error.message).not.toContain(current.key.toString('base64'));
    }
  });

  it('binds the key id as authenticated data: the same key under another id does not open it', () => {
    const sealed = new CredentialVault(current).encrypt(SECRET);
    const alias: MasterKey = { id: 'alias0000000000a', key: current.key };
    const vault = new CredentialVault(alias);
    expect(() => vault.decrypt(sealed.ciphertext, alias.id)).toThrow(VaultError);
  });

  it('decrypts under a previous key during rotation, and not under a key it was never given', () => {
    const old = new CredentialVault(previous).encrypt(SECRET);
    expect(new CredentialVault(current, [previous]).decrypt(old.ciphertext, old.keyId)).toEqual(SECRET);
    const error = thrown(() => new CredentialVault(current).decrypt(old.ciphertext, old.keyId));
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toContain(previous.id);
  });

  it('refuses to encrypt anything but an object of strings', () => {
    const vault = new CredentialVault(current);
    expect(() => vault.encrypt({ api_key: 42 } as unknown as Record<string, string>)).toThrow(VaultError);
    expect(() => vault.encrypt(['x'] as unknown as Record<string, string>)).toThrow(VaultError);
  });
});

describe('the embedded master key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vault-test-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is created once with mode 0600 and read back on the next start', async () => {
    const dataDir = join(dir, 'data');
    const first = await loadOrCreateMasterKey(dataDir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(dataDir, 'master.key'));
    expect((await stat(first.path!)).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(await readFile(first.path!, 'utf8')).id).toBe(first.key.id);

    const second = await loadOrCreateMasterKey(dataDir);
    expect(second.created).toBe(false);
    expect(second.key.id).toBe(first.key.id);
    expect(second.key.key.equals(first.key.key)).toBe(true);
  });

  it('gives concurrent starters the same key', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateMasterKey(dir)));
    expect(new Set(results.map((r) => r.key.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('refuses a corrupt key file without printing its content', async () => {
    const content = `not-a-key-${randomBytes(8).toString('hex')}`;
    await writeFile(join(dir, 'master.key'), content, { mode: 0o600 });
    const error = await loadOrCreateMasterKey(dir).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toContain('master.key');
    expect(error?.message).not.toContain(content);
  });

  it('is ephemeral without a data directory', async () => {
    const a = await loadOrCreateMasterKey();
    const b = await loadOrCreateMasterKey(undefined);
    expect(a).toMatchObject({ created: true, path: null });
    expect(a.key.key).toHaveLength(32);
    expect(a.key.id).not.toBe(b.key.id);
  });
});
