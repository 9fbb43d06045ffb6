import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { chainStart, writerChain } from '../../src/modules/audit/audit.chains.js';
import { AuditOutcome, AuditService } from '../../src/modules/audit/index.js';
import { startRegistry, type TestClient, type TestRegistry } from '../helpers/registry.js';

// The SIEM export: GET /audit/export streams the audit log as JSON lines a consumer resumes by
// cursor, and verifies by recomputing each entry's hash and its link to the one before in its chain.

interface Line {
  cursor: string;
  chain: number;
  position: number;
  seq: string;
  at: string;
  actorId: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  outcome: string;
  requestId: string | null;
  sourceIp: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

let registry: TestRegistry;
let auditor: string;
let client: TestClient;
beforeAll(async () => {
  registry = await startRegistry({ env: { REGISTRY_AUDIT_CHECKPOINT_SECONDS: '0' } });
  auditor = await registry.login({ scopes: ['audit:read'] });
  client = await registry.createClient({ roles: ['viewer'] });
});
afterAll(async () => {
  await registry?.close();
});

async function exportPage(params: Record<string, string>, token = auditor) {
  const response = await fetch(`${registry.url}/audit/export?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  const ok = response.status === 200;
  return {
    status: response.status,
    headers: response.headers,
    lines: ok ? text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line) : [],
    body: ok ? null : (JSON.parse(text) as { error: { code: string; message: string } }),
  };
}

/** Everything after `after`, page by page, as a consumer that stores the cursor of each page would read it. */
async function drain(after: string | undefined, limit = 3): Promise<{ lines: Line[]; cursor: string | undefined }> {
  const lines: Line[] = [];
  let cursor = after;
  for (;;) {
    const page = await exportPage({ ...(cursor ? { after: cursor } : {}), limit: String(limit) });
    expect(page.status).toBe(200);
    lines.push(...page.lines);
    if (page.lines.length > 0) expect(page.headers.get('audit-export-cursor')).toBe(page.lines.at(-1)!.cursor);
    cursor = page.headers.get('audit-export-cursor') ?? cursor;
    if (page.lines.length < limit) return { lines, cursor };
  }
}

/**
 * Drains from `after` until an entry with `action` has come: the export holds an entry back while any
 * transaction of the cluster that began before it is open (other tests' too), so it may come a moment late.
 */
async function drainUntil(after: string | undefined, action: string | ((lines: Line[]) => boolean), limit = 1000): Promise<{ lines: Line[]; cursor: string | undefined }> {
  const done = typeof action === 'string' ? (lines: Line[]) => lines.some((l) => l.action === action) : action;
  const lines: Line[] = [];
  let cursor = after;
  for (let attempt = 0; attempt < 300 && (attempt === 0 || !done(lines)); attempt += 1) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    const page = await drain(cursor, limit);
    lines.push(...page.lines);
    cursor = page.cursor;
  }
  return { lines, cursor };
}

/** A token issued: a `token.issue` audit entry. */
const auditedEvent = async () => {
  await registry.tokenFor(client);
};

/** Checks every line as a SIEM would: the hash covers the content, and each entry links to the one before in its chain. */
function verifyAsConsumer(lines: Line[]) {
  const last = new Map<number, Line>();
  for (const line of lines) {
    const { at, actorId, action, targetType, targetId, outcome, requestId, sourceIp, details } = line;
    const body = canonicalize({ at, actorId, action, targetType, targetId, outcome, requestId, sourceIp, details })!;
    expect(createHash('sha256').update(line.prevHash).update(body).digest('hex')).toBe(line.hash);
    const before = last.get(line.chain);
    if (before) {
      expect(line.position).toBe(before.position + 1);
      expect(line.prevHash).toBe(before.hash);
    }
    last.set(line.chain, line);
  }
}

describe('the audit export', () => {
  it('streams every entry once, in pages a consumer resumes by cursor, each verifiable by its hash and chain link', async () => {
    for (let i = 0; i < 4; i += 1) await auditedEvent();
    const [row] = await registry.db.fork().execute<{ count: number }[]>(`select count(*)::int as count from audit_entry`);
    const count = row!.count;
    // In pages of 3: the consumer resumes by cursor between them.
    const { lines, cursor } = await drainUntil(undefined, (got) => got.length >= count, 3);
    expect(lines).toHaveLength(count);
    expect(new Set(lines.map((l) => l.seq)).size).toBe(count);
    expect(lines.filter((l) => l.action === 'token.issue').length).toBeGreaterThanOrEqual(4);
    verifyAsConsumer(lines);

    // Caught up: the same cursor comes back with nothing; new entries, and only those, come next.
    const idle = await exportPage({ after: cursor! });
    expect(idle.lines).toEqual([]);
    expect(idle.headers.get('audit-export-cursor')).toBe(cursor);
    await auditedEvent();
    const next = await drainUntil(cursor, 'token.issue');
    expect(next.lines.map((l) => l.action)).toContain('token.issue');
    const before = new Set(lines.map((l) => l.seq));
    expect(next.lines.filter((l) => before.has(l.seq))).toEqual([]);
    verifyAsConsumer([...lines, ...next.lines]);
  });

  it('in follow mode, answers a waiting request with the entry written while it waits', async () => {
    const { cursor } = await drain(undefined, 1000);
    const waiting = exportPage({ after: cursor!, wait: '30' });
    await auditedEvent();
    const page = await waiting;
    expect(page.status).toBe(200);
    expect(page.lines.map((l) => l.action)).toContain('token.issue');
  });

  it('refuses a caller without a token, without audit:read, a forged cursor and an out-of-range limit', async () => {
    const anonymous = await fetch(`${registry.url}/audit/export`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');

    const viewer = await exportPage({}, registry.viewerToken);
    expect(viewer.status).toBe(403);
    expect(viewer.headers.get('www-authenticate')).toContain('scope="audit:read"');
    expect(viewer.body!.error.code).toBe('FORBIDDEN');

    const forged = Buffer.from(JSON.stringify(['audit-export', '1; drop table audit_entry', '1'])).toString('base64url');
    for (const after of [forged, 'not-a-cursor', Buffer.from(JSON.stringify(['audit', '1', '1'])).toString('base64url')]) {
      const page = await exportPage({ after });
      expect(page.status).toBe(400);
      expect(page.body!.error.code).toBe('INVALID_CURSOR');
    }
    for (const limit of ['0', '1001', '-1', 'ten']) {
      const page = await exportPage({ limit });
      expect(page.status).toBe(400);
      expect(page.body!.error.code).toBe('BAD_USER_INPUT');
    }
  });

  // Another writer's chain commits an entry after this registry's later one: a cursor by sequence
  // number or by time would have moved past it. The export holds entries back until every
  // transaction that started before them has ended, so the consumer gets both.
  it.runIf(process.env.TEST_DATABASE_URL)('loses nothing when another writer commits an earlier entry after a later one', async () => {
    const { cursor } = await drain(undefined, 1000);
    const other = writerChain === 1n ? 2n : 1n;
    const { sql, params } = AuditService.appendSql({ action: 'test.other_writer', targetType: 'test', outcome: AuditOutcome.SUCCESS });
    params[0] = Number(other);
    params[1] = chainStart(other).toString();
    let n = 0;
    const statement = `with ${sql.slice(2)}`.replace(/\?/g, () => `$${++n}`);

    const client = new pg.Client({ connectionString: (registry.config.database as { url: string }).url });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(statement, params);
      await auditedEvent(); // commits while the other writer's entry is still open
      expect((await exportPage({ after: cursor! })).lines).toEqual([]);
      await client.query('commit');
    } finally {
      await client.end();
    }

    const { lines } = await drainUntil(cursor, 'token.issue');
    expect(lines[0]!.action).toBe('test.other_writer');
    expect(lines[0]!.chain).toBe(Number(other));
    verifyAsConsumer(lines);
  });

  // A log restored into another PostgreSQL cluster: its entries carry transaction ids the new
  // cluster's counter has not reached. Opening the database shifts new ids past them, so a consumer
  // that had read up to the restored entries still gets every new one.
  it.runIf(process.env.TEST_DATABASE_URL)('keeps new entries after restored ones when the cluster’s transaction counter is behind the log', async () => {
    const em = registry.db.fork();
    // As if written on a cluster a million transactions ahead, then restored here.
    await em.execute(`update audit_txid_shift set shift = shift + 1000000 where id = 1`);
    await auditedEvent();
    await em.execute(`update audit_txid_shift set shift = shift - 1000000 where id = 1`);

    const reopened = await openDatabase(registry.config.database);
    await reopened.close();
    const consumer = await drainUntil(undefined, 'token.issue');
    expect(consumer.lines.at(-1)!.action).toBe('token.issue');
    await auditedEvent();
    const next = await drainUntil(consumer.cursor, 'token.issue');
    expect(next.lines.map((l) => l.action)).toContain('token.issue');
  });
});
