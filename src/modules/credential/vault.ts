import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';

/** A 256-bit master key and its public id. */
export interface MasterKey {
  /** First 16 hex characters of the key's sha-256: names the key, reveals nothing about it. */
  readonly id: string;
  readonly key: Buffer;
}

/** A credential could not be decrypted: unknown key id, tampered or malformed ciphertext. Never carries plaintext. */
export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';
/** The additional authenticated data is this label and the key id: a ciphertext only opens under the id it was sealed for. */
const AAD_LABEL = 'tool-registry/credential/v1';
const KEY_FILE = 'master.key';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Wraps 32 key bytes (copied) as a {@link MasterKey}. The result prints and serializes as its id
 * only, so logging a configuration object does not leak the key. Throws unless exactly 32 bytes.
 */
export function masterKeyFrom(key: Buffer): MasterKey {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new Error(`A master key must be exactly ${KEY_BYTES} bytes`);
  }
  const bytes = Buffer.from(key);
  const id = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const hidden = () => ({ id, key: '[redacted]' });
  return Object.freeze({ id, key: bytes, toJSON: hidden, [inspect.custom]: hidden });
}

/**
 * Decodes a master key given as base64 (standard or URL-safe alphabet, padding optional) of 32
 * bytes, as in `openssl rand -base64 32`. Throws an Error that never contains the value.
 */
export function parseMasterKey(base64: string): MasterKey {
  const text = typeof base64 === 'string' ? base64.trim() : '';
  const standard = text.replaceAll('-', '+').replaceAll('_', '/').replace(/=+$/, '');
  const bytes = Buffer.from(standard, 'base64');
  // Node's decoder skips characters it does not know; re-encoding proves every character counted.
  if (!BASE64.test(text) || bytes.toString('base64').replace(/=+$/, '') !== standard) {
    throw new Error('The master key is not valid base64; generate one with `openssl rand -base64 32`');
  }
  if (bytes.length !== KEY_BYTES) {
    throw new Error(
      `The master key must decode to ${KEY_BYTES} bytes but decodes to ${bytes.length}; generate one with \`openssl rand -base64 32\``,
    );
  }
  return masterKeyFrom(bytes);
}

/** A fresh random master key. */
export function generateMasterKey(): MasterKey {
  return masterKeyFrom(randomBytes(KEY_BYTES));
}

/** The master key of embedded mode; `created` is true when it did not exist before (the caller should warn). */
export interface LoadedMasterKey {
  key: MasterKey;
  created: boolean;
  /** The key file, or null for an ephemeral key. */
  path: string | null;
}

/**
 * Embedded mode: reads the base64 key in `<dataDir>/master.key`, or creates that file (mode 0600)
 * with a fresh key. The file is written aside and linked into place, so a concurrent starter never
 * reads a half-written key and never replaces an existing one. Without `dataDir`, returns an
 * ephemeral key (credentials stored under it are unreadable after a restart).
 * Rejects when the directory is not writable or the file does not hold a valid key (the message
 * names the file, never its content).
 */
export async function loadOrCreateMasterKey(dataDir?: string): Promise<LoadedMasterKey> {
  if (!dataDir) return { key: generateMasterKey(), created: true, path: null };
  const path = join(dataDir, KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return { key: existing, created: false, path };

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = generateMasterKey();
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(`${key.key.toString('base64')}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another process created it first: use theirs.
    const theirs = await readKeyFile(path);
    if (!theirs) throw error;
    return { key: theirs, created: false, path };
  } finally {
    await unlink(temporary).catch(() => {});
  }
  return { key, created: true, path };
}

/** The key in `path`, or null when the file does not exist. */
async function readKeyFile(path: string): Promise<MasterKey | null> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return parseMasterKey(content);
  } catch (error) {
    throw new Error(`${path} does not hold a valid master key: ${(error as Error).message}`);
  }
}

/** Additional authenticated data binding a ciphertext to its key id. */
function aad(keyId: string): Buffer {
  return Buffer.from(`${AAD_LABEL}\0${keyId}`, 'utf8');
}

function isSecret(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((field) => typeof field === 'string')
  );
}

/**
 * Seals and opens credential secrets with AES-256-GCM. Encrypts under the current master key;
 * decrypts under the current or any previous one (so a key rotation can re-encrypt). The
 * ciphertext is base64(iv ‖ tag ‖ ciphertext) with a fresh 12-byte IV per call; the key id is
 * authenticated data, so a ciphertext presented under another id does not open.
 */
export class CredentialVault {
  readonly #current: MasterKey;
  readonly #keys: ReadonlyMap<string, Buffer>;

  /** Throws when a key is not 32 bytes. */
  constructor(current: MasterKey, previous: readonly MasterKey[] = []) {
    for (const key of [current, ...previous]) {
      if (!Buffer.isBuffer(key.key) || key.key.length !== KEY_BYTES) {
        throw new Error(`Master key ${key.id} must be exactly ${KEY_BYTES} bytes`);
      }
    }
    this.#current = current;
    this.#keys = new Map([...previous, current].map((k) => [k.id, k.key]));
  }

  /** Id of the key new ciphertexts are sealed under. */
  get keyId(): string {
    return this.#current.id;
  }

  /** Whether ciphertexts under `keyId` can be decrypted. */
  knows(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Seals `secret` (an object of strings) under the current key. Throws a VaultError for any other shape. */
  encrypt(secret: Record<string, string>): { ciphertext: string; keyId: string } {
    if (!isSecret(secret)) throw new VaultError('A secret must be an object of string values');
    const keyId = this.#current.id;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(keyId));
    const sealed = Buffer.concat([cipher.update(JSON.stringify(secret), 'utf8'), cipher.final()]);
    return { ciphertext: Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64'), keyId };
  }

  /**
   * Opens a ciphertext sealed under `keyId`. Throws a VaultError, without any secret in its
   * message, for an unknown key id, malformed input or a failed authentication (tampering).
   */
  decrypt(ciphertext: string, keyId: string): Record<string, string> {
    const key = typeof keyId === 'string' ? this.#keys.get(keyId) : undefined;
    if (!key) throw new VaultError(`Unknown master key id ${JSON.stringify(String(keyId).slice(0, 64))}`);
    const bytes = typeof ciphertext === 'string' ? Buffer.from(ciphertext, 'base64') : Buffer.alloc(0);
    if (
      typeof ciphertext !== 'string' ||
      !/^[A-Za-z0-9+/]*={0,2}$/.test(ciphertext) ||
      bytes.toString('base64') !== ciphertext ||
      bytes.length <= IV_BYTES + TAG_BYTES
    ) {
      throw new VaultError('Malformed credential ciphertext');
    }
    const decipher = createDecipheriv(CIPHER, key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(keyId));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    let plaintext: string;
    try {
      plaintext = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new VaultError(`Credential ciphertext failed authentication under master key ${keyId} (tampered or sealed for another key)`);
    }
    let secret: unknown;
    try {
      secret = JSON.parse(plaintext);
    } catch {
      secret = undefined;
    }
    if (!isSecret(secret)) throw new VaultError('Decrypted credential is not an object of strings');
    return secret;
  }
}
