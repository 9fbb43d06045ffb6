import { Migration } from '@mikro-orm/migrations';

/**
 * The audit export's order: each entry records the id of the transaction that wrote it (`txid`,
 * `xid8`, never wraps). The export reads entries in (txid, seq) order and only those whose
 * transaction id is below the oldest one still running, so an entry committed after a later one
 * (another writer's chain, a long transaction) is never skipped by a consumer's cursor. Entries
 * written before this migration share its transaction id and keep their sequence order. Not part of
 * the entry's hash: it says when the entry committed, not what it says.
 */
export class Migration20261207100200_audit_export extends Migration {

  override name = 'Migration20261207100200_audit_export';

  override up(): void | Promise<void> {
    this.addSql(`alter table "audit_entry" add column "txid" xid8 not null default pg_current_xact_id();`);
    this.addSql(`create index "audit_entry_txid_seq_index" on "audit_entry" ("txid", "seq");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "audit_entry_txid_seq_index";`);
    this.addSql(`alter table "audit_entry" drop column if exists "txid";`);
  }

}
