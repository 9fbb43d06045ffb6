import { Writable } from 'node:stream';
import { createLocalJWKSet, decodeProtectedHeader, generateKeyPair, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// Truncating the audit log: someone who can bypass the database's append-only trigger (a superuser)
// deletes the newest entries. The hash chain alone cannot notice (what is left still links up); the
// signed checkpoints, kept in their own table, in the log and by whoever exported them, can.

const registries: TestRegistry[] = [];
afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
});

async function start(env: Record<string, string> = {}, logStream?: NodeJS.WritableStream): Promise<TestRegistry> {
  const registry = await startRegistry({ env: { REGISTRY_AUDIT_CHECKPOINT_SECONDS: '0', ...env }, logStream });
  registries.push(registry);
  return registry;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const code = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;

interface Checkpoint {
  seq: string;
  hash: string;
  count: number;
  at: string;
  keyId: string;
  jws: string;
}
interface Verification {
  valid: boolean;
  checked: number;
  firstBrokenSeq: string | null;
  entries: number;
  lastSeq: string | null;
  firstMissingSeq: string | null;
  truncated: boolean;
  truncatedAfterSeq: string | null;
  checkpoint: Checkpoint | null;
  checkpointAgeSeconds: number | null;
  unanchoredEntries: number;
  checkpointsChecked: number;
  problems: { kind: string; seq: string | null; message: string }[];
  summary: string;
}

const CHECKPOINT = 'seq hash count at keyId jws';
const VERIFICATION = `valid checked firstBrokenSeq entries lastSeq firstMissingSeq truncated truncatedAfterSeq
  checkpoint { ${CHECKPOINT} } checkpointAgeSeconds unanchoredEntries checkpointsChecked problems { kind seq message } summary`;

async function verify(registry: TestRegistry, checkpoint?: string): Promise<Verification> {
  const res = await registry.graphql<{ verifyAuditLog: Verification }>(
    `query ($checkpoint: String) { verifyAuditLog(checkpoint: $checkpoint) { ${VERIFICATION} } }`,
    { checkpoint },
    bearer(registry.adminToken),
  );
  expect(res.errors).toBeUndefined();
  return res.data!.verifyAuditLog;
}

async function createCheckpoint(registry: TestRegistry): Promise<Checkpoint> {
  const res = await registry.graphql<{ createAuditCheckpoint: { checkpoint: Checkpoint; userErrors: unknown[] } }>(
    `mutation { createAuditCheckpoint { checkpoint { ${CHECKPOINT} } userErrors { code message } } }`,
    undefined,
    bearer(registry.adminToken),
  );
  expect(res.errors).toBeUndefined();
  expect(res.data!.createAuditCheckpoint.userErrors).toEqual([]);
  return res.data!.createAuditCheckpoint.checkpoint;
}

/** Appends audit entries the ordinary way: a new principal and its token each append some. */
async function makeEntries(registry: TestRegistry, principals = 2): Promise<void> {
  for (let i = 0; i < principals; i += 1) await registry.login({ roles: ['viewer'] });
}

/** Runs SQL as a database superuser would: in one transaction with every trigger (the append-only ones too) bypassed. */
async function asSuperuser(registry: TestRegistry, sql: string, params: unknown[] = []): Promise<void> {
  await registry.db.fork().transactional(async (em) => {
    await em.execute('set local session_replication_role = replica');
    await em.execute(sql, params);
  });
}

/** An entry's position in its chain (chain `c` holds sequence numbers c·2^40 + 1 …). */
const position = (seq: bigint) => Number(seq % 2n ** 40n);

async function newestSeq(registry: TestRegistry): Promise<bigint> {
  const [row] = await registry.db.fork().execute<{ seq: string }[]>('select max(seq)::text as seq from audit_entry');
  return BigInt(row!.seq);
}

describe('audit checkpoints', () => {
  it('a fresh registry with no checkpoint verifies valid, and says nothing anchors the log', async () => {
    const registry = await start();
    const result = await verify(registry);
    expect(result).toMatchObject({ valid: true, truncated: false, checkpoint: null, checkpointAgeSeconds: null, checkpointsChecked: 0, problems: [] });
    expect(result.entries).toBeGreaterThan(0);
    expect(result.unanchoredEntries).toBe(result.entries);
    expect(result.summary).toMatch(/no checkpoint/i);
    const listed = await registry.graphql<{ auditCheckpoints: { totalCount: number } }>('{ auditCheckpoints { totalCount } }', undefined, bearer(registry.adminToken));
    expect(listed.data!.auditCheckpoints.totalCount).toBe(0);
  });

  it('names a truncation of the newest entries that a checkpoint covers', async () => {
    const registry = await start();
    await makeEntries(registry);
    const checkpoint = await createCheckpoint(registry);
    expect(BigInt(checkpoint.seq)).toBe(await newestSeq(registry));
    // One process writes one chain, whose entries take its sequence numbers one after another.
    expect(checkpoint.count).toBe(position(BigInt(checkpoint.seq)));
    await makeEntries(registry);

    const before = await verify(registry);
    expect(before).toMatchObject({ valid: true, truncated: false, problems: [] });
    expect(before.checkpoint).toEqual(checkpoint);
    expect(before.unanchoredEntries).toBe(Number((await newestSeq(registry)) - BigInt(checkpoint.seq)));
    expect(before.checkpointAgeSeconds).toBeGreaterThanOrEqual(0);

    // The superuser removes the newest entries, three of which the checkpoint covers.
    const keep = BigInt(checkpoint.seq) - 3n;
    await asSuperuser(registry, 'delete from audit_entry where seq > ?', [keep.toString()]);

    const after = await verify(registry);
    expect(after.valid).toBe(false);
    expect(after.truncated).toBe(true);
    expect(after.truncatedAfterSeq).toBe(keep.toString());
    expect(after.lastSeq).toBe(keep.toString());
    expect(after.problems.map((p) => p.kind)).toContain('TRUNCATED');
    const truncation = after.problems.find((p) => p.kind === 'TRUNCATED')!;
    expect(truncation.message).toContain(`after seq ${keep}`);
    expect(truncation.message).toContain(checkpoint.at);
    expect(after.summary).toMatch(/truncat/i);

    // Writing on over the cut does not hide it: the new entries cannot match the checkpoint's hash.
    await makeEntries(registry, 3);
    const overwritten = await verify(registry);
    expect(overwritten.valid).toBe(false);
    expect(overwritten.problems.map((p) => p.kind)).toContain('CHECKPOINT_MISMATCH');
  });

  it('reports a missing entry in the middle as a gap and a broken link', async () => {
    const registry = await start();
    await makeEntries(registry);
    const newest = await newestSeq(registry);
    const removed = newest - 2n;
    await asSuperuser(registry, 'delete from audit_entry where seq = ?', [removed.toString()]);

    const result = await verify(registry);
    expect(result.valid).toBe(false);
    expect(result.firstMissingSeq).toBe(removed.toString());
    expect(result.firstBrokenSeq).toBe((removed + 1n).toString());
    expect(result.checked).toBe(position(removed) - 1);
    const missing = result.problems.find((p) => p.kind === 'MISSING_ENTRIES')!;
    expect(missing.seq).toBe(removed.toString());
    expect(missing.message).toContain(`seq ${removed}`);
  });

  it('reports a checkpoint row changed or forged behind the registry’s back', async () => {
    const registry = await start();
    await makeEntries(registry, 1);
    const first = await createCheckpoint(registry);
    await makeEntries(registry, 1);
    const second = await createCheckpoint(registry);
    expect((await verify(registry)).valid).toBe(true);

    // The row's columns no longer say what its signature says.
    await asSuperuser(registry, `update audit_checkpoint set hash = ? where seq = ?`, ['f'.repeat(64), first.seq]);
    const changed = await verify(registry);
    expect(changed.valid).toBe(false);
    expect(changed.problems).toContainEqual(expect.objectContaining({ kind: 'CHECKPOINT_INVALID', seq: first.seq }));
    expect(changed.checkpoint?.seq).toBe(second.seq);

    // A checkpoint signed by someone else's key under the registry's key id.
    const foreign = await generateKeyPair('EdDSA');
    const forged = await new SignJWT({ seq: second.seq, hash: second.hash, count: second.count })
      .setProtectedHeader({ alg: 'EdDSA', kid: second.keyId, typ: 'audit-checkpoint+jwt' })
      .setIssuer(registry.security.tokens.issuer)
      .setIssuedAt()
      .sign(foreign.privateKey);
    await asSuperuser(registry, `update audit_checkpoint set jws = ? where seq = ?`, [forged, second.seq]);
    const result = await verify(registry);
    expect(result.valid).toBe(false);
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'CHECKPOINT_INVALID', seq: second.seq }));
    expect(result.checkpoint).toBeNull();
    expect(result.checkpointsChecked).toBe(2);
  });

  it('an exported checkpoint verifies with the published JWKS and catches a truncation whose checkpoint rows were deleted too', async () => {
    const registry = await start();
    await makeEntries(registry);
    const viewer = await registry.login({ roles: ['viewer'] });
    expect(code(await registry.graphql('{ auditCheckpoints { totalCount } }', undefined, bearer(viewer)))).toBe('FORBIDDEN');
    expect(code(await registry.graphql('mutation { createAuditCheckpoint { userErrors { code } } }', undefined, bearer(viewer)))).toBe('FORBIDDEN');
    const checkpoint = await createCheckpoint(registry);

    // Export: an auditor (audit:read) lists the signed checkpoints and keeps them outside the database.
    const auditor = await registry.login({ roles: ['policy_admin'] });
    const listed = await registry.graphql<{ auditCheckpoints: { edges: { node: Checkpoint }[] } }>(
      `{ auditCheckpoints(first: 10) { edges { node { ${CHECKPOINT} } } } }`,
      undefined,
      bearer(auditor),
    );
    expect(listed.errors).toBeUndefined();
    const exported = listed.data!.auditCheckpoints.edges[0]!.node.jws;
    expect(exported).toBe(checkpoint.jws);
    const jwks = createLocalJWKSet((await (await fetch(`${registry.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    const { payload, protectedHeader } = await jwtVerify(exported, jwks, { issuer: registry.security.tokens.issuer, typ: 'audit-checkpoint+jwt' });
    expect(payload).toMatchObject({ seq: checkpoint.seq, hash: checkpoint.hash, count: checkpoint.count });
    expect(protectedHeader.kid).toBe(checkpoint.keyId);

    // A checkpoint is no access token, and an access token is no checkpoint.
    const asToken = await registry.graphql('{ me { scopes } }', undefined, bearer(exported));
    expect(asToken.status).toBe(401);
    const tokenAsCheckpoint = await registry.graphql('query ($c: String) { verifyAuditLog(checkpoint: $c) { valid } }', { c: registry.adminToken }, bearer(registry.adminToken));
    expect(code(tokenAsCheckpoint)).toBe('BAD_USER_INPUT');
    expect(decodeProtectedHeader(registry.adminToken).typ).toBe('at+jwt');

    // The superuser removes the newest entries and every checkpoint row: the database alone now looks fine...
    await makeEntries(registry);
    const keep = BigInt(checkpoint.seq) - 2n;
    await asSuperuser(registry, 'delete from audit_entry where seq > ?', [keep.toString()]);
    await asSuperuser(registry, 'delete from audit_checkpoint');
    const alone = await verify(registry);
    expect(alone).toMatchObject({ valid: true, checkpoint: null, checkpointsChecked: 0 });
    expect(alone.summary).toMatch(/no checkpoint/i);

    // ...but the checkpoint kept outside names the truncation.
    const anchored = await verify(registry, exported);
    expect(anchored).toMatchObject({ valid: false, truncated: true, truncatedAfterSeq: keep.toString() });
    expect(anchored.problems.find((p) => p.kind === 'TRUNCATED')!.message).toContain(`after seq ${keep}`);
  });

  it('writes checkpoints periodically, one per new head, into the table and the log', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const logStream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const registry = await start({ REGISTRY_AUDIT_CHECKPOINT_SECONDS: '1', LOG_LEVEL: 'info' }, logStream);
    const stored = async () =>
      (
        await registry.graphql<{ auditCheckpoints: { edges: { node: Checkpoint }[] } }>(
          `{ auditCheckpoints(first: 50) { edges { node { ${CHECKPOINT} } } } }`,
          undefined,
          bearer(registry.adminToken),
        )
      ).data!.auditCheckpoints.edges.map((e) => e.node);

    await expect.poll(async () => (await stored()).length, { timeout: 20_000, interval: 250 }).toBeGreaterThan(0);
    await makeEntries(registry);
    const head = (await newestSeq(registry)).toString();
    await expect.poll(async () => (await stored()).some((c) => c.seq === head), { timeout: 20_000, interval: 250 }).toBe(true);

    const all = await stored();
    // No two checkpoints for the same head: a tick with nothing new writes nothing.
    expect(new Set(all.map((c) => c.seq)).size).toBe(all.length);
    const logged = lines.map((l) => JSON.parse(l) as { msg?: string; auditCheckpoint?: string }).filter((l) => l.auditCheckpoint);
    for (const checkpoint of all) expect(logged.map((l) => l.auditCheckpoint)).toContain(checkpoint.jws);
    const result = await verify(registry);
    expect(result.valid).toBe(true);
    expect(result.checkpoint).not.toBeNull();
  });

  it.runIf(process.env.TEST_DATABASE_URL)('two replicas on one database take one checkpoint per head between them', { timeout: 90_000 }, async () => {
    // Replicas share their signing keys (required with DATABASE_URL), so each verifies the other's checkpoints.
    const env = { REGISTRY_AUDIT_CHECKPOINT_SECONDS: '1', REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]) };
    const first = await start(env);
    const second = await startRegistry({ shareDatabaseWith: first, env });
    registries.unshift(second);
    const heads = new Set<string>();
    for (let round = 0; round < 3; round += 1) {
      await makeEntries(round % 2 ? first : second, 1);
      const head = (await newestSeq(first)).toString();
      heads.add(head);
      await expect
        .poll(async () => (await first.db.fork().execute<{ n: number }[]>('select count(*)::int as n from audit_checkpoint where seq = ?', [head]))[0]!.n, { timeout: 20_000, interval: 250 })
        .toBeGreaterThan(0);
    }
    // Let both timers tick a few more times with nothing new.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const rows = await first.db.fork().execute<{ seq: string; n: number }[]>('select seq::text as seq, count(*)::int as n from audit_checkpoint group by seq');
    expect(rows.filter((r) => r.n > 1)).toEqual([]);
    for (const head of heads) expect(rows.map((r) => r.seq)).toContain(head);
    expect((await verify(first)).problems).toEqual([]);
  });
});
