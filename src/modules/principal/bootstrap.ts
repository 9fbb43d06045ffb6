import { type EntityManager } from '@mikro-orm/postgresql';
import { hashSecret, verifySecret } from './client-secrets.js';
import { Principal, PrincipalKind, PrincipalStatus } from './principal.entity.js';
import { PrincipalService, type PrincipalWithSecret } from './principal.service.js';

/**
 * Makes sure an active admin principal has exactly these client credentials (automated
 * deployments and tests): creates it, or resets its secret, roles and status.
 */
export async function ensureBootstrapAdmin(em: EntityManager, credentials: { clientId: string; clientSecret: string }): Promise<Principal> {
  const existing = await em.findOne(Principal, { clientId: credentials.clientId });
  if (!existing) {
    const { principal } = await new PrincipalService(em).create({
      name: 'bootstrap admin',
      kind: PrincipalKind.SERVICE,
      roles: ['admin'],
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
    });
    return principal;
  }
  if (!(await verifySecret(existing.secretHash, credentials.clientSecret))) existing.secretHash = await hashSecret(credentials.clientSecret);
  if (!existing.roles.includes('admin')) existing.roles = [...existing.roles, 'admin'];
  existing.status = PrincipalStatus.ACTIVE;
  await em.flush();
  return existing;
}

/** Whether any active principal holds the admin role. */
export async function hasAdmin(em: EntityManager): Promise<boolean> {
  const [row] = await em.execute<{ found: boolean }[]>(
    `select exists (select 1 from principal where status = 'active' and 'admin' = any(roles)) as found`,
  );
  return Boolean(row?.found);
}

/** Creates an admin principal with fresh client credentials, returned once. */
export function createAdmin(em: EntityManager, name = 'admin'): Promise<PrincipalWithSecret> {
  return new PrincipalService(em).create({ name, kind: PrincipalKind.USER, roles: ['admin'] });
}
