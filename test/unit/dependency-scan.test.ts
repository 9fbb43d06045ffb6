import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { type AllowListEntry, decide } from '../../scripts/dependency-scan.js';

const report = async (name: string): Promise<unknown> =>
  JSON.parse(await readFile(new URL(`../fixtures/npm-audit/${name}.json`, import.meta.url), 'utf8'));

const TODAY = '2026-12-06';

const accepted = (overrides: Partial<AllowListEntry> = {}): AllowListEntry => ({
  id: 'GHSA-aaaa-bbbb-cccc',
  package: 'example-parser',
  reason: 'only parses the registry’s own configuration, never input from callers',
  date: '2026-12-01',
  expires: '2027-03-01',
  ...overrides,
});

describe('the dependency scan', () => {
  it('passes a report with nothing found', async () => {
    expect(decide(await report('clean'), [], TODAY)).toMatchObject({ ok: true, failing: [], errors: [] });
  });

  it('fails a high advisory in a production dependency, naming it once, and ignores a moderate one', async () => {
    const decision = decide(await report('high'), [], TODAY);
    expect(decision.ok).toBe(false);
    expect(decision.failing).toEqual([expect.objectContaining({ id: 'GHSA-aaaa-bbbb-cccc', package: 'example-parser', severity: 'high' })]);
  });

  it('passes a high advisory the allow-list accepts, by GHSA id or by npm advisory number', async () => {
    for (const entry of [accepted(), accepted({ id: '1101234' })]) {
      const decision = decide(await report('high'), [entry], TODAY);
      expect(decision).toMatchObject({ ok: true, failing: [], expired: [] });
      expect(decision.allowed.map((f) => f.id)).toEqual(['GHSA-aaaa-bbbb-cccc']);
    }
  });

  it('accepts an entry on its expiry day and fails it the day after, even when the advisory is gone', async () => {
    expect(decide(await report('high'), [accepted({ expires: TODAY })], TODAY).ok).toBe(true);
    const expired = decide(await report('high'), [accepted({ expires: '2026-12-05' })], TODAY);
    expect(expired).toMatchObject({ ok: false, expired: [expect.objectContaining({ id: 'GHSA-aaaa-bbbb-cccc' })] });
    expect(expired.failing.map((f) => f.id)).toEqual(['GHSA-aaaa-bbbb-cccc']);
    expect(decide(await report('clean'), [accepted({ expires: '2026-12-05' })], TODAY).ok).toBe(false);
  });

  it('does not let an entry for another package accept the advisory', async () => {
    expect(decide(await report('high'), [accepted({ package: 'something-else' })], TODAY).ok).toBe(false);
  });

  it('fails an allow-list entry without a reason or with a malformed date', async () => {
    const decision = decide(await report('clean'), [accepted({ reason: '' }), accepted({ expires: 'next year' })], TODAY);
    expect(decision.ok).toBe(false);
    expect(decision.errors).toEqual(['allow-list entry 1 has no reason', 'allow-list entry 2 (GHSA-aaaa-bbbb-cccc): expires must be a YYYY-MM-DD date']);
  });

  it('fails when npm could not produce a report (the advisory service refused the request)', async () => {
    const decision = decide(await report('unreachable'), [], TODAY);
    expect(decision.ok).toBe(false);
    expect(decision.errors).toEqual([expect.stringContaining('npm audit produced no report: 405 Method Not Allowed')]);
    expect(decision.noReport).toBe(true);
    expect(decide(await report('high'), [], TODAY).noReport).toBe(false);
  });

  it('ships an allow-list whose every entry is complete and unexpired', async () => {
    const { entries } = JSON.parse(await readFile(new URL('../../.ci/audit-allowlist.json', import.meta.url), 'utf8')) as { entries: AllowListEntry[] };
    const decision = decide(await report('clean'), entries, new Date().toISOString().slice(0, 10));
    expect(decision.errors).toEqual([]);
    expect(decision.expired).toEqual([]);
  });
});
