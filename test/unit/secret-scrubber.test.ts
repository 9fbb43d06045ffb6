import { describe, expect, it } from 'vitest';
import { SecretScrubber } from '../../src/common/secret-scrubber.js';

const SECRET = 'k3y+/= ~é-0123456789';

describe('SecretScrubber', () => {
  it('finds a secret embedded in longer base64 and base64url text at each of the 3 byte alignments', () => {
    const scrubber = new SecretScrubber([SECRET]);
    for (let lead = 0; lead < 3; lead++) {
      for (const encoding of ['base64', 'base64url'] as const) {
        const text = Buffer.from(`${'x'.repeat(lead)}{"authorization":"Bearer ${SECRET}","more":"after"}`).toString(encoding);
        const scrubbed = scrubber.text(text);
        expect(scrubbed, `${encoding} lead ${lead}`).toContain('[REDACTED]');
        const decoded = Buffer.from(scrubbed.split('[REDACTED]').join(''), encoding).toString('latin1');
        expect(decoded).not.toContain('0123456789');
      }
    }
  });

  it('finds raw, JSON-escaped, URL- and form-encoded, twice URL-encoded and hex forms, in strings and object keys', () => {
    const scrubber = new SecretScrubber([SECRET]);
    const forms = [
      SECRET,
      JSON.stringify(SECRET).slice(1, -1),
      encodeURIComponent(SECRET),
      new URLSearchParams({ k: SECRET }).toString().slice(2),
      encodeURIComponent(new URLSearchParams({ k: SECRET }).toString().slice(2)),
      Buffer.from(SECRET).toString('hex'),
      Buffer.from(SECRET).toString('hex').toUpperCase(),
    ];
    for (const form of forms) expect(scrubber.text(`before ${form} after`), form).toBe('before [REDACTED] after');
    expect(scrubber.value({ [SECRET]: [{ deep: `x${SECRET}` }], n: 1 })).toEqual({ '[REDACTED]': [{ deep: 'x[REDACTED]' }], n: 1 });
  });

  it('follows values added later, and ignores values shorter than 4 characters', () => {
    const values = ['abc'];
    const scrubber = new SecretScrubber(values, '[x]');
    expect(scrubber.text('abc token-value')).toBe('abc token-value');
    values.push('token-value');
    expect(scrubber.text('abc token-value')).toBe('abc [x]');
  });
});
