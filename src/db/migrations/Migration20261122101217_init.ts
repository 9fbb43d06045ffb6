import { Migration } from '@mikro-orm/migrations';

export class Migration20261122101217_init extends Migration {

  override name = 'Migration20261122101217_init';

  override up(): void | Promise<void> {
    // Trigram matching for fuzzy tool-name search (`tool_name_trgm_index`).
    this.addSql(`create extension if not exists pg_trgm;`);
    this.addSql(`create table "audit_entry" ("seq" bigserial primary key, "at" timestamptz not null default now(), "actor_id" uuid null, "action" varchar(100) not null, "target_type" varchar(50) not null, "target_id" varchar(300) null, "outcome" text not null, "request_id" varchar(100) null, "source_ip" varchar(64) null, "details" jsonb not null, "prev_hash" varchar(64) not null, "hash" varchar(64) not null);`);
    this.addSql(`alter table "audit_entry" add constraint "audit_entry_hash_unique" unique ("hash");`);
    this.addSql(`create index "audit_entry_target_type_target_id_index" on "audit_entry" ("target_type", "target_id");`);
    this.addSql(`create index "audit_entry_actor_id_at_index" on "audit_entry" ("actor_id", "at");`);

    this.addSql(`create table "policy" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "name" varchar(200) not null, "description" text not null default '', "effect" text not null, "priority" int not null default 0, "parent_id" uuid null, "subjects" jsonb not null, "resources" jsonb not null, "actions" text[] not null, "conditions" jsonb not null, "limits" jsonb not null, "active" boolean not null default true, primary key ("id"));`);
    this.addSql(`alter table "policy" add constraint "policy_name_unique" unique ("name");`);
    this.addSql(`create index "policy_active_priority_index" on "policy" ("active", "priority");`);

    this.addSql(`create table "principal" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "name" varchar(200) not null, "kind" text not null, "roles" text[] not null default '{}', "scopes" text[] not null default '{}', "client_id" varchar(128) null, "secret_hash" text null, "status" text not null default 'active', "tokens_revoked_before" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "principal" add constraint "principal_client_id_unique" unique ("client_id");`);

    this.addSql(`create table "provider" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "name" varchar(128) not null, "call_template_type" text not null, "call_template" jsonb not null, "owner_id" uuid null, "status" text not null default 'active', "last_discovered_at" timestamptz null, "last_error" text null, primary key ("id"));`);
    this.addSql(`alter table "provider" add constraint "provider_name_unique" unique ("name");`);

    this.addSql(`create table "credential" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "provider_id" uuid not null, "reference" varchar(200) not null, "auth_type" text not null, "settings" jsonb not null, "ciphertext" text not null, "key_id" varchar(64) not null, "rotated_at" timestamptz null, "expires_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "credential" add constraint "credential_provider_id_reference_unique" unique ("provider_id", "reference");`);

    this.addSql(`create table "refresh_token" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "principal_id" uuid not null, "token_hash" varchar(64) not null, "family_id" uuid not null, "parent_id" uuid null, "expires_at" timestamptz not null, "used_at" timestamptz null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "refresh_token_family_id_index" on "refresh_token" ("family_id");`);

    this.addSql(`create table "tool" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "name" varchar(300) not null, "provider_id" uuid not null, "description" text not null default '', "inputs" jsonb null, "outputs" jsonb null, "tags" text[] not null default '{}', "average_response_size" int null, "call_template" jsonb not null, "enabled" boolean not null default true, "status" text not null default 'active', "definition_hash" varchar(64) not null, "version" int not null default 1, "search_vector" tsvector null, primary key ("id"));`);
    this.addSql(`alter table "tool" add constraint "tool_name_unique" unique ("name");`);
    this.addSql(`create index "tool_name_trgm_index" on "tool" using gin ("name" gin_trgm_ops);`);
    this.addSql(`create index "tool_search_vector_index" on "tool" using gin ("search_vector");`);
    this.addSql(`create index "tool_tags_index" on "tool" using gin ("tags");`);
    this.addSql(`create index "tool_provider_id_index" on "tool" ("provider_id");`);

    this.addSql(`create table "execution" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "tool_id" uuid null, "tool_name" varchar(300) not null, "principal_id" uuid not null, "arguments" jsonb not null, "status" text not null, "mode" text not null default 'SYNC', "result" jsonb null, "error" jsonb null, "output_valid" boolean null, "idempotency_key" varchar(200) null, "decision" jsonb null, "request_id" varchar(100) null, "started_at" timestamptz null, "finished_at" timestamptz null, "duration_ms" int null, primary key ("id"));`);
    this.addSql(`create index "execution_tool_id_created_at_index" on "execution" ("tool_id", "created_at");`);
    this.addSql(`create index "execution_principal_id_created_at_index" on "execution" ("principal_id", "created_at");`);
    this.addSql(`alter table "execution" add constraint "execution_principal_id_idempotency_key_unique" unique ("principal_id", "idempotency_key");`);

    this.addSql(`create table "tool_version" ("id" uuid not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "tool_id" uuid not null, "version" int not null, "definition_hash" varchar(64) not null, "definition" jsonb not null, "status" text not null, "decided_at" timestamptz null, "decided_by_id" uuid null, primary key ("id"));`);
    this.addSql(`alter table "tool_version" add constraint "tool_version_tool_id_version_unique" unique ("tool_id", "version");`);

    this.addSql(`alter table "audit_entry" add constraint "audit_entry_outcome_check" check ("outcome" in ('success', 'denied', 'failure'));`);
    this.addSql(`create or replace function "audit_entry_audit_entry_append_only_fn"() returns trigger as \$\$ begin raise exception 'audit_entry is append-only: % refused', tg_op using errcode = 'insufficient_privilege'; end; \$\$ language plpgsql;`);
    this.addSql(`create trigger "audit_entry_append_only" BEFORE UPDATE OR DELETE on "audit_entry" for each ROW execute function "audit_entry_audit_entry_append_only_fn"();`);

    this.addSql(`alter table "policy" add constraint "policy_parent_id_foreign" foreign key ("parent_id") references "policy" ("id") on delete restrict;`);
    this.addSql(`alter table "policy" add constraint "policy_effect_check" check ("effect" in ('allow', 'deny'));`);

    this.addSql(`alter table "principal" add constraint "principal_kind_check" check ("kind" in ('agent', 'user', 'service'));`);
    this.addSql(`alter table "principal" add constraint "principal_status_check" check ("status" in ('active', 'disabled'));`);

    this.addSql(`alter table "provider" add constraint "provider_owner_id_foreign" foreign key ("owner_id") references "principal" ("id") on delete set null;`);
    this.addSql(`alter table "provider" add constraint "provider_call_template_type_check" check ("call_template_type" in ('http', 'sse', 'streamable_http', 'cli', 'websocket', 'graphql', 'mcp', 'text', 'file'));`);
    this.addSql(`alter table "provider" add constraint "provider_status_check" check ("status" in ('active', 'disabled', 'error'));`);

    this.addSql(`alter table "credential" add constraint "credential_provider_id_foreign" foreign key ("provider_id") references "provider" ("id") on delete cascade;`);
    this.addSql(`alter table "credential" add constraint "credential_auth_type_check" check ("auth_type" in ('api_key', 'basic', 'oauth2'));`);

    this.addSql(`alter table "refresh_token" add constraint "refresh_token_principal_id_foreign" foreign key ("principal_id") references "principal" ("id") on delete cascade;`);
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_parent_id_foreign" foreign key ("parent_id") references "refresh_token" ("id") on delete set null;`);

    this.addSql(`alter table "tool" add constraint "tool_provider_id_foreign" foreign key ("provider_id") references "provider" ("id") on delete cascade;`);
    this.addSql(`alter table "tool" add constraint "tool_status_check" check ("status" in ('active', 'quarantined'));`);
    this.addSql(`create or replace function "tool_tool_search_vector_fn"() returns trigger as \$\$ begin new.search_vector :=
    setweight(to_tsvector('english', regexp_replace(new.name, '[._-]+', ' ', 'g')), 'A') ||
    setweight(to_tsvector('english', array_to_string(new.tags, ' ')), 'A') ||
    setweight(to_tsvector('english', coalesce(new.description, '')), 'B');   return new; end; \$\$ language plpgsql;`);
    this.addSql(`create trigger "tool_search_vector" BEFORE INSERT OR UPDATE on "tool" for each ROW execute function "tool_tool_search_vector_fn"();`);

    this.addSql(`alter table "execution" add constraint "execution_tool_id_foreign" foreign key ("tool_id") references "tool" ("id") on delete set null;`);
    this.addSql(`alter table "execution" add constraint "execution_principal_id_foreign" foreign key ("principal_id") references "principal" ("id") on delete restrict;`);
    this.addSql(`alter table "execution" add constraint "execution_status_check" check ("status" in ('queued', 'running', 'succeeded', 'failed', 'denied', 'timed_out', 'cancelled'));`);
    this.addSql(`alter table "execution" add constraint "execution_mode_check" check ("mode" in ('SYNC', 'ASYNC'));`);

    this.addSql(`alter table "tool_version" add constraint "tool_version_tool_id_foreign" foreign key ("tool_id") references "tool" ("id") on delete cascade;`);
    this.addSql(`alter table "tool_version" add constraint "tool_version_decided_by_id_foreign" foreign key ("decided_by_id") references "principal" ("id") on delete set null;`);
    this.addSql(`alter table "tool_version" add constraint "tool_version_status_check" check ("status" in ('approved', 'pending', 'rejected'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "policy" drop constraint "policy_parent_id_foreign";`);
    this.addSql(`alter table "provider" drop constraint "provider_owner_id_foreign";`);
    this.addSql(`alter table "refresh_token" drop constraint "refresh_token_principal_id_foreign";`);
    this.addSql(`alter table "execution" drop constraint "execution_principal_id_foreign";`);
    this.addSql(`alter table "tool_version" drop constraint "tool_version_decided_by_id_foreign";`);
    this.addSql(`alter table "credential" drop constraint "credential_provider_id_foreign";`);
    this.addSql(`alter table "tool" drop constraint "tool_provider_id_foreign";`);
    this.addSql(`alter table "refresh_token" drop constraint "refresh_token_parent_id_foreign";`);
    this.addSql(`alter table "execution" drop constraint "execution_tool_id_foreign";`);
    this.addSql(`alter table "tool_version" drop constraint "tool_version_tool_id_foreign";`);

    this.addSql(`drop trigger if exists "audit_entry_append_only" on "audit_entry";`);
    this.addSql(`drop function if exists "audit_entry_audit_entry_append_only_fn"();`);
    this.addSql(`drop table if exists "audit_entry" cascade;`);
    this.addSql(`drop table if exists "policy" cascade;`);
    this.addSql(`drop table if exists "principal" cascade;`);
    this.addSql(`drop table if exists "provider" cascade;`);
    this.addSql(`drop table if exists "credential" cascade;`);
    this.addSql(`drop table if exists "refresh_token" cascade;`);
    this.addSql(`drop trigger if exists "tool_search_vector" on "tool";`);
    this.addSql(`drop function if exists "tool_tool_search_vector_fn"();`);
    this.addSql(`drop table if exists "tool" cascade;`);
    this.addSql(`drop table if exists "execution" cascade;`);
    this.addSql(`drop table if exists "tool_version" cascade;`);
  }

}
