import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { AuditOutcome, AuditService } from '../modules/audit/index.js';
import { AuthorizationCodes, isS256Challenge, type OAuthClient, OAuthClientService, redirectUriRegistered, TotpService } from '../modules/oauth/index.js';
import { Principal, PrincipalService, PrincipalStatus, viewerOf } from '../modules/principal/index.js';
import { externalPrincipal } from './authenticate.js';
import { type LoginRound, OidcLogin, OidcLoginError } from './oidc-login.js';
import { BUSY } from './login-throttle.js';
import { type OAuthDependencies } from './oauth.routes.js';
import { allAudiences, canonicalResource, RESOURCE_METADATA_PATH, RESOURCE_PATHS } from './resources.js';
import { isScope, ROLE_SCOPES, Scope } from './scopes.js';

/** How long a sign-in page (and its consent step) stays usable. */
const TRANSACTION_SECONDS = 600;
const TRANSACTION_TYPE = 'oauth-authz+jwt';
const LOGIN_TYPE = 'oidc-login+jwt';
/** `amr` values (RFC 8176) that show the provider checked a second factor. */
const MFA_AMR = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris', 'retina', 'vbm']);
const REGISTRATION_WINDOW_MS = 3_600_000;

/** The authorization request, as validated at `GET /oauth/authorize`, carried signed through the sign-in. */
interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  state?: string;
  scopes: string[];
  audience: string[];
}

/** The signed transaction of one sign-in: the request, the CSRF nonce, and once signed in, the principal and granted scopes. */
interface Transaction {
  req: AuthorizationRequest;
  nonce: string;
  stage: 'signin' | 'consent';
  principalId?: string;
  granted?: string[];
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The cookie named `name` of a request, or undefined. */
function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The OAuth 2.1 authorization server for public clients, next to the token endpoint:
 * - `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/oauth-protected-resource[/mcp|/utcp|/graphql]` (RFC 9728);
 * - `POST /oauth/register`: RFC 7591 registration of public clients, bounded and rate-limited per address;
 * - `GET /oauth/authorize`: validates an authorization-code request (PKCE S256 only, exact redirect
 *   URI, RFC 8707 resource) and serves the sign-in page; `POST /oauth/authorize`: signs the principal
 *   in with its client id and secret (throttled like the token endpoint; a TOTP code for admins when
 *   REGISTRY_ADMIN_MFA=required), then asks for consent, then redirects with a single-use code.
 * The pages load nothing from elsewhere, run no script, cannot be framed, and every form post must
 * carry the per-sign-in CSRF token of both its cookie and its signed transaction.
 */
export async function authorizeRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  const issuer = () => deps.tokens.issuer;
  const secureCookies = () => issuer().startsWith('https://');
  const csrfCookie = () => (secureCookies() ? '__Host-oauth_csrf' : 'oauth_csrf');
  const verificationKeys = createLocalJWKSet(deps.keys.jwks);
  const oidc = deps.clients.oidcLogin ? new OidcLogin(deps.clients.oidcLogin) : undefined;
  const loginCookie = () => (secureCookies() ? '__Secure-oidc_login' : 'oidc_login');
  const callbackUri = () => `${issuer()}/oauth/callback`;

  // ---- metadata ----
  const authorizationServer = () => {
    const base = issuer();
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: Object.values(Scope),
      authorization_response_iss_parameter_supported: true,
    };
  };
  app.get('/.well-known/oauth-authorization-server', async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(authorizationServer()));

  for (const path of RESOURCE_PATHS) {
    const metadata = async (request: FastifyRequest) => ({
      resource: `${deps.origin(request)}${path}`,
      authorization_servers: [issuer()],
      bearer_methods_supported: ['header'],
      scopes_supported: path === '/graphql' ? Object.values(Scope) : [Scope.TOOLS_EXECUTE, Scope.TOOLS_READ],
      resource_name: `Tool Registry ${path}`,
    });
    app.get(`${RESOURCE_METADATA_PATH}${path}`, metadata);
    // The bare path describes /mcp, the resource MCP clients look for first.
    if (path === '/mcp') app.get(RESOURCE_METADATA_PATH, metadata);
  }

  // ---- dynamic client registration ----
  app.post('/oauth/register', { bodyLimit: 16 * 1024 }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const sourceIp = deps.sourceIp?.(request) ?? request.ip;
    // Fails closed: without the shared count, nobody registers.
    const admitted = await deps.registrations.take(`oauth-register:${sourceIp}`, deps.clients.registrationsPerHour, REGISTRATION_WINDOW_MS).catch(() => null);
    if (!admitted) {
      return reply.status(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: 'Registration is unavailable right now; retry after 5 s' });
    }
    if (!admitted.admitted) {
      const retryAfter = Math.max(1, Math.ceil(admitted.retryAfterMs / 1000));
      return reply.status(429).header('retry-after', String(retryAfter)).send({ error: 'slow_down', error_description: `Too many client registrations from this address; retry after ${retryAfter} s` });
    }
    const em = deps.db.fork();
    const result = await new OAuthClientService(em, deps.clients).register(request.body, sourceIp);
    if ('error' in result) return reply.status(result.status).send({ error: result.error, error_description: result.description });
    const { client } = result;
    await AuditService.appendAlone(em, {
      actorId: null,
      requestId: request.id,
      sourceIp,
      action: 'oauth.client.register',
      targetType: 'oauth_client',
      targetId: client.clientId,
      outcome: AuditOutcome.SUCCESS,
      details: { clientName: client.clientName, redirectUris: client.redirectUris },
    });
    return reply.status(201).send({
      client_id: client.clientId,
      client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
      client_name: client.clientName,
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(client.scope ? { scope: client.scope } : {}),
    });
  });

  // ---- pages ----
  /** Sends an HTML page with a CSP that allows nothing but its own nonce'd style and posting forms to here (and the redirect it leads to). */
  const page = (reply: FastifyReply, status: number, title: string, body: string, formTarget?: string) => {
    const nonce = randomBytes(16).toString('base64');
    const formAction = ["'self'", ...(formTarget ? [formTarget] : [])].join(' ');
    return reply
      .status(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header(
        'content-security-policy',
        `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
      )
      .send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
          `<title>${escapeHtml(title)} · Tool Registry</title><style nonce="${nonce}">body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}` +
          `label{display:block;margin:.75rem 0 .25rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}` +
          `button{margin:1rem .5rem 0 0;padding:.5rem 1rem}.error{color:#a00}code{word-break:break-all}</style></head>` +
          `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
      );
  };
  const errorPage = (reply: FastifyReply, status: number, message: string, code?: string) =>
    page(reply, status, 'Cannot sign in', `<p class="error">${escapeHtml(message)}</p>${code ? `<p>Error code: <code>${escapeHtml(code)}</code></p>` : ''}`);

  /** The origin a redirect goes to, for the CSP's form-action (a form post is followed by the redirect). */
  const originOf = (uri: string) => {
    const url = new URL(uri);
    return url.origin === 'null' ? `${url.protocol}` : url.origin;
  };

  /** Redirects to the client with `params` (and `state`, `iss`: RFC 9207). */
  const redirect = (reply: FastifyReply, req: Pick<AuthorizationRequest, 'redirectUri' | 'state'>, params: Record<string, string>) => {
    const url = new URL(req.redirectUri);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    if (req.state !== undefined) url.searchParams.set('state', req.state);
    url.searchParams.set('iss', issuer());
    return reply.header('cache-control', 'no-store').redirect(url.href, 303);
  };

  const sign = (tx: Transaction) =>
    new SignJWT({ ...tx })
      .setProtectedHeader({ alg: deps.keys.current.alg, kid: deps.keys.current.kid, typ: TRANSACTION_TYPE })
      .setIssuer(issuer())
      .setAudience(`${issuer()}/oauth/authorize`)
      .setIssuedAt()
      .setExpirationTime(`${TRANSACTION_SECONDS}s`)
      .sign(deps.keys.current.privateKey);

  /** The transaction of a form post, if it is signed by the registry, current, at `stage`, and its CSRF token matches the cookie's. */
  const transactionOf = async (request: FastifyRequest, body: Record<string, unknown>, stage: Transaction['stage']): Promise<Transaction | null> => {
    const { tx, csrf } = body;
    const fromCookie = cookie(request, csrfCookie());
    if (typeof tx !== 'string' || typeof csrf !== 'string' || !fromCookie || !sameText(csrf, fromCookie)) return null;
    try {
      const { payload } = await jwtVerify(tx, verificationKeys, {
        issuer: issuer(),
        audience: `${issuer()}/oauth/authorize`,
        typ: TRANSACTION_TYPE,
        algorithms: ['EdDSA', 'ES256'],
      });
      const transaction = payload as unknown as Transaction;
      return transaction.stage === stage && sameText(transaction.nonce, csrf) ? transaction : null;
    } catch {
      return null;
    }
  };

  const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;

  const signInPage = async (reply: FastifyReply, tx: Transaction, client: Pick<OAuthClient, 'clientName'>, status = 200, problem?: string) => {
    const mfa = deps.clients.adminMfa === 'required';
    // The provider's authorization endpoint is where the button's post is redirected to (CSP form-action).
    const endpoints = oidc ? await oidc.endpoints().catch(() => null) : null;
    const signed = await sign(tx);
    const external = oidc
      ? `<form method="post" action="/oauth/authorize">${hidden('tx', signed)}${hidden('csrf', tx.nonce)}` +
        `<button type="submit" name="action" value="oidc">Sign in with ${escapeHtml(oidc.providerName)}</button></form><p>or with a registry client:</p>`
      : deps.tokens.oidcIssuer
        ? `<p>Accounts of ${escapeHtml(deps.tokens.oidcIssuer)} cannot sign in here: sign in with a registry client id and secret.</p>`
        : '';
    return page(
      reply,
      status,
      'Sign in',
      `<p><strong>${escapeHtml(client.clientName)}</strong> wants to use the Tool Registry on your behalf.</p>` +
        (problem ? `<p class="error">${escapeHtml(problem)}</p>` : '') +
        external +
        `<form method="post" action="/oauth/authorize">${hidden('tx', signed)}${hidden('csrf', tx.nonce)}` +
        `<label for="username">Client ID</label><input type="text" id="username" name="username" autocomplete="username" required>` +
        `<label for="password">Client secret</label><input type="password" id="password" name="password" autocomplete="current-password" required>` +
        (mfa ? `<label for="totp">Authenticator code (required for admins)</label><input type="text" id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}">` : '') +
        `<button type="submit" name="action" value="signin">Sign in</button></form>`,
      [originOf(tx.req.redirectUri), ...(endpoints ? [originOf(endpoints.authorizationEndpoint)] : [])].join(' '),
    );
  };

  const consentPage = async (reply: FastifyReply, tx: Transaction, client: Pick<OAuthClient, 'clientName' | 'clientId'>, principal: Principal) =>
    page(
      reply,
      200,
      'Allow access?',
      `<p>Signed in as <strong>${escapeHtml(principal.name)}</strong>.</p>` +
        `<p><strong>${escapeHtml(client.clientName)}</strong> (<code>${escapeHtml(client.clientId)}</code>) asks for:</p>` +
        `<ul>${tx.granted!.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>` +
        `<p>on ${tx.req.audience.map((a) => `<code>${escapeHtml(a)}</code>`).join(', ')}.</p>` +
        `<p>It will be sent back to <code>${escapeHtml(tx.req.redirectUri)}</code>.</p>` +
        `<form method="post" action="/oauth/authorize">${hidden('tx', await sign(tx))}${hidden('csrf', tx.nonce)}` +
        `<button type="submit" name="action" value="approve">Allow</button><button type="submit" name="action" value="deny">Deny</button></form>`,
      originOf(tx.req.redirectUri),
    );

  // ---- GET /oauth/authorize ----
  app.get('/oauth/authorize', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const one = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
    const clientId = one('client_id');
    const redirectUri = one('redirect_uri');
    const em = deps.db.fork();
    // RFC 6749 §4.1.2.1: without a known client and one of its redirect URIs, nothing is redirected.
    const client = clientId ? await new OAuthClientService(em, deps.clients).find(clientId) : null;
    if (!client) return errorPage(reply, 400, 'Unknown client: register it first (client_id is missing, unknown or expired).');
    if (!redirectUri || !redirectUriRegistered(client, redirectUri)) {
      return errorPage(reply, 400, 'The redirect_uri is missing or is not one the client registered.');
    }
    const state = one('state');
    if (state !== undefined && state.length > 500) return errorPage(reply, 400, 'state is longer than 500 characters.');
    const back = { redirectUri, state };
    if (one('response_type') !== 'code') return redirect(reply, back, { error: 'unsupported_response_type', error_description: 'response_type must be code' });
    const challenge = one('code_challenge');
    if (one('code_challenge_method') !== 'S256' || !challenge || !isS256Challenge(challenge)) {
      return redirect(reply, back, { error: 'invalid_request', error_description: 'PKCE is required: code_challenge with code_challenge_method=S256 (plain is not accepted)' });
    }
    let audience = allAudiences(issuer());
    const resources = query.resource === undefined ? [] : Array.isArray(query.resource) ? query.resource : [query.resource];
    if (resources.length > 0) {
      const canonical = resources.map((r) => (typeof r === 'string' ? canonicalResource(r, issuer(), deps.origin(request)) : null));
      if (canonical.some((c) => c === null)) {
        return redirect(reply, back, { error: 'invalid_target', error_description: `resource must be one of ${allAudiences(issuer()).join(', ')}` });
      }
      audience = [...new Set(canonical as string[])];
    }
    const scope = one('scope');
    const scopes = scope ? scope.split(' ').filter(Boolean) : [Scope.TOOLS_READ, Scope.TOOLS_EXECUTE];
    const known = new Set<string>(Object.values(Scope));
    if (scopes.length > 20 || scopes.some((s) => !known.has(s))) {
      return redirect(reply, back, { error: 'invalid_scope', error_description: `scope may only name ${[...known].join(' ')}` });
    }
    const nonce = randomBytes(24).toString('base64url');
    reply.header(
      'set-cookie',
      `${csrfCookie()}=${nonce}; Path=/${secureCookies() ? '' : 'oauth/authorize'}; HttpOnly; SameSite=Strict; Max-Age=${TRANSACTION_SECONDS}${secureCookies() ? '; Secure' : ''}`,
    );
    return signInPage(reply, { req: { clientId: client.clientId, redirectUri, codeChallenge: challenge, state, scopes, audience }, nonce, stage: 'signin' }, client);
  });

  // ---- POST /oauth/authorize ----
  app.post('/oauth/authorize', { bodyLimit: 16 * 1024 }, async (request, reply) => {
    const body = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
    const action = body.action;
    const stage = action === 'signin' || action === 'oidc' ? 'signin' : 'consent';
    const tx = await transactionOf(request, body, stage);
    if (!tx) return errorPage(reply, 403, 'This sign-in form expired or was not sent from this page; start again from your application.');
    const em = deps.db.fork();
    const client = await new OAuthClientService(em, deps.clients).find(tx.req.clientId);
    if (!client) return errorPage(reply, 400, 'The client is no longer registered.');
    const sourceIp = deps.sourceIp?.(request) ?? request.ip;
    const audit = (action: string, outcome: AuditOutcome, principalId: string | null, details: Record<string, unknown>) =>
      AuditService.appendAlone(em, { actorId: principalId, requestId: request.id, sourceIp, action, targetType: 'oauth_client', targetId: client.clientId, outcome, details });

    if (action === 'oidc') {
      if (!oidc) return errorPage(reply, 400, 'No identity provider is configured for sign-in.', 'oidc_not_configured');
      const round = oidc.newRound();
      let target: string;
      try {
        target = await oidc.authorizationUrl(round, callbackUri());
      } catch (error) {
        if (!(error instanceof OidcLoginError)) throw error;
        await audit('oauth.signin.oidc', AuditOutcome.DENIED, null, { reason: error.code });
        return errorPage(reply, 502, error.message, error.code);
      }
      // The round (and the verifier PKCE keeps from the front channel) stays in an HttpOnly cookie,
      // signed and bound to this sign-in; Lax, as the provider sends the browser back cross-site.
      const login = await new SignJWT({ tx: { ...tx }, round: { ...round } })
        .setProtectedHeader({ alg: deps.keys.current.alg, kid: deps.keys.current.kid, typ: LOGIN_TYPE })
        .setIssuer(issuer())
        .setAudience(callbackUri())
        .setIssuedAt()
        .setExpirationTime(`${TRANSACTION_SECONDS}s`)
        .sign(deps.keys.current.privateKey);
      reply.header('set-cookie', `${loginCookie()}=${login}; Path=/oauth/callback; HttpOnly; SameSite=Lax; Max-Age=${TRANSACTION_SECONDS}${secureCookies() ? '; Secure' : ''}`);
      return reply.header('cache-control', 'no-store').redirect(target, 303);
    }

    if (stage === 'signin') {
      const username = typeof body.username === 'string' ? body.username.slice(0, 128) : '';
      const password = typeof body.password === 'string' ? body.password : '';
      if (!username || !password) return signInPage(reply, tx, client, 400, 'Enter a client ID and secret.');
      const attempt = await deps.throttle.attempt(username, sourceIp);
      if (!attempt.allowed) {
        if (attempt.auditRefusal) await audit('oauth.signin.throttle', AuditOutcome.DENIED, null, { limit: attempt.limit, refused: attempt.refused });
        reply.header('retry-after', String(attempt.retryAfterSeconds));
        return signInPage(reply, tx, client, 429, `Too many failed sign-ins; retry after ${attempt.retryAfterSeconds} s.`);
      }
      let principal: Principal | null | typeof BUSY;
      try {
        principal = await attempt.verify(() => new PrincipalService(em).authenticateClient(username, password));
      } catch (error) {
        attempt.abandoned();
        throw error;
      }
      if (principal === BUSY) {
        attempt.abandoned();
        return signInPage(reply, tx, client, 429, 'Too many sign-ins in progress; retry in a second.');
      }
      if (!principal) {
        const { failures, audit: audited } = await attempt.failed();
        if (audited) await audit('oauth.signin', AuditOutcome.DENIED, null, { reason: 'invalid_credentials', failures });
        return signInPage(reply, tx, client, 401, 'Unknown client ID or wrong secret.');
      }
      const holds = viewerOf(principal).scopes;
      if (deps.clients.adminMfa === 'required' && holds.has(Scope.ADMIN)) {
        const totp = new TotpService(em, deps.vault);
        if (!(await totp.enrolled(principal.id))) {
          await attempt.succeeded();
          await audit('oauth.signin', AuditOutcome.DENIED, principal.id, { reason: 'mfa_not_enrolled' });
          return signInPage(reply, tx, client, 403, 'Admins must sign in with a second factor, and this admin has none: enrol one with `npm run admin:mfa -- <client id>`.');
        }
        const code = typeof body.totp === 'string' ? body.totp.trim() : '';
        if (!(await totp.verify(principal.id, code))) {
          const { failures, audit: audited } = await attempt.failed();
          if (audited) await audit('oauth.signin', AuditOutcome.DENIED, principal.id, { reason: 'invalid_totp', failures });
          return signInPage(reply, tx, client, 401, 'Admins need a valid, unused authenticator code.');
        }
      }
      await attempt.succeeded();
      const granted = tx.req.scopes.filter((s) => holds.has(s as never));
      if (granted.length === 0) {
        await audit('oauth.authorize', AuditOutcome.DENIED, principal.id, { reason: 'invalid_scope', requested: tx.req.scopes });
        return redirect(reply, tx.req, { error: 'invalid_scope', error_description: 'The principal holds none of the scopes asked for' });
      }
      return consentPage(reply, { ...tx, stage: 'consent', principalId: principal.id, granted }, client, principal);
    }

    const principal = await em.findOne(Principal, { id: tx.principalId!, status: PrincipalStatus.ACTIVE });
    if (action !== 'approve' || !principal) {
      await audit('oauth.authorize', AuditOutcome.DENIED, tx.principalId ?? null, { reason: principal ? 'denied_by_user' : 'principal_inactive' });
      return redirect(reply, tx.req, { error: 'access_denied', error_description: principal ? 'The sign-in was denied' : 'The principal is no longer active' });
    }
    const code = await new AuthorizationCodes(em).issue({
      clientId: client.clientId,
      principal,
      redirectUri: tx.req.redirectUri,
      codeChallenge: tx.req.codeChallenge,
      audience: tx.req.audience,
      scopes: tx.granted!,
    });
    await new OAuthClientService(em, deps.clients).used(client);
    await audit('oauth.authorize', AuditOutcome.SUCCESS, principal.id, { scopes: tx.granted, audience: tx.req.audience });
    return redirect(reply, tx.req, { code });
  });

  // ---- GET /oauth/callback: back from the external identity provider ----
  app.get('/oauth/callback', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const one = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
    const em = deps.db.fork();
    const sourceIp = deps.sourceIp?.(request) ?? request.ip;
    // Whatever happens, this round is over: its cookie goes.
    reply.header('set-cookie', `${loginCookie()}=; Path=/oauth/callback; HttpOnly; SameSite=Lax; Max-Age=0${secureCookies() ? '; Secure' : ''}`);
    let login: { tx: Transaction; round: LoginRound } | null = null;
    const raw = cookie(request, loginCookie());
    if (oidc && raw) {
      try {
        const { payload } = await jwtVerify(raw, verificationKeys, { issuer: issuer(), audience: callbackUri(), typ: LOGIN_TYPE, algorithms: ['EdDSA', 'ES256'] });
        login = payload as unknown as { tx: Transaction; round: LoginRound };
      } catch {
        login = null;
      }
    }
    const fail = async (status: number, code: string, message: string, principalId: string | null = null) => {
      await AuditService.appendAlone(em, {
        actorId: principalId,
        requestId: request.id,
        sourceIp,
        action: 'oauth.signin.oidc',
        targetType: 'oauth_client',
        targetId: login?.tx.req.clientId ?? null,
        outcome: AuditOutcome.DENIED,
        details: { reason: code },
      });
      return errorPage(reply, status, message, code);
    };
    if (!login) return fail(400, 'oidc_login_expired', 'This sign-in expired or was not started from this browser; start again from your application.');
    const state = one('state');
    if (!state || !sameText(state, login.round.state)) return fail(400, 'oidc_state_mismatch', 'The identity provider answered for another sign-in; start again from your application.');
    // Once per round, across replicas: a replayed callback is refused before its code is sent anywhere.
    const once = await deps.registrations.take(`oidc-callback:${createHash('sha256').update(state).digest('base64url')}`, 1, TRANSACTION_SECONDS * 1000).catch(() => null);
    if (!once) return fail(503, 'oidc_unavailable', 'Sign-in is unavailable right now; retry in a few seconds.');
    if (!once.admitted) return fail(400, 'oidc_callback_replayed', 'This sign-in was already completed; start again from your application.');
    const providerError = one('error');
    if (providerError !== undefined) {
      const shown = /^[a-z_]{1,64}$/.test(providerError) ? providerError : 'error';
      return fail(403, 'oidc_provider_refused', `The identity provider refused the sign-in (${shown}).`);
    }
    const code = one('code');
    if (!code || code.length > 2048) return fail(400, 'oidc_code_missing', 'The identity provider sent no authorization code.');
    let claims;
    try {
      claims = await oidc!.finish(code, login.round, callbackUri());
    } catch (error) {
      if (!(error instanceof OidcLoginError)) throw error;
      return fail(error.code === 'oidc_unavailable' ? 502 : 400, error.code, error.message);
    }
    const { tx } = login;
    const client = await new OAuthClientService(em, deps.clients).find(tx.req.clientId);
    if (!client) return fail(400, 'client_unknown', 'The client is no longer registered.');
    const principal = await externalPrincipal(em, deps.clients.oidcLogin!.issuer, claims.sub!);
    if (principal.status !== PrincipalStatus.ACTIVE) return fail(403, 'principal_inactive', 'This account is disabled in the registry.', principal.id);
    // What the provider grants at this sign-in: its scope claim, else what a viewer holds. It
    // becomes the principal's own scopes (roles an admin gave it still add theirs).
    const claim = claims[deps.clients.oidcLogin!.scopeClaim];
    const fromProvider = claim === undefined ? [...ROLE_SCOPES.viewer!] : (typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : []).filter((s): s is Scope => typeof s === 'string' && isScope(s));
    const scopes = [...new Set(fromProvider)].sort();
    if (scopes.join(' ') !== [...principal.scopes].sort().join(' ')) {
      principal.scopes = scopes;
      await em.flush();
      await deps.principalChanges?.changed(principal.id);
    }
    const holds = viewerOf(principal).scopes;
    if (deps.clients.adminMfa === 'required' && holds.has(Scope.ADMIN)) {
      const amr = Array.isArray(claims.amr) ? claims.amr : [];
      if (!amr.some((m) => typeof m === 'string' && MFA_AMR.has(m))) {
        return fail(403, 'oidc_mfa_required', 'Admins must sign in with a second factor: the identity provider did not report one (amr).', principal.id);
      }
    }
    const granted = tx.req.scopes.filter((s) => holds.has(s as never));
    if (granted.length === 0) {
      await AuditService.appendAlone(em, { actorId: principal.id, requestId: request.id, sourceIp, action: 'oauth.authorize', targetType: 'oauth_client', targetId: client.clientId, outcome: AuditOutcome.DENIED, details: { reason: 'invalid_scope', requested: tx.req.scopes } });
      return redirect(reply, tx.req, { error: 'invalid_scope', error_description: 'The principal holds none of the scopes asked for' });
    }
    await AuditService.appendAlone(em, { actorId: principal.id, requestId: request.id, sourceIp, action: 'oauth.signin.oidc', targetType: 'oauth_client', targetId: client.clientId, outcome: AuditOutcome.SUCCESS, details: { scopes } });
    return consentPage(reply, { ...tx, stage: 'consent', principalId: principal.id, granted }, client, principal);
  });
}
