import { createHash, randomUUID } from 'node:crypto';
import { type EntityManager } from '@mikro-orm/postgresql';
import { ErrorCode, RegistryError } from '../errors.js';
import { Principal, PrincipalKind, type TokenHolderCache, type Viewer } from '../modules/principal/index.js';
import { PrincipalService, viewerOf, viewerWithScopes } from '../modules/principal/index.js';
import { type AccessTokens, InvalidTokenError } from './access-tokens.js';
import { isScope } from './scopes.js';
import { type AuthFailureReason, metrics } from '../observability/metrics.js';

/** An authentication failure: HTTP 401 with UNAUTHENTICATED, never echoing the token. */
export class AuthenticationError extends RegistryError {
  constructor(
    message: string,
    /** Why, as counted by `registry_authentication_failures_total`. */
    readonly reason: AuthFailureReason = 'invalid_token',
    /** The `WWW-Authenticate` challenge; plain `Bearer` unless the refusal names the resource metadata. */
    readonly challenge = 'Bearer',
  ) {
    super(ErrorCode.UNAUTHENTICATED, message, { http: { status: 401, headers: new Map([['www-authenticate', challenge]]) } });
  }
}

/** The resource a request is for: a registry token must carry it in `aud` (RFC 8707). */
export interface ExpectedResource {
  /** `<issuer>/mcp`, `<issuer>/utcp` or `<issuer>/graphql`. */
  audience: string;
  /** Its protected-resource metadata (RFC 9728), named in the refusal's challenge. */
  metadataUrl: string;
}

/** The principal id an external (OIDC) subject is known by: stable, short, not reversible. */
export function externalClientId(issuer: string, subject: string): string {
  return `oidc:${createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 40)}`;
}

/**
 * The principal of an external subject (its tokens, and its sign-ins through the provider's login),
 * created on first sight.
 */
export async function externalPrincipal(em: EntityManager, issuer: string, subject: string): Promise<Principal> {
  const clientId = externalClientId(issuer, subject);
  const known = await em.findOne(Principal, { clientId });
  if (known) return known;
  // Two first requests may race; the unique client id keeps one row.
  await em.upsert(
    Principal,
    { id: randomUUID(), name: subject.slice(0, 200), kind: PrincipalKind.USER, clientId },
    { onConflictFields: ['clientId'], onConflictAction: 'ignore' },
  );
  return em.findOneOrFail(Principal, { clientId });
}

/**
 * Turns an `Authorization` header into the request's viewer. A warm process does it without SQL:
 * the token's signature is checked once per token ({@link AccessTokens.verify}) and its holder's
 * status and revocations come from `holders`, which every replica keeps current over the event bus.
 */
export class Authenticator {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly holders: TokenHolderCache,
  ) {}

  /**
   * Null without a header; the viewer of a valid bearer token otherwise. Throws
   * {@link AuthenticationError} for a malformed header, a bad or expired token, or a token whose
   * principal is disabled or whose tokens or token family were revoked, or a registry token whose
   * `aud` does not include `options.resource` (external tokens are checked against OIDC_AUDIENCE
   * instead); counts it in the metrics unless `options.uncounted`.
   */
  async authenticate(
    header: string | undefined,
    em: EntityManager,
    options: { resource?: ExpectedResource; uncounted?: boolean } = {},
  ): Promise<Viewer | null> {
    try {
      return await this.viewerOf(header, em, options.resource);
    } catch (error) {
      // A fast path that falls back to the full one leaves the count to it (`uncounted`).
      if (error instanceof AuthenticationError && !options.uncounted) metrics.authFailures.inc({ reason: error.reason });
      throw error;
    }
  }

  private async viewerOf(header: string | undefined, em: EntityManager, resource: ExpectedResource | undefined): Promise<Viewer | null> {
    if (header === undefined || header === '') return null;
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <token>"', 'malformed_header');
    let claims;
    try {
      claims = await this.tokens.verify(match[1]!);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new AuthenticationError(error.message);
      throw error;
    }
    if (claims.externalIssuer) return this.external(em, claims.externalIssuer, claims.subject, claims.scopes, claims.issuedAt);
    if (resource && !claims.audience?.includes(resource.audience)) {
      throw new AuthenticationError(
        `The access token is not meant for ${resource.audience}: request one with resource=${resource.audience}`,
        'wrong_audience',
        `Bearer error="invalid_token", resource_metadata="${resource.metadataUrl}"`,
      );
    }
    const { subject } = claims;
    const familyId = claims.familyId ?? '';
    const holder = await this.holders.family(subject, familyId, () => new PrincipalService(em).holderOf(subject, familyId));
    const principal = PrincipalService.tokenHolder(holder, claims.issuedAt);
    if (!principal) {
      throw new AuthenticationError('The access token was revoked', 'revoked');
    }
    return viewerOf(principal, claims.scopes);
  }

  /** A principal for an external subject, created on first sight; scopes come from the token. */
  private async external(em: EntityManager, issuer: string, subject: string, scopes: string[], issuedAt: Date): Promise<Viewer> {
    const clientId = externalClientId(issuer, subject);
    const principal = await this.holders.externalHolder(clientId, () => externalPrincipal(em, issuer, subject));
    if (!PrincipalService.accepts(principal, issuedAt)) throw new AuthenticationError('The access token was revoked', 'revoked');
    return viewerWithScopes(principal, scopes.filter(isScope));
  }
}
