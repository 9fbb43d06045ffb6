import { Migration } from '@mikro-orm/migrations';

/** A removed provider's name stays reserved to its owner until an admin releases it: when, if so. */
export class Migration20261206160500_provider_released_at extends Migration {

  override name = 'Migration20261206160500_provider_released_at';

  override up(): void | Promise<void> {
    this.addSql(`alter table "provider" add "released_at" timestamptz null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "provider" drop column "released_at";`);
  }

}
