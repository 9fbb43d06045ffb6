import { Migration } from '@mikro-orm/migrations';

/**
 * The audit export's order: each entry records the id of the transaction that wrote it (`txid`), plus
 * a shift kept in `audit_txid_shift`. The export reads entries in (txid, seq) order and only those
 * whose transaction is older than every one still running, so an entry committed after a later one
 * (another writer's chain, a long transaction) is never skipped by a consumer's cursor. Transaction
 * ids belong to the PostgreSQL cluster: after a restore into another cluster, whose counter may be
 * behind the log's, the registry raises the shift when it opens the database, so new entries still
 * sort after the restored ones. Entries written before this migration share its transaction id and
 * keep their sequence order. Not part of the entry's hash: it says when the entry committed, not what.
 */
export class Migration20261207100200_audit_export extends Migration {

  override name = 'Migration20261207100200_audit_export';

  override up(): void | Promise<void> {
    this.addSql(`create table "audit_txid_shift" ("id" int not null default 1 check ("id" = 1), "shift" bigint not null default 0, primary key ("id"));`);
    this.addSql(`insert into "audit_txid_shift" ("id", "shift") values (1, 0);`);
    this.addSql(`create function "audit_txid"() returns bigint language sql volatile as $$ select pg_current_xact_id()::text::bigint + coalesce((select "shift" from "audit_txid_shift" where "id" = 1), 0) $$;`);
    this.addSql(`alter table "audit_entry" add column "txid" bigint not null default "audit_txid"();`);
    this.addSql(`create index "audit_entry_txid_seq_index" on "audit_entry" ("txid", "seq");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "audit_entry_txid_seq_index";`);
    this.addSql(`alter table "audit_entry" drop column if exists "txid";`);
    this.addSql(`drop function if exists "audit_txid"();`);
    this.addSql(`drop table if exists "audit_txid_shift";`);
  }

}
