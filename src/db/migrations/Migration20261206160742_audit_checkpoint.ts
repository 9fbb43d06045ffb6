import { Migration } from '@mikro-orm/migrations';

export class Migration20261206160742_audit_checkpoint extends Migration {

  override name = 'Migration20261206160742_audit_checkpoint';

  override up(): void | Promise<void> {
    this.addSql(`create table "audit_checkpoint" ("id" bigserial primary key, "seq" bigint not null, "hash" varchar(64) not null, "count" bigint not null, "at" timestamptz not null, "key_id" varchar(200) not null, "jws" text not null);`);
    this.addSql(`create index "audit_checkpoint_seq_index" on "audit_checkpoint" ("seq");`);

    this.addSql(`create or replace function "audit_checkpoint_audit_checkpoint_append_only_fn"() returns trigger as \$\$ begin raise exception 'audit_checkpoint is append-only: % refused', tg_op using errcode = 'insufficient_privilege'; end; \$\$ language plpgsql;`);
    this.addSql(`create trigger "audit_checkpoint_append_only" BEFORE UPDATE OR DELETE on "audit_checkpoint" for each ROW execute function "audit_checkpoint_audit_checkpoint_append_only_fn"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "audit_checkpoint_append_only" on "audit_checkpoint";`);
    this.addSql(`drop function if exists "audit_checkpoint_audit_checkpoint_append_only_fn"();`);
    this.addSql(`drop table if exists "audit_checkpoint" cascade;`);
  }

}
