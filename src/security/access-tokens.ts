import { createHash, randomUUID } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { type SigningKeyRing } from './signing-keys.js';

/** An external identity provider whose tokens the registry accepts. */
export interface OidcConfig {
  issuer: string;
  jwksUrl: string;
  audience?: string;
  /** Claim holding the scopes: a space-separated string or an array. */
  scopeClaim: string;
}

/** Largest clock difference tolerated with the replica or identity provider that issued a token (`iat`, `nbf`). */
export const CLOCK_SKEW_SECONDS = 60;

/** Longest lifetime (`exp` − `iat`) accepted for a token of an external identity provider. */
export const MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS = 86_400;

export interface AccessTokenOptions {
  /** `iss` of the registry's tokens: REGISTRY_PUBLIC_URL, else the listen origin (see {@link AccessTokens.useIssuer}). */
  issuer: string;
  /** Lifetime of an access token, in seconds. */
  ttlSeconds: number;
  oidc?: OidcConfig;
}

/** What a verified access token says. */
export interface AccessTokenClaims {
  /** Principal id (registry tokens) or the external subject (OIDC tokens). */
  subject: string;
  scopes: string[];
  issuedAt: Date;
  /** `exp`: the token is refused from this instant on. */
  expiresAt: Date;
  jti?: string;
  /** The token family (`sid`) of a registry token: the sign-in it was minted from. */
  familyId?: string;
  /** The OIDC issuer for external tokens; undefined for the registry's own. */
  externalIssuer?: string;
  /** `aud` of a registry token: the resource URLs (`<issuer>/mcp`, `/utcp`, `/graphql`) it is meant for. */
  audience?: readonly string[];
}

/** Why a token was refused; never includes the token. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'The access token has expired' : 'The access token is not valid');
    this.name = 'InvalidTokenError';
  }
}

function scopesOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * Refuses a token whose times the registry would never have issued: expired (no tolerance), issued
 * or valid only from more than {@link CLOCK_SKEW_SECONDS} in the future, or living longer than
 * `maxLifetime` seconds. `exp` and `iat` were required by the verification before.
 */
function checkTimes(payload: JWTPayload, maxLifetime: number): void {
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp } = payload as { iat: number; exp: number };
  if (exp <= now) throw new InvalidTokenError('expired');
  if (iat > now + CLOCK_SKEW_SECONDS || exp - iat > maxLifetime) throw new InvalidTokenError('invalid');
}

/**
 * `http(s)://host:port` of a listening socket (https when serving TLS), as the registry's issuer
 * when REGISTRY_PUBLIC_URL is unset; a wildcard address (`0.0.0.0`, `::`) becomes `localhost`.
 */
export function listenOrigin(host: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  const name = host === '' || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${name}:${port}`;
}

/** Most verified tokens remembered per process. */
const VERIFIED_TOKENS = 10_000;

/** The key a verified token is remembered by: its sha-256, never the token itself. */
function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Signs and verifies access tokens: the registry's own JWTs, and an external IdP's when configured.
 * A token that verified is remembered (by its hash, in a bounded LRU) until its `exp`, so a warm
 * process checks a token's signature once; refusals are not remembered. Whether the token's holder
 * may still use it (revocation, a disabled principal) is not decided here but on every request.
 */
export class AccessTokens {
  private readonly verified = new LRUCache<string, AccessTokenClaims>({ max: VERIFIED_TOKENS });
  private readonly localKeys: ReturnType<typeof createLocalJWKSet>;
  private readonly remoteKeys?: ReturnType<typeof createRemoteJWKSet>;
  private currentIssuer: string;

  constructor(
    private readonly keys: SigningKeyRing,
    private readonly options: AccessTokenOptions,
  ) {
    this.currentIssuer = options.issuer;
    this.localKeys = createLocalJWKSet(keys.jwks);
    if (options.oidc) this.remoteKeys = createRemoteJWKSet(new URL(options.oidc.jwksUrl), { timeoutDuration: 5000 });
  }

  /** `iss` of the registry's tokens, which is also the OAuth metadata's `issuer`. */
  get issuer(): string {
    return this.currentIssuer;
  }

  /** The external identity provider whose tokens are accepted, if one is configured. */
  get oidcIssuer(): string | undefined {
    return this.options.oidc?.issuer;
  }

  /** Sets the issuer once the listen origin is known (no REGISTRY_PUBLIC_URL); before serving requests. */
  useIssuer(issuer: string): void {
    this.currentIssuer = issuer;
    this.verified.clear();
  }

  /**
   * A signed JWT for `principalId` with `sub`, `scope`, `sid` (the token family), `aud` (the
   * resources it is meant for, RFC 8707), `jti`, `iat`, `exp` and `iss`.
   */
  async issue(principalId: string, scopes: readonly string[], familyId: string, audience: readonly string[]): Promise<{ token: string; expiresIn: number }> {
    const { current } = this.keys;
    const token = await new SignJWT({ scope: scopes.join(' '), sid: familyId })
      .setProtectedHeader({ alg: current.alg, kid: current.kid, typ: 'at+jwt' })
      .setSubject(principalId)
      .setAudience([...audience])
      .setIssuer(this.currentIssuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.options.ttlSeconds}s`)
      .sign(current.privateKey);
    return { token, expiresIn: this.options.ttlSeconds };
  }

  /**
   * Verifies a bearer token's signature, issuer and times (`exp` and `iat` required; see
   * {@link checkTimes}); a registry token must also carry `jti` and `sid`. Throws {@link InvalidTokenError}.
   * The claims returned are frozen: a token verified before is answered from memory until it expires.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    const key = tokenKey(token);
    const known = this.verified.get(key);
    if (known) {
      if (known.expiresAt.getTime() > Date.now()) return known;
      this.verified.delete(key);
      throw new InvalidTokenError('expired');
    }
    const claims = Object.freeze(await this.check(token));
    Object.freeze(claims.scopes);
    const ttl = claims.expiresAt.getTime() - Date.now();
    if (ttl > 0) this.verified.set(key, claims, { ttl });
    return claims;
  }

  private async check(token: string): Promise<AccessTokenClaims> {
    const issuer = this.peekIssuer(token);
    try {
      if (this.options.oidc && this.remoteKeys && issuer === this.options.oidc.issuer) {
        const { payload } = await jwtVerify(token, this.remoteKeys, {
          issuer: this.options.oidc.issuer,
          audience: this.options.oidc.audience,
          algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
          requiredClaims: ['sub', 'iat', 'exp'],
          clockTolerance: CLOCK_SKEW_SECONDS,
        });
        checkTimes(payload, MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS);
        return this.claims(payload, scopesOf(payload[this.options.oidc.scopeClaim]), this.options.oidc.issuer);
      }
      const { payload } = await jwtVerify(token, this.localKeys, {
        issuer: this.currentIssuer,
        algorithms: ['EdDSA', 'ES256'],
        typ: 'at+jwt',
        requiredClaims: ['sub', 'iat', 'exp', 'jti', 'sid'],
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      checkTimes(payload, this.options.ttlSeconds);
      if (typeof payload.sid !== 'string') throw new InvalidTokenError('invalid');
      // No `aud` means no resource: every endpoint refuses such a token (see Authenticator).
      const audience = Object.freeze(typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []));
      return { ...this.claims(payload, scopesOf(payload.scope)), familyId: payload.sid, audience };
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('expired');
      throw new InvalidTokenError('invalid');
    }
  }

  private claims(payload: JWTPayload, scopes: string[], externalIssuer?: string): AccessTokenClaims {
    if (!payload.sub || typeof payload.iat !== 'number' || typeof payload.exp !== 'number') throw new InvalidTokenError('invalid');
    return {
      subject: payload.sub,
      scopes,
      issuedAt: new Date(payload.iat * 1000),
      expiresAt: new Date(payload.exp * 1000),
      jti: payload.jti,
      externalIssuer,
    };
  }

  /** The unverified `iss`, only to pick which keys verify the token. */
  private peekIssuer(token: string): string | undefined {
    const [, body] = token.split('.');
    if (!body) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { iss?: unknown };
      return typeof parsed.iss === 'string' ? parsed.iss : undefined;
    } catch {
      return undefined;
    }
  }
}
