import { Migration } from '@mikro-orm/migrations';

/** Security alerts (issue 19): the tunable rules with their defaults, the raised alerts, the webhook's outbox. */
export class Migration20261207100100_security_alerts extends Migration {

  override name = 'Migration20261207100100_security_alerts';

  override up(): void | Promise<void> {
    this.addSql(`create table "alert_rule" ("name" varchar(64) primary key, "enabled" boolean not null default true, "threshold" int not null, "window_seconds" int not null, "updated_at" timestamptz not null default now());`);
    this.addSql(`insert into "alert_rule" ("name", "enabled", "threshold", "window_seconds") values
      ('call_rate', true, 600, 60),
      ('denial_rate', true, 10, 300),
      ('new_tools', true, 25, 3600),
      ('off_hours', true, 5, 3600),
      ('auth_failures', true, 20, 300),
      ('secret_argument', true, 1, 3600);`);
    this.addSql(`create table "security_alert" ("id" uuid primary key, "rule" varchar(64) not null, "subject" varchar(300) not null, "principal_id" uuid null, "window_start" timestamptz not null, "raised_at" timestamptz not null default now(), "count" int not null, "threshold" int not null, "window_seconds" int not null, "details" jsonb not null default '{}');`);
    this.addSql(`create unique index "security_alert_rule_subject_window_unique" on "security_alert" ("rule", "subject", "window_start");`);
    this.addSql(`create index "security_alert_raised_at_id_index" on "security_alert" ("raised_at", "id");`);
    this.addSql(`create index "security_alert_principal_id_index" on "security_alert" ("principal_id");`);
    this.addSql(`create table "security_alert_delivery" ("alert_id" uuid primary key references "security_alert" ("id") on delete cascade, "attempts" int not null default 0, "next_attempt_at" timestamptz not null default now(), "delivered_at" timestamptz null, "last_error" varchar(500) null);`);
    this.addSql(`create index "security_alert_delivery_due_index" on "security_alert_delivery" ("next_attempt_at") where "delivered_at" is null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "security_alert_delivery" cascade;`);
    this.addSql(`drop table if exists "security_alert" cascade;`);
    this.addSql(`drop table if exists "alert_rule" cascade;`);
  }

}
