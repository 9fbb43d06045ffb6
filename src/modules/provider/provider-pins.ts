import { type EntityManager } from '@mikro-orm/postgresql';
import { type Actor, auditActor, AuditOutcome, type AuditRecord, AuditService } from '../audit/index.js';

/**
 * Where a pin refusal happened: a call of `tool`, or the discovery of a registration or refresh
 * (no tool yet).
 */
export type TlsPinFailureSite = { tool: string } | { discovery: 'register' | 'refresh' };

/**
 * The `provider.tls_pin_mismatch` failure entry: the provider (its id when it is stored), where the
 * refusal happened and the host — never a URL, a header or anything but the host name, which is
 * all the refusal says.
 */
export function tlsPinMismatchAudit(
  failure: { providerId: string | null; providerName: string; host: string },
  site: TlsPinFailureSite,
  actor: Actor,
): AuditRecord {
  return {
    ...auditActor(actor),
    action: 'provider.tls_pin_mismatch',
    targetType: 'provider',
    targetId: failure.providerId,
    outcome: AuditOutcome.FAILURE,
    details: { provider: failure.providerName, ...site, host: failure.host.slice(0, 255) },
  };
}

/**
 * Records that a call to `providerId`'s `host` met a TLS chain holding none of its pinned keys: the
 * provider's `tlsPinFailure` becomes (now, host) and the audit log gets a `provider.tls_pin_mismatch`
 * failure naming the provider, the tool and the host, in one statement. Nothing is written when the
 * provider is gone. (Discovery records the same in its own transaction: see `apply` in the
 * registration service.)
 */
export async function recordTlsPinFailure(
  em: EntityManager,
  failure: { providerId: string; providerName: string; toolName: string; host: string },
  actor: Actor,
): Promise<void> {
  const host = failure.host.slice(0, 255);
  const { sql, params } = AuditService.appendSql(tlsPinMismatchAudit(failure, { tool: failure.toolName }, actor), { guard: 'pinned' });
  await em.execute(
    `with pinned as (update provider set tls_pin_failure_at = now(), tls_pin_failure_host = ? where id = ? returning id)${sql}`,
    [host, failure.providerId, ...params],
  );
}
