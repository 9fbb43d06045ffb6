import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { secretKindsIn, secretKindsInValue, signatureOf } from '../../src/modules/alert/index.js';

// Shapes of real credentials, assembled so no scanner mistakes this file for a leak.
const jwtPart = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWT = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: '1234567890', name: 'x' })}.${'s'.repeat(43)}`;
const SAMPLES: [string, string][] = [
  ['private_key', ['-----BEGIN', 'RSA PRIVATE KEY-----\nMIIEow=='].join(' ')],
  ['private_key', ['-----BEGIN', 'OPENSSH PRIVATE KEY-----'].join(' ')],
  ['private_key', ['-----BEGIN', 'PRIVATE KEY-----'].join(' ')],
  ['aws_access_key_id', 'AKIA' + 'IOSFODNN7EXAMPLE'],
  ['aws_access_key_id', 'key=ASIA' + 'Y34FZKBOKMUTVV7A;'],
  ['jwt', `Bearer ${JWT}`],
  ['github_token', 'ghp_' + 'a'.repeat(36)],
  ['github_token', 'github_pat_' + 'A1b2'.repeat(14)],
  ['slack_token', 'xoxb-' + '1234567890-abcdefghij'],
  ['stripe_key', 'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc'],
  ['openai_key', 'sk-proj-' + 'Ab3'.repeat(15)],
  ['google_api_key', 'AIza' + 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'],
];

describe('the secret-shaped argument detector', () => {
  it.each(SAMPLES)('recognises a %s', (kind, text) => {
    expect(secretKindsIn(text)).toEqual([kind]);
  });

  it('passes ordinary arguments: words, UUIDs, hashes, short prefixes, base64 that is not a token, e-mail addresses', () => {
    for (const text of [
      'hello world',
      'c0a80101-7d2e-4b8f-9a11-2f6c3b1d0e55',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'sk-short',
      'eyJhbGciOi',
      'AKIA is the prefix of AWS access key ids',
      Buffer.from('just some text that is long enough').toString('base64'),
      'someone@example.com',
      'SELECT * FROM users WHERE id = 1',
      'https://api.example.com/v1/lookup?q=widgets',
    ]) {
      expect(secretKindsIn(text), text).toEqual([]);
    }
  });

  it('looks through nested objects, arrays and keys, except values the schema marks secret, within bounds', () => {
    const aws = 'AKIA' + 'IOSFODNN7EXAMPLE';
    expect(secretKindsInValue({ a: [{ b: { c: aws } }], [JWT]: 1 })).toEqual(['aws_access_key_id', 'jwt']);
    expect(secretKindsInValue({ token: aws }, new Set([aws]))).toEqual([]);
    let deep: unknown = aws;
    for (let i = 0; i < 100; i += 1) deep = [deep];
    expect(secretKindsInValue(deep)).toEqual([]);
    expect(secretKindsInValue(Array.from({ length: 2000 }, (_, i) => (i === 1500 ? aws : 'x')))).toEqual([]);
  });
});

describe('the webhook signature', () => {
  it('is HMAC-SHA256 over "<timestamp>.<body>", as t=…,v1=<hex>', () => {
    const mac = createHmac('sha256', 'secret').update('1700000000.{"a":1}').digest('hex');
    expect(signatureOf('secret', 1700000000, '{"a":1}')).toBe(`t=1700000000,v1=${mac}`);
  });
});
