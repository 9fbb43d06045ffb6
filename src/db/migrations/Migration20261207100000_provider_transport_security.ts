import { Migration } from '@mikro-orm/migrations';

/** Per provider: TLS pins (SPKI SHA-256, base64), request signing (off/sign), and the last pin failure. */
export class Migration20261207100000_provider_transport_security extends Migration {

  override name = 'Migration20261207100000_provider_transport_security';

  override up(): void | Promise<void> {
    this.addSql(`alter table "provider" add "tls_pins" text[] not null default '{}', add "request_signing" text not null default 'off' check ("request_signing" in ('off', 'sign')), add "tls_pin_failure_at" timestamptz null, add "tls_pin_failure_host" varchar(255) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "provider" drop column "tls_pins", drop column "request_signing", drop column "tls_pin_failure_at", drop column "tls_pin_failure_host";`);
  }

}
