import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AuditOutcome, AuditService } from '../modules/audit/index.js';
import { Principal, PrincipalService, RefreshTokenService, viewerOf } from '../modules/principal/index.js';
import { type Actor, type OAuthDependencies, verifyClientSecret } from './oauth.routes.js';
import { audienceOf } from './resources.js';

/** Where the console's session endpoints live; the refresh cookie is scoped to this path. */
export const CONSOLE_SESSION_PATH = '/console/session';
/**
 * The first-party client the console's token families are issued to. Its refresh tokens are only
 * accepted here: `/oauth/token` treats them as unknown (they belong to no principal's own family
 * and to no registered public client).
 */
export const CONSOLE_CLIENT_ID = 'registry-console';
/** The HttpOnly cookie holding the console's refresh token. */
export const CONSOLE_REFRESH_COOKIE = 'registry_console_refresh';
/** The custom header every session request must carry (a cross-site form or image cannot set it). */
export const CONSOLE_CSRF_HEADER = 'x-registry-console';

const MAX_CREDENTIAL_LENGTH = 256;

type SessionError = 'invalid_request' | 'invalid_grant' | 'csrf_refused';

function refuse(reply: FastifyReply, status: number, error: SessionError, description: string) {
  return reply.status(status).send({ error, error_description: description });
}

/** The cookie named `name` from a Cookie header, or null. */
function readCookie(header: string | undefined, name: string): string | null {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/**
 * Why a session request may be forged, or null: it must come from a page of this registry's own
 * origin (`Origin` equal to the registry's, and `Sec-Fetch-Site: same-origin` when the browser
 * sends it) and carry {@link CONSOLE_CSRF_HEADER}, which only a script of the same origin can add
 * without a CORS preflight the registry never grants.
 */
function forgeryReason(request: FastifyRequest, origin: string): string | null {
  if (request.headers[CONSOLE_CSRF_HEADER] !== '1') return `the ${CONSOLE_CSRF_HEADER}: 1 header is required`;
  const sent = request.headers.origin;
  if (!sent) return 'the Origin header is required';
  if (sent !== origin) return 'the request comes from another origin';
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return 'the request comes from another site';
  return null;
}

/**
 * The console's sessions, without a token a script can read for longer than a page lives:
 * - `POST /console/session` takes `{ clientId, clientSecret }` (JSON), authenticates them as the
 *   token endpoint does (same throttle, same audit), starts a token family for the console and
 *   answers the short-lived access token (audience `/graphql`) in the body and the refresh token in
 *   an HttpOnly, SameSite=Strict cookie scoped to {@link CONSOLE_SESSION_PATH} (Secure when the
 *   registry is reached over https);
 * - `POST /console/session/refresh` exchanges the cookie for a new access token and rotates it; a
 *   refresh token presented twice revokes its family (and its access tokens); without a cookie it
 *   answers 204 (no session, nothing to refresh);
 * - `POST /console/session/sign-out` revokes the family and clears the cookie.
 * Each refuses a request without the custom header, from another origin or site, with 403
 * `csrf_refused`; a missing, unknown, expired, reused or revoked cookie is 401 `invalid_grant` (and
 * the cookie is cleared). Answers are `no-store`.
 */
export async function consoleSessionRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  const refreshTtl = deps.refreshTokenTtlSeconds;

  const cookie = (request: FastifyRequest, value: string, maxAge: number) => {
    const secure = deps.origin(request).startsWith('https:') ? '; Secure' : '';
    return `${CONSOLE_REFRESH_COOKIE}=${value}; Path=${CONSOLE_SESSION_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
  };
  const clearCookie = (request: FastifyRequest, reply: FastifyReply) => reply.header('set-cookie', cookie(request, '', 0));
  const actorOf = (request: FastifyRequest): Actor => ({ requestId: request.id, sourceIp: deps.sourceIp?.(request) ?? request.ip });

  /** Issues the access token of `familyId` and answers it, setting the rotated refresh cookie. */
  const answer = async (request: FastifyRequest, reply: FastifyReply, principal: Principal, familyId: string, refreshToken: string) => {
    const scopes = [...viewerOf(principal).scopes];
    const { token, expiresIn } = await deps.tokens.issue(principal.id, scopes, familyId, [audienceOf(deps.tokens.issuer, '/graphql')]);
    return reply
      .header('set-cookie', cookie(request, refreshToken, refreshTtl))
      // Who the session is, so that the console needs no query (which a spent budget would refuse) to show it.
      .send({ access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: scopes.join(' '), principal: { name: principal.name, roles: principal.roles } });
  };

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      const reason = forgeryReason(request, deps.origin(request));
      if (reason) return refuse(reply, 403, 'csrf_refused', `Refused as a possible cross-site request: ${reason}`);
    });

    scope.post(CONSOLE_SESSION_PATH, { bodyLimit: 4 * 1024 }, async (request, reply) => {
      const body = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
      const { clientId, clientSecret } = body;
      if (typeof clientId !== 'string' || typeof clientSecret !== 'string' || !clientId || !clientSecret || clientId.length > MAX_CREDENTIAL_LENGTH || clientSecret.length > MAX_CREDENTIAL_LENGTH) {
        return refuse(reply, 400, 'invalid_request', `clientId and clientSecret are required (JSON strings of at most ${MAX_CREDENTIAL_LENGTH} characters)`);
      }
      const em = deps.db.fork();
      const actor = actorOf(request);
      const audit = (action: string, outcome: AuditOutcome, principalId: string | null, details: Record<string, unknown>) =>
        AuditService.appendAlone(em, { ...actor, actorId: principalId, action, targetType: 'oauth_client', targetId: clientId.slice(0, 128), outcome, details });
      const principal = await verifyClientSecret(deps, reply, new PrincipalService(em), { clientId, clientSecret, basic: false }, actor, audit, 'console_session');
      if (!(principal instanceof Principal)) return principal;
      const refreshTokens = new RefreshTokenService(em, refreshTtl, deps.principalChanges);
      const audience = [audienceOf(deps.tokens.issuer, '/graphql')];
      const { token, familyId } = await em.transactional(async (tx) => {
        const issued = refreshTokens.issue(tx, tx.merge(principal), undefined, { audience, oauthClientId: CONSOLE_CLIENT_ID });
        await tx.flush();
        return issued;
      });
      await audit('token.issue', AuditOutcome.SUCCESS, principal.id, { grantType: 'console_session', audience });
      return answer(request, reply, principal, familyId, token);
    });

    scope.post(`${CONSOLE_SESSION_PATH}/refresh`, async (request, reply) => {
      const presented = readCookie(request.headers.cookie, CONSOLE_REFRESH_COOKIE);
      // No cookie is the ordinary state of a page before sign-in, not an error.
      if (!presented) return reply.status(204).send();
      if (presented.length > 200) return refuse(clearCookie(request, reply), 401, 'invalid_grant', 'The console session is invalid: sign in again');
      const em = deps.db.fork();
      const result = await new RefreshTokenService(em, refreshTtl, deps.principalChanges).rotate(presented, { oauthClientId: CONSOLE_CLIENT_ID }, actorOf(request));
      if (!result.ok) return refuse(clearCookie(request, reply), 401, 'invalid_grant', 'The console session is invalid, expired, revoked or was already used: sign in again');
      return answer(request, reply, result.principal, result.familyId, result.refreshToken);
    });

    scope.post(`${CONSOLE_SESSION_PATH}/sign-out`, async (request, reply) => {
      const presented = readCookie(request.headers.cookie, CONSOLE_REFRESH_COOKIE);
      if (presented && presented.length <= 200) {
        await new RefreshTokenService(deps.db.fork(), refreshTtl, deps.principalChanges).revoke(presented, { oauthClientId: CONSOLE_CLIENT_ID }, actorOf(request));
      }
      return clearCookie(request, reply).status(204).send();
    });
  });
}
