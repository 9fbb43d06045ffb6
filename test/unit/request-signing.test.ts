import { randomBytes } from 'node:crypto';
import { createVerifier, httpbis } from 'http-message-signatures';
import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentDigest, RequestSigner } from '../../src/security/request-signing.js';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { MAX_TLS_PINS, normaliseTlsPins, pinnedPolicy } from '../../src/security/tls-pins.js';

const PIN = Buffer.alloc(32, 7).toString('base64');

describe('TLS pins', () => {
  it('accepts base64 SHA-256 digests, drops duplicates and refuses anything else naming the position, never the value', () => {
    expect(normaliseTlsPins([PIN, ` ${PIN} `])).toEqual([PIN]);
    expect(normaliseTlsPins(null)).toEqual([]);
    for (const bad of ['sha256/abc', PIN.slice(0, -1), Buffer.alloc(48).toString('base64'), 'x'.repeat(43) + '=']) {
      expect(() => normaliseTlsPins([PIN, bad])).toThrow(/tlsPins\[1\]/);
    }
    const many = Array.from({ length: MAX_TLS_PINS + 1 }, (_, i) => Buffer.alloc(32, i).toString('base64'));
    expect(() => normaliseTlsPins(many)).toThrow(/At most/);
  });

  it('derives one pinned policy per pin set, so pinned connections never share a pool with others', () => {
    const base = { allowHosts: [], allowCidrs: [] };
    const other = Buffer.alloc(32, 9).toString('base64');
    expect(pinnedPolicy(base, [])).toBe(base);
    expect(pinnedPolicy(base, [PIN, other])).toBe(pinnedPolicy(base, [other, PIN]));
    expect(pinnedPolicy(base, [PIN])).not.toBe(pinnedPolicy(base, [other]));
  });
});

describe('request-signing keys', () => {
  it('derives the same key from the same master key, another from another', async () => {
    const master = randomBytes(32);
    const [a, b, c] = await Promise.all([
      RequestSigner.create({ masterKey: master }),
      RequestSigner.create({ masterKey: master }),
      RequestSigner.create({ masterKey: randomBytes(32) }),
    ]);
    expect(a.jwks).toEqual(b.jwks);
    expect(a.keyId).not.toBe(c.keyId);
    expect(a.jwks.keys[0]).not.toHaveProperty('d');
  });

  it('signs with the first of REGISTRY_REQUEST_SIGNING_KEYS and publishes all; refuses keys that are not private Ed25519 JWKs without echoing them', async () => {
    const [first, second] = await Promise.all([generateSigningJwk(), generateSigningJwk()]);
    const signer = await RequestSigner.create({ jwks: JSON.stringify([first, second]), masterKey: randomBytes(32) });
    expect(signer.jwks.keys.map((k) => k.kid)).toEqual([first.kid, second.kid]);
    const headers = new Headers({ signature: 'forged', 'content-digest': 'sha-256=:forged:' });
    const url = new URL('https://api.example.com/v1/items?x=1');
    await signer.signRequest('post', url, headers, '{"a":1}');
    expect(headers.get('content-digest')).toBe(contentDigest('{"a":1}'));
    const ok = await httpbis.verifyMessage(
      {
        keyLookup: async ({ keyid }) => {
          const jwk = signer.jwks.keys.find((k) => k.kid === keyid)!;
          return { id: keyid, algs: ['ed25519'], verify: createVerifier(createPublicKey({ key: jwk as never, format: 'jwk' }), 'ed25519') };
        },
        requiredFields: ['@method', '@target-uri', 'content-digest', 'date'],
        requiredParams: ['created', 'keyid', 'alg', 'nonce'],
      },
      { method: 'POST', url: url.href, headers: Object.fromEntries(headers) },
    );
    expect(ok).toBe(true);
    const { d } = first;
    for (const bad of ['nope', '[]', JSON.stringify([{ ...first, crv: 'P-256' }]), JSON.stringify([{ kty: 'OKP', crv: 'Ed25519', x: first.x }])]) {
      const error = await RequestSigner.create({ jwks: bad, masterKey: randomBytes(32) }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toContain(d!);
    }
  });
});
