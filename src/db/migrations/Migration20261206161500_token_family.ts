import { Migration } from '@mikro-orm/migrations';

/**
 * Token families: one row per sign-in, revoked as a whole. Families of existing refresh tokens are
 * created from them (revoked when any of their tokens was), so those tokens keep working.
 */
export class Migration20261206161500_token_family extends Migration {

  override name = 'Migration20261206161500_token_family';

  override up(): void | Promise<void> {
    this.addSql(`create table "token_family" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "principal_id" uuid not null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "token_family_principal_id_index" on "token_family" ("principal_id");`);
    this.addSql(`alter table "token_family" add constraint "token_family_principal_id_foreign" foreign key ("principal_id") references "principal" ("id") on delete cascade;`);
    this.addSql(`insert into "token_family" ("id", "created_at", "updated_at", "principal_id", "revoked_at")
      select "family_id", min("created_at"), max("updated_at"), min("principal_id"::text)::uuid, max("revoked_at")
      from "refresh_token" group by "family_id";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "token_family" cascade;`);
  }

}
