import { Migration } from '@mikro-orm/migrations';

export class Migration20261206160207_provider_variables extends Migration {

  override name = 'Migration20261206160207_provider_variables';

  override up(): void | Promise<void> {
    this.addSql(`create table "provider_variable" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "provider_id" uuid not null, "name" varchar(200) not null, "secret" boolean not null, "value" text null, "ciphertext" text null, "key_id" varchar(64) null, primary key ("id"));`);
    this.addSql(`alter table "provider_variable" add constraint "provider_variable_provider_id_name_unique" unique ("provider_id", "name");`);

    this.addSql(`alter table "provider_variable" add constraint "provider_variable_provider_id_foreign" foreign key ("provider_id") references "provider" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "provider_variable" cascade;`);
  }

}
