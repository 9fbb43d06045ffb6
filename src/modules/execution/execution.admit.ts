import { type Database } from '../../db/database.js';
import { ErrorCode, RegistryError } from '../../errors.js';
import { type AppliedLimits } from '../policy/index.js';
import { ToolStatus } from '../tool/index.js';
import { type ReadFilter, type SqlFilter } from '../tool/tool.visibility.js';
import { ExecutionMode, ExecutionStatus } from './execution.entity.js';
import { type ExecutionLimiter } from './execution.limits.js';
import { schemaHasSecrets } from './execution.redaction.js';
import { schemaProblems } from './execution.schemas.js';
import { type ExecuteInput, type ExecutionCaller, type Outcome } from './execution.model.js';
import { metrics } from '../../observability/metrics.js';

/** A credential of the tool's provider as stored (sealed). */
export interface SealedCredential {
  reference: string;
  authType: string;
  settings: Record<string, unknown>;
  ciphertext: string;
  keyId: string;
}

/** A variable of the tool's provider as stored (a secret one sealed). */
export interface StoredVariable {
  name: string;
  secret: boolean;
  value: string | null;
  ciphertext: string | null;
  keyId: string | null;
}

/** Everything a call of a tool needs, read in one query: the tool, its provider's name, credentials and variables. */
export interface CallableTool {
  id: string;
  name: string;
  providerId: string;
  providerName: string;
  inputs: Record<string, unknown> | null;
  outputs: Record<string, unknown> | null;
  tags: string[];
  callTemplate: Record<string, unknown> & { call_template_type: string };
  enabled: boolean;
  status: ToolStatus;
  definitionHash: string;
  credentials: SealedCredential[];
  variables: StoredVariable[];
  /** The provider's TLS pins (SPKI SHA-256, base64); empty: none. */
  tlsPins: string[];
  /** Whether the provider's calls are signed (RFC 9421). */
  requestSigning: 'off' | 'sign';
  /** Which versions of the rows above it was read from: see {@link callableGuard}. */
  version: string;
}

/** The stored policy decision of a call. */
export type StoredDecision = Record<string, unknown>;

/** What admission decided: a refusal to store, or the decision that allows the call and the limits that bind it. */
export type Admission = { refusal: Outcome } | { decision: StoredDecision; limits: readonly AppliedLimits[] };

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
/** HTTP methods whose calls may be repeated safely after an interruption. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `executeTool`'s input, checked. */
export interface CheckedInput {
  args: Record<string, unknown>;
  timeoutMs: number;
  key: string | null;
  mode: ExecutionMode;
}

/** Checks the input that names a call; throws BAD_USER_INPUT naming the argument. */
export function checkInput(input: ExecuteInput, limits: { defaultTimeoutMs: number; maxTimeoutMs: number }): CheckedInput {
  if (!isPlainObject(input.arguments)) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`arguments` must be a JSON object', { argument: 'input.arguments' });
  }
  const timeoutMs = input.timeoutMs ?? limits.defaultTimeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > limits.maxTimeoutMs) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`timeoutMs\` must be a whole number from 1 to ${limits.maxTimeoutMs}`, {
      argument: 'input.timeoutMs',
    });
  }
  const key = input.idempotencyKey ?? null;
  if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`idempotencyKey` is 1 to 200 printable ASCII characters', { argument: 'input.idempotencyKey' });
  }
  return { args: input.arguments, timeoutMs, key, mode: input.mode ?? ExecutionMode.SYNC };
}

/**
 * The versions of the rows a callable tool is read from (`t`, the tool; `pr`, its provider): the
 * tool's, the provider's, and those of its credentials and variables in id order. A row's `xmin` is
 * the transaction that wrote that version of it, so any committed insert, update or delete of one of
 * these rows changes the text (a transaction id could come round again only after 2^32 more).
 */
const CALLABLE_VERSION = `t.xmin::text || ';' || pr.xmin::text
  || ';' || coalesce((select string_agg(c.xmin::text, ',' order by c.id) from credential c where c.provider_id = t.provider_id), '')
  || ';' || coalesce((select string_agg(v.xmin::text, ',' order by v.id) from provider_variable v where v.provider_id = t.provider_id), '')`;

/**
 * A condition that holds only while `tool` is stored as it was read: its row, its provider's, and
 * its provider's credentials and variables unchanged ({@link CallableTool.version}). A statement that
 * stores a call of a remembered tool includes it, so the call is stored only when what it was
 * decided on is still current in that statement's snapshot.
 */
export function callableGuard(tool: Pick<CallableTool, 'id' | 'version'>): SqlFilter {
  return { sql: `exists (select 1 from tool t join provider pr on pr.id = t.provider_id where t.id = ? and ${CALLABLE_VERSION} = ?)`, params: [tool.id, tool.version] };
}

const CALLABLE_COLUMNS = `${CALLABLE_VERSION} as version, t.id, t.name, t.provider_id, t.inputs, t.outputs, t.tags, t.call_template, t.enabled, t.status, t.definition_hash,
  pr.name as provider_name, pr.tls_pins, pr.request_signing,
  (select coalesce(json_agg(json_build_object('reference', c.reference, 'authType', c.auth_type, 'settings', c.settings, 'ciphertext', c.ciphertext, 'keyId', c.key_id) order by c.reference), '[]'::json)
     from credential c where c.provider_id = t.provider_id) as credentials,
  (select coalesce(json_agg(json_build_object('name', v.name, 'secret', v.secret, 'value', v.value, 'ciphertext', v.ciphertext, 'keyId', v.key_id) order by v.name), '[]'::json)
     from provider_variable v where v.provider_id = t.provider_id) as variables`;

/** A `text[]` column as strings: a driver may hand it over as the array literal `{a,b}` (pins hold no commas, quotes or braces). */
function pgTextArray(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  if (typeof value === 'string' && value.length > 2) return value.slice(1, -1).split(',');
  return [];
}

/** A JSON column as a value: the embedded database's driver may hand `json` over as text. */
const json = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/** What reading a callable tool needs of the database: one statement with bound values. */
type Statements = Pick<Database, 'statement'>;

function callableOf(row: Record<string, unknown>): CallableTool {
  return {
    id: row.id as string,
    name: row.name as string,
    providerId: row.provider_id as string,
    providerName: row.provider_name as string,
    inputs: (row.inputs as Record<string, unknown> | null) ?? null,
    outputs: (row.outputs as Record<string, unknown> | null) ?? null,
    tags: (row.tags as string[] | null) ?? [],
    callTemplate: row.call_template as CallableTool['callTemplate'],
    enabled: row.enabled as boolean,
    status: row.status as ToolStatus,
    definitionHash: row.definition_hash as string,
    credentials: json<SealedCredential[]>(row.credentials),
    variables: json<StoredVariable[]>(row.variables),
    tlsPins: pgTextArray(row.tls_pins),
    requestSigning: row.request_signing === 'sign' ? 'sign' : 'off',
    version: row.version as string,
  };
}

/**
 * The tool named `name` when the caller may read it (the same rule as `ToolService.findReadableByName`:
 * `filter` is the caller's read filter, see tool.visibility.ts), with its provider's name, sealed
 * credentials and variables: ONE query. Null when there is none the caller may read.
 */
export async function findCallable(db: Statements, name: string, filter: ReadFilter): Promise<CallableTool | null> {
  // No tool name holds U+0000, and PostgreSQL refuses it in a query parameter.
  if (name.includes('\0')) return null;
  const rows = await db.statement<Record<string, unknown>>(
    `select ${CALLABLE_COLUMNS} from tool t join provider pr on pr.id = t.provider_id where t.name = ?${filter ? ` and ${filter.sql}` : ''}`,
    [name, ...(filter?.params ?? [])],
  );
  return rows[0] ? callableOf(rows[0]) : null;
}

/** The tool with this id with everything a call needs, whatever anyone may read (retries of stored calls). */
export async function findCallableById(db: Statements, id: string): Promise<CallableTool | null> {
  const rows = await db.statement<Record<string, unknown>>(`select ${CALLABLE_COLUMNS} from tool t join provider pr on pr.id = t.provider_id where t.id = ?`, [id]);
  return rows[0] ? callableOf(rows[0]) : null;
}

/** Whether an interrupted ASYNC call of this tool may run again: it is declared idempotent, and its arguments were stored whole. */
export function retryable(tool: CallableTool): boolean {
  const template = tool.callTemplate;
  const method = typeof template.http_method === 'string' ? template.http_method.toUpperCase() : undefined;
  const idempotent = tool.tags.includes('idempotent') || (template.call_template_type === 'http' && method !== undefined && IDEMPOTENT_METHODS.has(method));
  return idempotent && !schemaHasSecrets(tool.inputs);
}

/**
 * Decides a call without storing anything: tool state, the caller's policies, the arguments against
 * the input schema. Returns the refusal to store, or the decision that allows the call with the
 * limits that bind it (for {@link charge}). Throws only what the policy service throws unexpectedly.
 */
export async function admit(tool: CallableTool, caller: ExecutionCaller, args: Record<string, unknown>): Promise<Admission> {
  if (tool.status !== ToolStatus.ACTIVE || !tool.enabled) {
    const why = tool.status === ToolStatus.QUARANTINED ? 'quarantined: a changed definition awaits approval' : tool.status === ToolStatus.REMOVED ? 'removed by its provider' : 'disabled';
    return { refusal: { status: ExecutionStatus.FAILED, error: { code: ErrorCode.TOOL_UNAVAILABLE, message: `The tool is ${why}` } } };
  }
  const decision = await caller.policies.decide({
    principal: { id: caller.viewer.principalId, roles: caller.viewer.roles },
    action: 'execute',
    tool: { name: tool.name, tags: tool.tags, provider: tool.providerName },
    arguments: args,
    sourceIp: caller.sourceIp,
  });
  const stored = { allowed: decision.allowed, reason: decision.reason, policy: decision.decidingPolicy };
  if (!decision.allowed) {
    return { refusal: { status: ExecutionStatus.DENIED, error: { code: ErrorCode.POLICY_DENIED, message: decision.reason }, decision: stored } };
  }
  const problems = schemaProblems(`${tool.id}:${tool.definitionHash}:in`, tool.inputs ?? {}, args);
  if (problems === null) {
    return {
      refusal: {
        status: ExecutionStatus.FAILED,
        error: { code: ErrorCode.EXECUTION_FAILED, message: "The tool's input schema is not a valid JSON Schema", details: { reason: 'invalid_schema' } },
        decision: stored,
      },
    };
  }
  if (problems.length) {
    const summary = problems.slice(0, 5).map((p) => `${p.path} ${p.message}`).join('; ');
    return {
      refusal: { status: ExecutionStatus.FAILED, error: { code: ErrorCode.INVALID_ARGUMENTS, message: `Invalid arguments: ${summary}`, details: { errors: problems } }, decision: stored },
    };
  }
  return { decision: stored, limits: decision.limits };
}

/**
 * Consumes one call from the rate limits and quotas that bind it. Returns the refusal to store
 * (RATE_LIMITED, QUOTA_EXCEEDED, or LIMITER_UNAVAILABLE when the limit store is unreachable), or
 * null when the call may run.
 */
export async function charge(limiter: ExecutionLimiter, principalId: string, toolId: string, limits: readonly AppliedLimits[], decision: StoredDecision): Promise<Outcome | null> {
  try {
    await limiter.consume(principalId, toolId, limits);
    return null;
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    metrics.limitRefused(error.code);
    return { status: ExecutionStatus.DENIED, error: { code: error.code, message: error.message, details: { ...error.extensions } }, decision };
  }
}
