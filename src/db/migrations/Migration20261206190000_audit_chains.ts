import { Migration } from '@mikro-orm/migrations';

/**
 * One audit chain per writer: `audit_chain` holds each chain's head (its newest sequence number and
 * hash), moved by the same statement that appends an entry, so an append is one statement and takes
 * only its own chain's row lock. The log written so far becomes chain 0. Listing orders by time.
 */
export class Migration20261206190000_audit_chains extends Migration {

  override name = 'Migration20261206190000_audit_chains';

  override up(): void | Promise<void> {
    this.addSql(`create table "audit_chain" ("id" int not null, "seq" bigint not null, "prev_hash" varchar(64) not null, "hash" varchar(64) not null, primary key ("id"));`);
    this.addSql(`insert into "audit_chain" ("id", "seq", "prev_hash", "hash") select 0, "seq", "prev_hash", "hash" from "audit_entry" order by "seq" desc limit 1;`);
    this.addSql(`create index "audit_entry_at_seq_index" on "audit_entry" ("at", "seq");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "audit_entry_at_seq_index";`);
    this.addSql(`drop table if exists "audit_chain" cascade;`);
  }

}
