import { SecretScrubber } from '../../common/secret-scrubber.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Executor } from '../../executors/index.js';
import { type Logger } from '../../logger.js';
import { type EgressPolicy } from '../../security/egress.js';
import { type RequestSigner } from '../../security/request-signing.js';
import { pinnedPolicy } from '../../security/tls-pins.js';
import { type CredentialVault } from '../credential/index.js';
import { type CallableTool } from './execution.admit.js';
import { ExecutionStatus } from './execution.entity.js';
import { type AbortReason, type Outcome } from './execution.model.js';
import { redactBySchema, secretsBySchema } from './execution.redaction.js';
import { schemaProblems } from './execution.schemas.js';
import { resolveCallTemplate } from './execution.template.js';
import { inSpan } from '../../observability/tracing.js';

/** What running a call needs; one per process. */
export interface CallDependencies {
  vault: CredentialVault;
  logger: Logger;
  executors: Readonly<Partial<Record<string, Executor>>>;
  egress: EgressPolicy;
  /**
   * Signs the calls of providers with `requestSigning: sign`. Required: a provider set to sign must
   * never have its calls go out unsigned because a process was built without a signer.
   */
  requestSigner: RequestSigner;
  cliAllow: readonly string[];
  fileRoot?: string;
  maxResponseBytes: number;
}

/** One call to run. */
export interface CallRequest {
  executionId: string;
  tool: CallableTool;
  args: Record<string, unknown>;
  timeoutMs: number;
  /** Aborted with an {@link AbortReason}: cancel, shutdown, or (set here) the deadline. */
  controller: AbortController;
  /** A part of the result as it arrived, already scrubbed. */
  onChunk: (chunk: unknown) => void;
}

/**
 * Runs a call with no transaction open: puts the provider's credentials and variables into the
 * call template, runs the executor of its type under the deadline (the call's timeout plus a second,
 * after which the controller aborts with 'timeout'), checks the result against the output schema
 * and scrubs every secret the call carried from what comes back. Never throws: every way a call
 * ends is an {@link Outcome}; a cancelled one is `cancelled` (its record is written by the canceller).
 */
export async function callTool(deps: CallDependencies, request: CallRequest): Promise<Outcome> {
  const { tool, args, timeoutMs, controller } = request;
  // The values injected into this call, and only those: executors add what they derive or fetch.
  const secrets: string[] = [];
  const scrubber = new SecretScrubber(secrets);
  const deadline = setTimeout(() => controller.abort('timeout' satisfies AbortReason), timeoutMs + 1000);
  let outcome: Outcome;
  try {
    const resolved = resolveCallTemplate(deps.vault, tool);
    // Argument values the input schema marks as secret are scrubbed like credentials when a result or error echoes them.
    // The executor adds what it derives or fetches (an encoded Basic credential, an OAuth token).
    secrets.push(...resolved.secrets, ...secretsBySchema(args, tool.inputs));
    const executor = deps.executors[resolved.template.call_template_type];
    if (!executor) {
      throw new RegistryError(ErrorCode.EXECUTION_FAILED, `No executor for call template type ${resolved.template.call_template_type}`, { reason: 'unsupported' });
    }
    // The span names the tool and its template type; never an argument, a credential or a result.
    const result = await inSpan('tool.execute', { 'tool.name': tool.name, 'tool.call_template_type': resolved.template.call_template_type }, () => executor({
      toolName: tool.name,
      callTemplate: resolved.template,
      arguments: args,
      timeoutMs,
      maxBytes: deps.maxResponseBytes,
      // A pinned provider's calls go through a pool of their own that checks its pins on every connection.
      egress: pinnedPolicy(deps.egress, tool.tlsPins),
      ...(tool.requestSigning === 'sign' ? { signer: deps.requestSigner } : {}),
      cliAllow: deps.cliAllow,
      fileRoot: deps.fileRoot,
      signal: controller.signal,
      secrets,
      onChunk: (chunk) => request.onChunk(scrubber.value(chunk)),
    }));
    const output = scrubber.value(result.result);
    let outputValid: boolean | null = null;
    if (tool.outputs && Object.keys(tool.outputs).length) {
      const problems = schemaProblems(`${tool.id}:${tool.definitionHash}:out`, tool.outputs, result.result);
      outputValid = problems !== null && problems.length === 0;
    }
    outcome = { status: ExecutionStatus.SUCCEEDED, result: redactBySchema(output, tool.outputs), outputValid };
  } catch (error) {
    outcome = failure(deps.logger, error, controller.signal, scrubber, request.executionId);
  } finally {
    clearTimeout(deadline);
  }
  // Executors scrub their error excerpts themselves, marking each `[redacted]`.
  if (scrubber.hits > 0 || outcome.error?.message.includes('[redacted]')) outcome.scrubbed = true;
  return outcome;
}

/** The outcome of a call that threw: by why it was aborted, else by its error (scrubbed). */
function failure(logger: Logger, error: unknown, signal: AbortSignal, scrubber: SecretScrubber, id: string): Outcome {
  const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
  if (reason === 'cancelled') return { status: ExecutionStatus.CANCELLED };
  if (reason === 'shutdown') {
    return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERRUPTED, message: 'interrupted: the registry shut down before the call finished', details: { reason: 'interrupted' } } };
  }
  if (reason === 'timeout' || (error instanceof RegistryError && error.code === ErrorCode.UPSTREAM_TIMEOUT)) {
    return { status: ExecutionStatus.TIMED_OUT, error: { code: ErrorCode.UPSTREAM_TIMEOUT, message: error instanceof RegistryError ? scrubber.text(error.message) : 'The call did not finish in time' } };
  }
  if (error instanceof RegistryError) {
    const details = scrubber.value(Object.fromEntries(Object.entries(error.extensions).filter(([k]) => k !== 'http' && k !== 'code')));
    return { status: ExecutionStatus.FAILED, error: { code: error.code, message: scrubber.text(error.message), details } };
  }
  // The error's text may quote what the call carried.
  const err = error instanceof Error ? { type: error.name, message: scrubber.text(error.message), stack: scrubber.text(error.stack ?? '') } : { message: scrubber.text(String(error)) };
  logger.error({ err, executionId: id }, 'executor failed unexpectedly');
  return { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'The call failed inside the registry' } };
}
