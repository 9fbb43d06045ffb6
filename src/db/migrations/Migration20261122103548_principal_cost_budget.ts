import { Migration } from '@mikro-orm/migrations';

export class Migration20261122103548_principal_cost_budget extends Migration {

  override name = 'Migration20261122103548_principal_cost_budget';

  override up(): void | Promise<void> {
    this.addSql(`alter table "principal" add "cost_budget_per_hour" int null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "principal" drop column "cost_budget_per_hour";`);
  }

}
