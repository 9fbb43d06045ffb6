import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { type SigningKeyRing } from './signing-keys.js';

/** An external identity provider whose tokens the registry accepts. */
export interface OidcConfig {
  issuer: string;
  jwksUrl: string;
  audience?: string;
  /** Claim holding the scopes: a space-separated string or an array. */
  scopeClaim: string;
}

export interface AccessTokenOptions {
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
  jti?: string;
  /** The OIDC issuer for external tokens; undefined for the registry's own. */
  externalIssuer?: string;
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

/** Signs and verifies access tokens: the registry's own JWTs, and an external IdP's when configured. */
export class AccessTokens {
  private readonly localKeys: ReturnType<typeof createLocalJWKSet>;
  private readonly remoteKeys?: ReturnType<typeof createRemoteJWKSet>;

  constructor(
    private readonly keys: SigningKeyRing,
    private readonly options: AccessTokenOptions,
  ) {
    this.localKeys = createLocalJWKSet(keys.jwks);
    if (options.oidc) this.remoteKeys = createRemoteJWKSet(new URL(options.oidc.jwksUrl), { timeoutDuration: 5000 });
  }

  /** A signed JWT for `principalId` with `sub`, `scope`, `jti`, `iat`, `exp` and `iss`. */
  async issue(principalId: string, scopes: readonly string[]): Promise<{ token: string; expiresIn: number }> {
    const { current } = this.keys;
    const token = await new SignJWT({ scope: scopes.join(' ') })
      .setProtectedHeader({ alg: current.alg, kid: current.kid, typ: 'at+jwt' })
      .setSubject(principalId)
      .setIssuer(this.options.issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.options.ttlSeconds}s`)
      .sign(current.privateKey);
    return { token, expiresIn: this.options.ttlSeconds };
  }

  /** Verifies a bearer token's signature, issuer and lifetime. Throws {@link InvalidTokenError}. */
  async verify(token: string): Promise<AccessTokenClaims> {
    const issuer = this.peekIssuer(token);
    try {
      if (this.options.oidc && this.remoteKeys && issuer === this.options.oidc.issuer) {
        const { payload } = await jwtVerify(token, this.remoteKeys, {
          issuer: this.options.oidc.issuer,
          audience: this.options.oidc.audience,
          algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
        });
        return this.claims(payload, scopesOf(payload[this.options.oidc.scopeClaim]), this.options.oidc.issuer);
      }
      const { payload } = await jwtVerify(token, this.localKeys, {
        issuer: this.options.issuer,
        algorithms: ['EdDSA', 'ES256'],
        typ: 'at+jwt',
      });
      return this.claims(payload, scopesOf(payload.scope));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('expired');
      throw new InvalidTokenError('invalid');
    }
  }

  private claims(payload: JWTPayload, scopes: string[], externalIssuer?: string): AccessTokenClaims {
    if (!payload.sub || typeof payload.iat !== 'number') throw new InvalidTokenError('invalid');
    return { subject: payload.sub, scopes, issuedAt: new Date(payload.iat * 1000), jti: payload.jti, externalIssuer };
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
