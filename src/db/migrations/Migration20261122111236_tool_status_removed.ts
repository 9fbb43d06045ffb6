import { Migration } from '@mikro-orm/migrations';

export class Migration20261122111236_tool_status_removed extends Migration {

  override name = 'Migration20261122111236_tool_status_removed';

  override up(): void | Promise<void> {
    this.addSql(`alter table "tool" drop constraint "tool_status_check";`);
    this.addSql(`alter table "tool" add constraint "tool_status_check" check ("status" in ('active', 'quarantined', 'removed'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "tool" drop constraint "tool_status_check";`);
    this.addSql(`alter table "tool" add constraint "tool_status_check" check ("status" in ('active', 'quarantined'));`);
  }

}
