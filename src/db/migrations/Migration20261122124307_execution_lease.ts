import { Migration } from '@mikro-orm/migrations';

export class Migration20261122124307_execution_lease extends Migration {

  override name = 'Migration20261122124307_execution_lease';

  override up(): void | Promise<void> {
    this.addSql(`alter table "execution" add "timeout_ms" int null, add "runner" varchar(64) null, add "heartbeat_at" timestamptz null, add "attempts" int not null default 0;`);
    this.addSql(`create index "execution_heartbeat_at_index" on "execution" ("heartbeat_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "execution_heartbeat_at_index";`);
    this.addSql(`alter table "execution" drop column "timeout_ms", drop column "runner", drop column "heartbeat_at", drop column "attempts";`);
  }

}
