import { type EgressPolicy } from '../security/egress.js';
import { type RequestSigner } from '../security/request-signing.js';

/**
 * One call of a tool, ready to run: the tool's call template has had its variables substituted
 * (secrets included), and the arguments were validated against the tool's `inputs`.
 */
export interface ExecutionRequest {
  /** `provider.tool`, for messages. */
  toolName: string;
  callTemplate: Record<string, unknown> & { call_template_type: string };
  arguments: Record<string, unknown>;
  /** Deadline of the whole call, connection to last byte (or process exit). */
  timeoutMs: number;
  /** Largest response (or process output) accepted. */
  maxBytes: number;
  /** The egress guard; for a provider with TLS pins, a policy that carries them (see security/tls-pins.ts). */
  egress: EgressPolicy;
  /** Present when the provider has `requestSigning: SIGN`: HTTP calls and WebSocket messages are signed with it. */
  signer?: RequestSigner;
  /** Executables the `cli` and stdio `mcp` types may run. */
  cliAllow: readonly string[];
  /** The only directory `file` tools may read (as file discovery's root); absent: `file` tools are refused. */
  fileRoot?: string;
  /** Streamed parts of the result, as they arrive (sse, streamable_http). */
  onChunk?: (chunk: unknown) => void;
  /** Cancels the call (cancelExecution). */
  signal?: AbortSignal;
  /**
   * Where an executor adds the secrets it derives or fetches while calling (an encoded Basic
   * credential, an OAuth 2 access token), so the caller scrubs them from results and chunks too.
   */
  secrets?: string[];
}

/** What a call returned. */
export interface ExecutionOutcome {
  /** Parsed JSON when the response is JSON, else the text. */
  result: unknown;
  /** Size of the raw response, in bytes. */
  bytes: number;
}

/**
 * Runs calls of one call template type. Throws coded RegistryErrors, never a raw error:
 * EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE, or EXECUTION_FAILED
 * (the tool answered with an error: non-2xx, non-zero exit, protocol error), with a message that
 * holds no secret.
 */
export type Executor = (request: ExecutionRequest) => Promise<ExecutionOutcome>;
