import { Migration } from '@mikro-orm/migrations';

/** Per-principal baselines of the rate rules: the multiple of the usual rate, its floor and the history it needs. */
export class Migration20261207100600_alert_rate_baselines extends Migration {

  override name = 'Migration20261207100600_alert_rate_baselines';

  override up(): void | Promise<void> {
    this.addSql(`alter table "alert_rule" add column "baseline_multiple" double precision null, add column "baseline_floor" int null, add column "baseline_min_windows" int null;`);
    this.addSql(`update "alert_rule" set "baseline_multiple" = 5, "baseline_floor" = 120, "baseline_min_windows" = 10 where "name" = 'call_rate';`);
    this.addSql(`update "alert_rule" set "baseline_multiple" = 5, "baseline_floor" = 10, "baseline_min_windows" = 10 where "name" = 'denial_rate';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "alert_rule" drop column "baseline_multiple", drop column "baseline_floor", drop column "baseline_min_windows";`);
  }

}
