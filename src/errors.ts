import { GraphQLError } from 'graphql';

/** Every `extensions.code` the registry puts on an error. Clients may rely on these strings. */
export enum ErrorCode {
  /** The HTTP request itself is malformed (invalid JSON, wrong content type, bad method). */
  BAD_REQUEST = 'BAD_REQUEST',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  PAGE_SIZE_EXCEEDED = 'PAGE_SIZE_EXCEEDED',
  INVALID_CURSOR = 'INVALID_CURSOR',
  INVALID_MANUAL = 'INVALID_MANUAL',
  UNSUPPORTED_UTCP_VERSION = 'UNSUPPORTED_UTCP_VERSION',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  /** The caller lacks the scope or role an operation needs (not a policy decision: see POLICY_DENIED). */
  FORBIDDEN = 'FORBIDDEN',
  /** A policy decided against this call or action on this tool; the message names the deciding policy (or default deny). */
  POLICY_DENIED = 'POLICY_DENIED',
  /** The caller's hourly query-cost budget is spent; `extensions.resetAt` says when it refills. */
  RATE_LIMITED = 'RATE_LIMITED',
  QUERY_TOO_DEEP = 'QUERY_TOO_DEEP',
  QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX',
  TOO_MANY_ALIASES = 'TOO_MANY_ALIASES',
  TOO_MANY_DIRECTIVES = 'TOO_MANY_DIRECTIVES',
  TOO_MANY_TOKENS = 'TOO_MANY_TOKENS',
  /** An outbound URL was refused: bad scheme, credentials in the URL, or a private address not allow-listed. */
  EGRESS_DENIED = 'EGRESS_DENIED',
  /**
   * In production, an outbound `http://` or `ws://` URL (a provider, a tool, an OAuth token URL) whose
   * host is not in REGISTRY_PLAINTEXT_ALLOW: use https:// / wss://. `extensions.host` names the host.
   */
  PLAINTEXT_EGRESS_REFUSED = 'PLAINTEXT_EGRESS_REFUSED',
  UPSTREAM_TIMEOUT = 'UPSTREAM_TIMEOUT',
  UPSTREAM_TOO_LARGE = 'UPSTREAM_TOO_LARGE',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  /**
   * A provider's TLS certificate chain holds none of the provider's pinned keys (SPKI SHA-256):
   * the connection was closed after the handshake, before any request byte; `extensions.host` names the host.
   */
  TLS_PIN_MISMATCH = 'TLS_PIN_MISMATCH',
  /** A provider's manual could not be discovered: unreachable, refused, too large, or not a manual. */
  DISCOVERY_FAILED = 'DISCOVERY_FAILED',
  /** A tool was called and answered with an error (non-2xx, non-zero exit, protocol error). */
  EXECUTION_FAILED = 'EXECUTION_FAILED',
  /**
   * A tool's call template refers to a variable (`$NAME` / `${NAME}`) that neither the provider's
   * variables nor its credentials provide; `extensions.variable` names it. Set it with setProviderVariables.
   */
  VARIABLE_MISSING = 'VARIABLE_MISSING',
  /**
   * A tool's arguments do not match its input schema; `details.errors` lists every problem with its JSON path.
   * Also a `cli` value that would be read as an option (starts with `-` where the template allows none):
   * `details.argument` (or `details.output`, an earlier command's) names it.
   */
  INVALID_ARGUMENTS = 'INVALID_ARGUMENTS',
  /** A policy's daily or monthly quota for this principal and tool is used up. */
  QUOTA_EXCEEDED = 'QUOTA_EXCEEDED',
  /** The tool is disabled or quarantined (a changed definition awaits approval). */
  TOOL_UNAVAILABLE = 'TOOL_UNAVAILABLE',
  /** The rate-limit store (Redis) cannot be reached; calls are refused rather than run unlimited. */
  LIMITER_UNAVAILABLE = 'LIMITER_UNAVAILABLE',
  /** The registry process running a call stopped before it finished. */
  INTERRUPTED = 'INTERRUPTED',
  /**
   * The call was never started: the registry lost its database after storing the call and before
   * calling the tool, so the tool was not called. Retrying with the same idempotency key runs it.
   */
  NOT_STARTED = 'NOT_STARTED',
  /** The call was cancelled (cancelExecution). */
  CANCELLED = 'CANCELLED',
  /** Live updates (subscriptions) cannot be served: the shared event bus (Redis) is unreachable. */
  EVENTS_UNAVAILABLE = 'EVENTS_UNAVAILABLE',
  /**
   * The registry's database cannot be reached right now (restarting, failing over, refusing
   * connections); nothing was done. Answered with HTTP 503 and `Retry-After`; retry the same request.
   */
  UNAVAILABLE = 'UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** An expected failure carrying a stable code; rendered to clients as a GraphQL error. */
export class RegistryError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...details } });
    this.name = 'RegistryError';
  }
}

/** One problem found while validating a document, located by a JSON path such as `$.tools[0].name`. */
export interface ValidationProblem {
  path: string;
  message: string;
}

/** A document (a UTCP manual, for now) failed validation; carries every problem found. */
export class ManualValidationError extends RegistryError {
  constructor(
    readonly problems: ValidationProblem[],
    code: ErrorCode.INVALID_MANUAL | ErrorCode.UNSUPPORTED_UTCP_VERSION = ErrorCode.INVALID_MANUAL,
  ) {
    super(code, `Invalid UTCP manual: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
    this.name = 'ManualValidationError';
  }
}
