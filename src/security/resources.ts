/** The registry's protected resources (RFC 8707 resource indicators, RFC 9728 metadata), by path. */
export const RESOURCE_PATHS = ['/mcp', '/utcp', '/graphql'] as const;
export type ResourcePath = (typeof RESOURCE_PATHS)[number];

/** Where a resource's protected-resource metadata (RFC 9728) is served, relative to the origin. */
export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

/** The audience (`aud`) of tokens for `path`: the resource's URL under the issuer. */
export function audienceOf(issuer: string, path: ResourcePath): string {
  return `${issuer}${path}`;
}

/** Every resource of the registry: what a token requested without `resource` is for. */
export function allAudiences(issuer: string): string[] {
  return RESOURCE_PATHS.map((path) => audienceOf(issuer, path));
}

/**
 * The canonical audience for a `resource` parameter: a URL without query or fragment naming one of
 * {@link RESOURCE_PATHS} under the issuer or under the origin the client reached the registry at
 * (as the protected-resource metadata told it); null when it names nothing of the registry's.
 */
export function canonicalResource(resource: string, issuer: string, requestOrigin: string): string | null {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return null;
  }
  if (url.search || url.hash || url.username || url.password) return null;
  if (url.origin !== new URL(issuer).origin && url.origin !== new URL(requestOrigin).origin) return null;
  const path = RESOURCE_PATHS.find((p) => p === url.pathname);
  return path ? audienceOf(issuer, path) : null;
}

/** The resource a request path belongs to: `/mcp`, `/graphql`, or `/utcp` (the manual and its call routes). */
export function resourceOfRoute(route: string | undefined): ResourcePath {
  if (route?.startsWith('/mcp')) return '/mcp';
  if (route?.startsWith('/utcp') || route?.startsWith('/tools')) return '/utcp';
  // The GraphQL API and the operator's routes beside it (`/metrics`, `/audit/export`).
  return '/graphql';
}
