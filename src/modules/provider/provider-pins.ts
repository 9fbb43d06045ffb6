import { type EntityManager } from '@mikro-orm/postgresql';
import { type Actor, auditActor, AuditOutcome, AuditService } from '../audit/index.js';

/**
 * Records that a connection to `providerId`'s `host` presented a TLS chain holding none of its pinned
 * keys: the provider's `tlsPinFailure` becomes (now, host) and the audit log gets a
 * `provider.tls_pin_mismatch` failure naming the provider, the tool and the host (never a URL, header
 * or pin-unrelated value), in one statement. Nothing is written when the provider is gone.
 */
export async function recordTlsPinFailure(
  em: EntityManager,
  failure: { providerId: string; providerName: string; toolName: string; host: string },
  actor: Actor,
): Promise<void> {
  const host = failure.host.slice(0, 255);
  const { sql, params } = AuditService.appendSql(
    {
      ...auditActor(actor),
      action: 'provider.tls_pin_mismatch',
      targetType: 'provider',
      targetId: failure.providerId,
      outcome: AuditOutcome.FAILURE,
      details: { provider: failure.providerName, tool: failure.toolName, host },
    },
    { guard: 'pinned' },
  );
  await em.execute(
    `with pinned as (update provider set tls_pin_failure_at = now(), tls_pin_failure_host = ? where id = ? returning id)${sql}`,
    [host, failure.providerId, ...params],
  );
}
