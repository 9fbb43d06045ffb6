import { type FastifyRequest } from 'fastify';
import { type RegistryContext } from '../context.types.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { type Viewer } from '../modules/principal/index.js';
import { AuthenticationError } from '../security/authenticate.js';
import { Scope } from '../security/scopes.js';

/** What the interop endpoints (/mcp, /utcp) are built from. */
export interface InteropDependencies {
  /** The viewer of an `Authorization` header; throws AuthenticationError for a bad token, null without one. */
  authenticate(request: FastifyRequest): Promise<Viewer | null>;
  context(request: FastifyRequest, viewer: Viewer): RegistryContext;
  /** `https://registry.example` as clients reach the registry (REGISTRY_PUBLIC_URL, else from the request). */
  origin(request: FastifyRequest): string;
  /** The OAuth issuer: the `iss` of the registry's tokens (REGISTRY_PUBLIC_URL, else the listen origin). */
  issuer(): string;
}

/** Why a request to an interop endpoint is refused, in HTTP and OAuth (RFC 6750) terms. */
export interface BearerRefusal {
  status: 401 | 403;
  code: ErrorCode;
  message: string;
  /** `WWW-Authenticate` parameters after `Bearer`, e.g. `error="insufficient_scope"`. */
  challenge: string[];
  /** The whole `WWW-Authenticate` header when the refusal names the resource's metadata itself (a token for another resource). */
  header?: string;
}

/**
 * The caller of an interop request, who must present a valid bearer token with `tools:execute`; or
 * why not. Errors other than authentication failures propagate.
 */
export async function requireExecutor(
  request: FastifyRequest,
  authenticate: (request: FastifyRequest) => Promise<Viewer | null>,
): Promise<{ viewer: Viewer } | BearerRefusal> {
  return requireBearerScope(request, authenticate, Scope.TOOLS_EXECUTE);
}

/**
 * The caller of an HTTP endpoint outside GraphQL, who must present a valid bearer token with `scope`;
 * or why not. Errors other than authentication failures propagate.
 */
export async function requireBearerScope(
  request: FastifyRequest,
  authenticate: (request: FastifyRequest) => Promise<Viewer | null>,
  scope: Scope,
): Promise<{ viewer: Viewer } | BearerRefusal> {
  let viewer: Viewer | null;
  try {
    viewer = await authenticate(request);
  } catch (error) {
    if (error instanceof RegistryError && error.code === ErrorCode.UNAUTHENTICATED) {
      const header = error instanceof AuthenticationError && error.challenge !== 'Bearer' ? error.challenge : undefined;
      return { status: 401, code: ErrorCode.UNAUTHENTICATED, message: error.message, challenge: ['error="invalid_token"'], header };
    }
    throw error;
  }
  if (!viewer) return { status: 401, code: ErrorCode.UNAUTHENTICATED, message: 'Authentication required: send a bearer token', challenge: [] };
  if (!viewer.scopes.has(scope)) {
    return {
      status: 403,
      code: ErrorCode.FORBIDDEN,
      message: `This needs the \`${scope}\` scope`,
      challenge: ['error="insufficient_scope"', `scope="${scope}"`],
    };
  }
  return { viewer };
}
