import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

type PrincipalPage = { principals: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: { id: string; name: string; status: string } }[] } };
type Entry = { seq: string; action: string; actorId: string | null; actorName: string | null; targetType: string; targetId: string | null; targetName: string | null };

/** The listing an admin picks principals from, and an audit entry by number with names for its ids. */
describe('principals and audit entries for people', () => {
  let registry: TestRegistry;
  const admin = () => ({ authorization: `Bearer ${registry.adminToken}` });

  beforeAll(async () => {
    registry = await startRegistry({ seed: true });
    for (const name of ['listing alpha', 'listing beta', 'listing gamma']) await registry.createClient({ roles: ['agent'], name });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('lists principals by name a page at a time, filtered by a part of the name and by status', async () => {
    const page = (after: string | null) =>
      registry.graphql<PrincipalPage>(
        'query($after: String) { principals(first: 2, after: $after, filter: { search: "LISTING" }) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name status } } } }',
        { after },
        admin(),
      );
    const first = (await page(null)).data!.principals;
    expect(first.totalCount).toBe(3);
    expect(first.edges.map((e) => e.node.name)).toEqual(['listing alpha', 'listing beta']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await page(first.pageInfo.endCursor)).data!.principals;
    expect(second.edges.map((e) => e.node.name)).toEqual(['listing gamma']);
    expect(second.pageInfo.hasNextPage).toBe(false);

    // A search for the LIKE wildcards matches them literally.
    const wild = await registry.graphql<PrincipalPage>('{ principals(filter: { search: "%" }) { totalCount } }', {}, admin());
    expect(wild.data!.principals.totalCount).toBe(0);

    const beta = first.edges[1]!.node;
    await registry.graphql('mutation($id: ID!) { setPrincipalStatus(input: { principalId: $id, status: DISABLED }) { userErrors { message } } }', { id: beta.id }, admin());
    const disabled = await registry.graphql<PrincipalPage>('{ principals(filter: { status: DISABLED }) { totalCount edges { node { name } } } }', {}, admin());
    expect(disabled.data!.principals.edges.map((e) => e.node.name)).toEqual(['listing beta']);
  });

  it('refuses the listing to non-admins, and refuses a bad cursor or an overlong search with a code', async () => {
    const viewer = await registry.graphql('{ principals { totalCount } }', {}, { authorization: `Bearer ${registry.viewerToken}` });
    expect(viewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const cursor = await registry.graphql('{ principals(after: "bm90LWEtY3Vyc29y") { totalCount } }', {}, admin());
    expect(cursor.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
    const long = await registry.graphql('query($s: String) { principals(filter: { search: $s }) { totalCount } }', { s: 'x'.repeat(201) }, admin());
    expect(long.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('finds an audit entry by its number, naming its actor and its target', async () => {
    const created = await registry.graphql<{ createPolicy: { policy: { id: string } } }>(
      'mutation { createPolicy(input: { name: "named-in-audit", effect: ALLOW, actions: [READ] }) { policy { id } } }',
      {},
      admin(),
    );
    const policyId = created.data!.createPolicy.policy.id;
    const listed = await registry.graphql<{ auditLog: { edges: { node: Entry }[] } }>(
      'query($id: String) { auditLog(first: 1, filter: { targetId: $id }) { edges { node { seq action actorId actorName targetType targetId targetName } } } }',
      { id: policyId },
      admin(),
    );
    const entry = listed.data!.auditLog.edges[0]!.node;
    expect(entry).toMatchObject({ action: 'policy.create', actorName: 'bootstrap admin', targetType: 'policy', targetId: policyId, targetName: 'named-in-audit' });

    const found = await registry.graphql<{ auditEntry: Entry | null }>(
      'query($seq: ID!) { auditEntry(seq: $seq) { seq action actorId actorName targetType targetId targetName } }',
      { seq: entry.seq },
      admin(),
    );
    expect(found.data!.auditEntry).toEqual(entry);
    for (const seq of ['0', '-1', 'abc', '99999999999999']) {
      const missing = await registry.graphql<{ auditEntry: Entry | null }>('query($seq: ID!) { auditEntry(seq: $seq) { seq } }', { seq }, admin());
      expect(missing.errors).toBeUndefined();
      expect(missing.data!.auditEntry).toBeNull();
    }
    const viewer = await registry.graphql('query($seq: ID!) { auditEntry(seq: $seq) { seq } }', { seq: entry.seq }, { authorization: `Bearer ${registry.viewerToken}` });
    expect(viewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
