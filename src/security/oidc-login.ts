import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { type OidcLoginConfig } from '../config.js';
import { CLOCK_SKEW_SECONDS, MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS } from './access-tokens.js';

/** The endpoints of the provider's discovery document that the login uses. */
interface ProviderEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** How long the discovery document is reused. */
const DISCOVERY_TTL_MS = 3_600_000;
/** How long a failed discovery is answered from memory (a provider that is down does not slow every sign-in page). */
const DISCOVERY_RETRY_MS = 30_000;
/** Largest discovery or token response read. */
const MAX_RESPONSE_BYTES = 256 * 1024;
const TIMEOUT_MS = 5_000;

/** Why a login through the provider failed: a stable code for the error page and the audit log. */
export class OidcLoginError extends Error {
  constructor(
    readonly code: 'oidc_unavailable' | 'oidc_code_rejected' | 'oidc_id_token_invalid',
    message: string,
  ) {
    super(message);
    this.name = 'OidcLoginError';
  }
}

/** The S256 challenge of a PKCE verifier (RFC 7636). */
function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (text.length > MAX_RESPONSE_BYTES) throw new Error('response too large');
  const parsed = JSON.parse(text) as unknown;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The parameters one login round trip is bound by; kept by the registry (signed cookie), never sent in full. */
export interface LoginRound {
  state: string;
  nonce: string;
  verifier: string;
}

/**
 * The registry as an OpenID Connect relying party of the configured provider (OIDC_ISSUER,
 * OIDC_CLIENT_ID): authorization code flow with PKCE S256, `state` and `nonce`; the id_token's
 * signature is checked with the keys of OIDC_JWKS_URL (the same trusted URL external access
 * tokens are verified with). The discovery document is fetched from the configured issuer and
 * reused for an hour; a failed fetch is retried after 30 s.
 */
export class OidcLogin {
  private discovered?: { at: number; endpoints: ProviderEndpoints };
  private failedAt = -Infinity;
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(readonly config: OidcLoginConfig) {
    this.keys = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: TIMEOUT_MS });
  }

  /** The host the sign-in button names. */
  get providerName(): string {
    return URL.parse(this.config.issuer)?.host ?? this.config.issuer;
  }

  /** The provider's endpoints from `<issuer>/.well-known/openid-configuration`, cached. Throws {@link OidcLoginError}. */
  async endpoints(): Promise<ProviderEndpoints> {
    if (this.discovered && Date.now() - this.discovered.at < DISCOVERY_TTL_MS) return this.discovered.endpoints;
    if (Date.now() - this.failedAt < DISCOVERY_RETRY_MS) throw new OidcLoginError('oidc_unavailable', 'The identity provider could not be reached; retry in a minute.');
    try {
      const endpoints = await this.discover();
      this.discovered = { at: Date.now(), endpoints };
      return endpoints;
    } catch (error) {
      this.failedAt = Date.now();
      throw error;
    }
  }

  private async discover(): Promise<ProviderEndpoints> {
    const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: Record<string, unknown>;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error', headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = await readJson(response);
    } catch {
      throw new OidcLoginError('oidc_unavailable', 'The identity provider could not be reached.');
    }
    const { issuer, authorization_endpoint: authorizationEndpoint, token_endpoint: tokenEndpoint } = document;
    // OpenID Connect Discovery §4.3: the document's issuer is the one it was fetched for.
    if (issuer !== this.config.issuer || typeof authorizationEndpoint !== 'string' || typeof tokenEndpoint !== 'string' || !URL.canParse(authorizationEndpoint) || !URL.canParse(tokenEndpoint)) {
      throw new OidcLoginError('oidc_unavailable', 'The identity provider’s discovery document is not valid for the configured issuer.');
    }
    return { authorizationEndpoint, tokenEndpoint };
  }

  /** A fresh state, nonce and PKCE verifier for one login. */
  newRound(): LoginRound {
    return { state: randomBytes(32).toString('base64url'), nonce: randomBytes(32).toString('base64url'), verifier: randomBytes(32).toString('base64url') };
  }

  /** Where the browser is sent to sign in at the provider. */
  async authorizationUrl(round: LoginRound, redirectUri: string): Promise<string> {
    const url = new URL((await this.endpoints()).authorizationEndpoint);
    const params = {
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: redirectUri,
      scope: 'openid',
      state: round.state,
      nonce: round.nonce,
      code_challenge: challengeOf(round.verifier),
      code_challenge_method: 'S256',
    };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.href;
  }

  /**
   * Exchanges `code` at the token endpoint (client_secret_basic with a secret, else as a public
   * client) and returns the verified id_token's claims: signature from the JWKS, `iss`, `aud` =
   * OIDC_CLIENT_ID (and `azp` if present), `nonce`, `exp`/`iat`. Throws {@link OidcLoginError}.
   */
  async finish(code: string, round: LoginRound, redirectUri: string): Promise<JWTPayload> {
    const { tokenEndpoint } = await this.endpoints();
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: round.verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const { clientId, clientSecret } = this.config;
    if (clientSecret) {
      // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
    }
    let idToken: unknown;
    try {
      const response = await fetch(tokenEndpoint, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
      const body = await readJson(response);
      if (!response.ok) throw new Error('refused');
      idToken = body.id_token;
    } catch {
      throw new OidcLoginError('oidc_code_rejected', 'The identity provider did not accept the sign-in (the code is invalid, expired or already used).');
    }
    if (typeof idToken !== 'string') throw new OidcLoginError('oidc_id_token_invalid', 'The identity provider returned no id_token.');
    try {
      const { payload } = await jwtVerify(idToken, this.keys, {
        issuer: this.config.issuer,
        audience: clientId,
        algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
        requiredClaims: ['sub', 'iat', 'exp', 'nonce'],
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      const now = Math.floor(Date.now() / 1000);
      const { iat, exp } = payload as { iat: number; exp: number };
      const nonceMatches = typeof payload.nonce === 'string' && payload.nonce === round.nonce;
      const azpMatches = payload.azp === undefined || payload.azp === clientId;
      if (!nonceMatches || !azpMatches || iat > now + CLOCK_SKEW_SECONDS || exp - iat > MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS || !payload.sub) throw new Error('claims');
      return payload;
    } catch {
      throw new OidcLoginError('oidc_id_token_invalid', 'The identity provider’s id_token is not valid for this sign-in.');
    }
  }
}
