import { Migration } from '@mikro-orm/migrations';

/**
 * The policies a new registry starts with, so that it is usable before anyone writes one: every
 * principal may read the whole catalog, agents and admins may execute every tool, and admins and
 * publishers may administer tools. Policies
 * deny by default; operators narrow access by deactivating or deleting these and adding their own.
 * Inserted once: a registry whose operator removed them does not get them back.
 */
export class Migration20261122123000_default_policies extends Migration {
  override name = 'Migration20261122123000_default_policies';

  override up(): void | Promise<void> {
    this.addSql(
      `insert into "policy" ("id", "name", "description", "effect", "priority", "subjects", "resources", "actions", "conditions", "limits", "active") values ` +
        `(gen_random_uuid(), 'default-catalog-read', 'Default: every principal may see every tool. Deactivate it to make the catalog need explicit read policies.', 'allow', 0, '{}', '{}', '{read}', '{}', '{}', true), ` +
        `(gen_random_uuid(), 'default-agents-execute', 'Default: principals with the agent or admin role may execute every tool.', 'allow', 0, '{"roles":["agent","admin"]}', '{}', '{execute}', '{}', '{}', true), ` +
        `(gen_random_uuid(), 'default-administer', 'Default: principals with the admin or publisher role may administer tools (approve versions, enable and disable), within what their scopes and provider ownership allow.', 'allow', 0, '{"roles":["admin","publisher"]}', '{}', '{admin}', '{}', '{}', true) ` +
        `on conflict ("name") do nothing;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`delete from "policy" where "name" in ('default-catalog-read', 'default-agents-execute', 'default-administer');`);
  }
}
