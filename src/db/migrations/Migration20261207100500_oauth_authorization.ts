import { Migration } from '@mikro-orm/migrations';

/**
 * OAuth 2.1 authorization for public clients: dynamically registered clients, authorization codes,
 * TOTP second factors, and the audience, scopes and client of each token family.
 */
export class Migration20261207100500_oauth_authorization extends Migration {

  override name = 'Migration20261207100500_oauth_authorization';

  override up(): void | Promise<void> {
    this.addSql(`create table "oauth_client" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "client_id" varchar(64) not null, "client_name" varchar(200) not null, "redirect_uris" text[] not null, "scope" varchar(500) null, "registered_from" varchar(64) not null, "last_used_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "oauth_client" add constraint "oauth_client_client_id_unique" unique ("client_id");`);
    this.addSql(`create index "oauth_client_last_used_at_index" on "oauth_client" ("last_used_at");`);

    this.addSql(`create table "oauth_authorization_code" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "code_hash" varchar(64) not null, "client_id" varchar(64) not null, "principal_id" uuid not null, "redirect_uri" text not null, "code_challenge" varchar(128) not null, "audience" text[] not null, "scopes" text[] not null, "expires_at" timestamptz not null, "used_at" timestamptz null, "family_id" uuid null, primary key ("id"));`);
    this.addSql(`alter table "oauth_authorization_code" add constraint "oauth_authorization_code_code_hash_unique" unique ("code_hash");`);
    this.addSql(`create index "oauth_authorization_code_expires_at_index" on "oauth_authorization_code" ("expires_at");`);

    this.addSql(`create table "totp_enrolment" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "principal_id" uuid not null, "ciphertext" text not null, "key_id" varchar(64) not null, "last_step" int null, primary key ("id"));`);
    this.addSql(`alter table "totp_enrolment" add constraint "totp_enrolment_principal_id_unique" unique ("principal_id");`);

    this.addSql(`alter table "token_family" add "audience" text[] null, add "scopes" text[] null, add "oauth_client_id" varchar(64) null;`);

    this.addSql(`alter table "oauth_authorization_code" add constraint "oauth_authorization_code_principal_id_foreign" foreign key ("principal_id") references "principal" ("id") on delete cascade;`);

    this.addSql(`alter table "totp_enrolment" add constraint "totp_enrolment_principal_id_foreign" foreign key ("principal_id") references "principal" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "oauth_client" cascade;`);
    this.addSql(`drop table if exists "oauth_authorization_code" cascade;`);
    this.addSql(`drop table if exists "totp_enrolment" cascade;`);

    this.addSql(`alter table "token_family" drop column "audience", drop column "scopes", drop column "oauth_client_id";`);

  }

}
