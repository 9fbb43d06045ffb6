import formbody from '@fastify/formbody';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Database } from '../db/database.js';
import { type DatabaseOutage } from '../db/unavailable.js';
import { AuditOutcome, AuditService } from '../modules/audit/index.js';
import { type EntityManager } from '@mikro-orm/postgresql';
import { type CredentialVault } from '../modules/credential/index.js';
import { AuthorizationCodes, OAuthClientService } from '../modules/oauth/index.js';
import {
  Principal,
  type PrincipalChanges,
  PrincipalService,
  PrincipalStatus,
  RefreshTokenService,
  revokeFamily,
  viewerOf,
} from '../modules/principal/index.js';
import { type OAuthServerConfig } from '../config.js';
import { authorizeRoutes } from './authorize.routes.js';
import { allAudiences, canonicalResource } from './resources.js';
import { type SlidingWindow } from './sliding-window.js';
import { type AccessTokens } from './access-tokens.js';
import { BUSY, type LoginThrottle, type RefusedAttempt } from './login-throttle.js';
import { type SigningKeyRing } from './signing-keys.js';
import { metrics } from '../observability/metrics.js';

export interface OAuthDependencies {
  db: Database;
  tokens: AccessTokens;
  keys: SigningKeyRing;
  refreshTokenTtlSeconds: number;
  /** Limits failed client authentications before any secret is verified. */
  throttle: LoginThrottle;
  /** The client address for the audit log (trusted proxies applied); default: the socket's. */
  sourceIp?: (request: FastifyRequest) => string;
  /** Told when refresh-token reuse revokes a family (the token holder caches). */
  principalChanges?: PrincipalChanges;
  /** Tells a database outage from other failures (and logs it once); without it, every failure is a server_error. */
  outage?: DatabaseOutage;
  /** Told of every failed client authentication (wrong or missing secret, throttled attempt); must only queue. */
  onFailure?: (failure: { sourceIp: string; clientId: string | null }) => void;
  /** The authorization server's settings: admin MFA, dynamic registration limits. */
  clients: OAuthServerConfig;
  /** Seals TOTP secrets. */
  vault: CredentialVault;
  /** Counts dynamic registrations per address (Redis when configured). */
  registrations: SlidingWindow;
  /** The registry's origin as the client reached it (REGISTRY_PUBLIC_URL, else the request's). */
  origin(request: FastifyRequest): string;
}

/** Who made a token request, for the audit log. */
export interface Actor {
  requestId: string;
  sourceIp: string;
}

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope' | 'invalid_target';

/** What a grant yields: the principal, its token family and refresh token, what the tokens may do and for whom. */
interface Grant {
  subject: Principal;
  refreshToken: string;
  familyId: string;
  scopes: string[];
  audience: string[];
}

/** A grant refused with an RFC 6749 §5.2 error. */
interface OAuthErrorAnswer {
  error: OAuthErrorCode;
  description: string;
  basic?: boolean;
}

export type Audit = (action: string, outcome: AuditOutcome, principalId: string | null, details: Record<string, unknown>) => Promise<unknown>;

/**
 * The grants of a principal that authenticated with its secret: `client_credentials` starts a family
 * for every resource of the registry unless `resource` names one; `refresh_token` rotates a family of
 * the principal's own and keeps its audience.
 */
async function confidentialGrant(
  deps: OAuthDependencies,
  em: EntityManager,
  refreshTokens: RefreshTokenService,
  body: Record<string, unknown>,
  grantType: 'client_credentials' | 'refresh_token',
  principal: Principal,
  actor: Actor,
  /** The canonical `resource` asked for, if any. */
  resource: string | null,
): Promise<Grant | OAuthErrorAnswer> {
  const granted = [...viewerOf(principal).scopes];
  if (grantType === 'refresh_token') {
    if (typeof body.refresh_token !== 'string' || body.refresh_token.length > 200) return { error: 'invalid_request', description: 'refresh_token is required' };
    const result = await refreshTokens.rotate(body.refresh_token, { principalId: principal.id }, { ...actor, principalId: principal.id });
    if (!result.ok) return { error: 'invalid_grant', description: 'The refresh token is invalid, expired, revoked or was already used' };
    return {
      subject: result.principal,
      refreshToken: result.refreshToken,
      familyId: result.familyId,
      scopes: [...viewerOf(result.principal).scopes],
      audience: result.family.audience ?? allAudiences(deps.tokens.issuer),
    };
  }
  const audience = resource ? [resource] : allAudiences(deps.tokens.issuer);
  const { token, familyId } = await em.transactional(async (tx) => {
    const issued = refreshTokens.issue(tx, tx.merge(principal), undefined, { audience });
    await tx.flush();
    return issued;
  });
  return { subject: principal, refreshToken: token, familyId, scopes: granted, audience };
}

/**
 * The grants of a public client (no secret; RFC 7591-registered): `authorization_code` with PKCE,
 * and `refresh_token` of a family issued to that client, which keeps its audience and consented scopes.
 * A replayed code revokes the family it started.
 */
async function publicGrant(
  deps: OAuthDependencies,
  em: EntityManager,
  refreshTokens: RefreshTokenService,
  body: Record<string, unknown>,
  clientId: string | undefined,
  actor: Actor,
  audit: Audit,
): Promise<Grant | OAuthErrorAnswer> {
  if (!clientId) return { error: 'invalid_request', description: 'client_id is required' };
  const oauthClient = await new OAuthClientService(em, deps.clients).find(clientId);
  if (!oauthClient) return { error: 'invalid_client', description: 'Unknown client: register it first (RFC 7591) at /oauth/register' };
  const live = (principal: Principal, scopes: readonly string[]) => {
    const holds = viewerOf(principal).scopes;
    return scopes.filter((s) => holds.has(s as never));
  };
  if (body.grant_type === 'refresh_token') {
    if (typeof body.refresh_token !== 'string' || body.refresh_token.length > 200) return { error: 'invalid_request', description: 'refresh_token is required' };
    const result = await refreshTokens.rotate(body.refresh_token, { oauthClientId: clientId }, actor);
    if (!result.ok) return { error: 'invalid_grant', description: 'The refresh token is invalid, expired, revoked or was already used' };
    return {
      subject: result.principal,
      refreshToken: result.refreshToken,
      familyId: result.familyId,
      scopes: live(result.principal, result.family.scopes ?? []),
      audience: result.family.audience ?? [],
    };
  }
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = body;
  if (typeof code !== 'string' || typeof redirectUri !== 'string' || typeof verifier !== 'string') {
    return { error: 'invalid_request', description: 'code, redirect_uri and code_verifier are required' };
  }
  const codes = new AuthorizationCodes(em);
  const redeemed = await codes.redeem(code, clientId, redirectUri, verifier);
  if (!redeemed.ok) {
    if (redeemed.reason === 'replayed') {
      const revoked = redeemed.familyId ? await revokeFamily(em, redeemed.familyId, redeemed.principalId, deps.principalChanges) : false;
      await audit('token.code.replay', AuditOutcome.DENIED, redeemed.principalId, { grantType: 'authorization_code', revokedFamily: revoked ? redeemed.familyId : null });
    } else {
      await audit('token.issue', AuditOutcome.DENIED, null, { grantType: 'authorization_code', reason: redeemed.reason });
    }
    const why = { unknown: 'unknown', expired: 'expired', mismatch: 'issued for another redirect_uri', verifier: 'not matched by code_verifier (PKCE S256)', replayed: 'already used' }[redeemed.reason];
    return { error: 'invalid_grant', description: `The authorization code is ${why}` };
  }
  const principal = await em.findOne(Principal, { id: redeemed.code.principal.id, status: PrincipalStatus.ACTIVE });
  if (!principal) return { error: 'invalid_grant', description: 'The principal that signed in is no longer active' };
  const { audience, scopes } = redeemed.code;
  const { token, familyId } = await em.transactional(async (tx) => {
    const issued = refreshTokens.issue(tx, tx.merge(principal), undefined, { audience, scopes, oauthClientId: clientId });
    await tx.flush();
    return issued;
  });
  await codes.started(redeemed.code, familyId);
  return { subject: principal, refreshToken: token, familyId, scopes: live(principal, scopes), audience };
}

const REFUSED_BECAUSE: Record<RefusedAttempt['limit'], string> = {
  client_address: 'Too many failed authentications of this client from this address',
  address: 'Too many failed authentications from this address',
  client: 'Too many failed authentications of this client',
  busy: 'Too many authentications in progress',
};

/**
 * A throttled authentication: 429 with Retry-After and `slow_down` (RFC 8628 §3.5's registered
 * "slow down" code, as RFC 6749 §5.2 has none for throttling).
 */
function throttled(reply: FastifyReply, refusal: Pick<RefusedAttempt, 'limit' | 'retryAfterSeconds'>) {
  metrics.authFailures.inc({ reason: 'throttled' });
  return reply
    .status(429)
    .header('retry-after', String(refusal.retryAfterSeconds))
    .send({ error: 'slow_down', error_description: `${REFUSED_BECAUSE[refusal.limit]}; retry after ${refusal.retryAfterSeconds} s` });
}

/** An RFC 6749 §5.2 error response. */
function oauthError(reply: FastifyReply, error: OAuthErrorCode, description: string, basicAuth = false) {
  const status = error === 'invalid_client' ? 401 : 400;
  if (error === 'invalid_client' || error === 'invalid_grant') metrics.authFailures.inc({ reason: error });
  if (status === 401) reply.header('www-authenticate', basicAuth ? 'Basic realm="tool-registry"' : 'Bearer');
  return reply.status(status).send({ error, error_description: description });
}

/**
 * The token endpoint's answer to a request it could not handle, always an RFC 6749 error body: the
 * database unavailable is 503 `temporarily_unavailable` with Retry-After (the code RFC 6749 §4.1.2.1
 * registers for a server that cannot serve now), an unreadable request 400 `invalid_request`,
 * anything else 500 `server_error` (logged).
 */
function failure(error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply, outage: DatabaseOutage | undefined) {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  if (outage?.observe(error)) {
    return reply
      .status(503)
      .header('retry-after', String(outage.retryAfterSeconds))
      .send({ error: 'temporarily_unavailable', error_description: `The registry cannot reach its database right now; retry after ${outage.retryAfterSeconds} s` });
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return reply
      .status(error.statusCode === 413 ? 413 : 400)
      .send({ error: 'invalid_request', error_description: 'The request could not be read: send a form-encoded body (application/x-www-form-urlencoded) of at most 16 KiB' });
  }
  request.log.error({ err: error }, 'token request failed');
  return reply.status(500).send({ error: 'server_error', error_description: 'Internal server error' });
}

/**
 * Authenticates a confidential client by its secret as the token endpoint does: throttled before
 * the secret is verified (429 `slow_down`), failures reported to `deps.onFailure` and audited at
 * the 1st, 2nd, 4th… of the window. Returns the principal, or the reply it sent the refusal on
 * (401 `invalid_client`).
 */
export async function verifyClientSecret(
  deps: OAuthDependencies,
  reply: FastifyReply,
  principals: PrincipalService,
  client: { clientId: string; clientSecret: string; basic: boolean },
  actor: Actor,
  audit: Audit,
  grantType: string,
): Promise<Principal | FastifyReply> {
  // Charged before the secret is verified, so a flood costs no hashing and only a few audit entries.
  const clientKey = client.clientId.slice(0, 128);
  const attempt = await deps.throttle.attempt(clientKey, actor.sourceIp);
  if (!attempt.allowed) {
    deps.onFailure?.({ sourceIp: actor.sourceIp, clientId: clientKey });
    if (attempt.auditRefusal) {
      await audit('token.throttle', AuditOutcome.DENIED, null, { grantType, limit: attempt.limit, refused: attempt.refused, retryAfterSeconds: attempt.retryAfterSeconds });
    }
    return throttled(reply, attempt);
  }
  const { clientId, clientSecret } = client;
  let principal: Principal | null | typeof BUSY;
  try {
    principal = await attempt.verify(() => principals.authenticateClient(clientId, clientSecret));
  } catch (error) {
    attempt.abandoned();
    throw error;
  }
  if (principal === BUSY) {
    attempt.abandoned();
    return throttled(reply, { limit: 'busy', retryAfterSeconds: 1 });
  }
  if (!principal) {
    deps.onFailure?.({ sourceIp: actor.sourceIp, clientId: clientKey });
    // Failures are audited at the 1st, 2nd, 4th… of the window and at the limit, each with the count so far.
    const { failures, audit: audited } = await attempt.failed();
    if (audited) await audit('token.issue', AuditOutcome.DENIED, null, { grantType, reason: 'invalid_client', failures });
    return oauthError(reply, 'invalid_client', 'Unknown client or wrong secret', client.basic);
  }
  await attempt.succeeded();
  return principal;
}

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) or the body. */
function clientCredentials(request: FastifyRequest, body: Record<string, unknown>) {
  const header = request.headers.authorization;
  if (header?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { basic: true };
    try {
      return {
        basic: true,
        clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
        clientSecret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
      };
    } catch {
      return { basic: true };
    }
  }
  const clientId = typeof body.client_id === 'string' ? body.client_id : undefined;
  const clientSecret = typeof body.client_secret === 'string' ? body.client_secret : undefined;
  return { basic: false, clientId, clientSecret };
}

/**
 * `POST /oauth/token` (RFC 6749 `client_credentials` and `refresh_token` grants) and
 * `GET /.well-known/jwks.json`. Every issuance, refusal, refresh and reuse is audited.
 */
export async function oauthRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  // Form bodies are parsed for this route only; /graphql keeps refusing them (CSRF prevention).
  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: 16 * 1024 });
    scope.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => failure(error, request, reply, deps.outage));
    scope.post('/oauth/token', { bodyLimit: 16 * 1024 }, async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      const body = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
      const client = clientCredentials(request, body);
      const grantType = body.grant_type;
      const em = deps.db.fork();
      const principals = new PrincipalService(em);
      const actor: Actor = { requestId: request.id, sourceIp: deps.sourceIp?.(request) ?? request.ip };
      const audit = (action: string, outcome: AuditOutcome, principalId: string | null, details: Record<string, unknown>) =>
        AuditService.appendAlone(em, { ...actor, actorId: principalId, action, targetType: 'oauth_client', targetId: client.clientId?.slice(0, 128) ?? null, outcome, details });

      if (grantType !== 'client_credentials' && grantType !== 'refresh_token' && grantType !== 'authorization_code') {
        return oauthError(reply, typeof grantType === 'string' ? 'unsupported_grant_type' : 'invalid_request', 'grant_type must be authorization_code, client_credentials or refresh_token');
      }
      // RFC 8707: one resource per request, one of the registry's own.
      let requestedAudience: string | null = null;
      if (body.resource !== undefined) {
        requestedAudience = typeof body.resource === 'string' ? canonicalResource(body.resource, deps.tokens.issuer, deps.origin(request)) : null;
        if (!requestedAudience) {
          return oauthError(reply, 'invalid_target', `resource must be one of ${allAudiences(deps.tokens.issuer).join(', ')}`);
        }
      }
      const refreshTokens = new RefreshTokenService(em, deps.refreshTokenTtlSeconds, deps.principalChanges);
      let grant: Grant | OAuthErrorAnswer;
      if (grantType === 'authorization_code' || (grantType === 'refresh_token' && !client.clientSecret && client.clientId?.startsWith('mcp_'))) {
        grant = await publicGrant(deps, em, refreshTokens, body, client.clientId, actor, audit);
      } else {
        if (!client.clientId || !client.clientSecret) {
          deps.onFailure?.({ sourceIp: actor.sourceIp, clientId: client.clientId?.slice(0, 128) ?? null });
          return oauthError(reply, 'invalid_client', 'Client authentication is required', client.basic);
        }
        const principal = await verifyClientSecret(deps, reply, principals, { clientId: client.clientId, clientSecret: client.clientSecret, basic: client.basic }, actor, audit, grantType);
        if (!(principal instanceof Principal)) return principal;
        grant = await confidentialGrant(deps, em, refreshTokens, body, grantType, principal, actor, requestedAudience);
      }
      if ('error' in grant) return oauthError(reply, grant.error, grant.description, grant.basic);

      const { subject, refreshToken, familyId } = grant;
      // The audience of the family, or the one resource asked for within it (RFC 8707 §2.2).
      if (requestedAudience && !grant.audience.includes(requestedAudience)) {
        return oauthError(reply, 'invalid_target', `This grant is not for ${requestedAudience}`);
      }
      const audience = requestedAudience ? [requestedAudience] : grant.audience;
      const granted = grant.scopes;
      const requested = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : granted;
      const outside = requested.filter((s) => !granted.includes(s));
      if (outside.length > 0) {
        await audit('token.issue', AuditOutcome.DENIED, subject.id, { grantType, reason: 'invalid_scope', requested });
        return oauthError(reply, 'invalid_scope', `Not granted to this client: ${outside.join(' ')}`);
      }
      const { token, expiresIn } = await deps.tokens.issue(subject.id, requested, familyId, audience);
      await audit('token.issue', AuditOutcome.SUCCESS, subject.id, { grantType, scope: requested, audience });
      return reply.send({
        access_token: token,
        token_type: 'Bearer',
        expires_in: expiresIn,
        refresh_token: refreshToken,
        scope: requested.join(' '),
      });
    });
    await authorizeRoutes(scope, deps);
  });

  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(deps.keys.jwks),
  );
}
