import { type EntityName, type FilterQuery, LockMode } from '@mikro-orm/core';
import { type EntityManager } from '@mikro-orm/postgresql';
import { type CredentialVault, VaultError } from './vault.js';

/** A row sealed by the vault: its id, the ciphertext and the id of the key that sealed it. */
interface SealedRow {
  id: string;
  keyId?: string | null;
  ciphertext?: string | null;
}

/** What a re-sealing did: how many rows in all, and how many were under each previous key id. */
export interface Resealed {
  count: number;
  previousKeyIds: Record<string, number>;
}

/**
 * Re-encrypts under the vault's current key every row of `table` (matching `where`, and in SQL
 * `whereSql`) sealed under another key, inside the caller's transaction, in batches of rows locked
 * in id order; `open` decrypts a row (a VaultError names it, never its value) and `seal` stores the
 * re-encrypted value. Rows already under the current key are skipped, so a rerun finishes an
 * interrupted rotation. Throws a VaultError when rows are sealed under a key the vault does not hold
 * (`label` names them) or a row fails to decrypt; the caller's transaction then rolls back.
 */
export async function resealUnderCurrentKey<T extends SealedRow, V>(
  em: EntityManager,
  vault: CredentialVault,
  rows: {
    entity: EntityName<T>;
    table: string;
    where?: FilterQuery<T>;
    whereSql?: string;
    label: string;
    batchSize: number;
    open(row: T): V;
    seal(row: T, value: V): void;
  },
): Promise<Resealed> {
  const current = vault.keyId;
  const stale = await em.execute<{ keyId: string }[]>(
    `select distinct key_id as "keyId" from ${rows.table} where ${rows.whereSql ?? 'true'} and key_id <> ? order by key_id`,
    [current],
  );
  const resealed: Resealed = { count: 0, previousKeyIds: {} };
  if (stale.length === 0) return resealed;
  const unknown = stale.map((row) => row.keyId).filter((keyId) => !vault.knows(keyId));
  if (unknown.length) throw new VaultError(`${rows.label} are sealed under master keys this vault does not hold: ${unknown.join(', ')}`);
  let afterId = '';
  for (;;) {
    const where = { ...(rows.where as object), keyId: { $ne: current }, ...(afterId ? { id: { $gt: afterId } } : {}) } as FilterQuery<T>;
    const batch = await em.find(rows.entity, where, { orderBy: { id: 'asc' } as never, limit: rows.batchSize, lockMode: LockMode.PESSIMISTIC_WRITE });
    for (const row of batch) {
      const value = rows.open(row);
      resealed.previousKeyIds[row.keyId!] = (resealed.previousKeyIds[row.keyId!] ?? 0) + 1;
      rows.seal(row, value);
    }
    await em.flush();
    resealed.count += batch.length;
    if (batch.length < rows.batchSize) return resealed;
    afterId = batch.at(-1)!.id;
    em.clear();
  }
}
