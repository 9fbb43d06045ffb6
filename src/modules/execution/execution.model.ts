import { type RegistryContext } from '../../context.types.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type Actor } from '../audit/index.js';
import { type PolicyService } from '../policy/index.js';
import { type Viewer } from '../principal/viewer.js';
import { type ToolService } from '../tool/index.js';
import { type ExecutionMode, ExecutionStatus } from './execution.entity.js';

/** `executeTool`'s input. */
export interface ExecuteInput {
  tool: string;
  arguments: unknown;
  idempotencyKey?: string | null;
  mode?: ExecutionMode | null;
  timeoutMs?: number | null;
}

/** The caller of one execution, with its request's services (they see what the caller may see). */
export interface ExecutionCaller {
  viewer: Viewer;
  actor: Actor & { principalId: string };
  sourceIp: string;
  tools: ToolService;
  policies: PolicyService;
}

/** The caller of an execution made in a request of this authenticated context (GraphQL, UTCP, MCP). */
export function executionCallerOf(ctx: RegistryContext): ExecutionCaller {
  const viewer = ctx.viewer;
  if (!viewer) throw new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token');
  return { viewer, actor: { ...ctx.actor, principalId: viewer.principalId }, sourceIp: ctx.sourceIp, tools: ctx.tools, policies: ctx.policies };
}

/** How a call ended, before it is stored. */
export interface Outcome {
  status: ExecutionStatus;
  result?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> } | null;
  outputValid?: boolean | null;
  decision?: Record<string, unknown> | null;
  /** Whether a secret of the call was scrubbed from what it returned (audited). */
  scrubbed?: boolean;
}

/** Statuses of a call that has not ended. */
export const ACTIVE: readonly ExecutionStatus[] = [ExecutionStatus.QUEUED, ExecutionStatus.RUNNING];

/** Statuses of a call that ended. */
export const TERMINAL: ReadonlySet<ExecutionStatus> = new Set<ExecutionStatus>([
  ExecutionStatus.SUCCEEDED,
  ExecutionStatus.FAILED,
  ExecutionStatus.DENIED,
  ExecutionStatus.TIMED_OUT,
  ExecutionStatus.CANCELLED,
]);

/** Why a running call was aborted. */
export type AbortReason = 'cancelled' | 'shutdown' | 'timeout';
