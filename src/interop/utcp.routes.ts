import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type RegistryContext } from '../context.types.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { executionCallerOf, ExecutionStatus } from '../modules/execution/index.js';
import { type InteropDependencies, requireExecutor } from './bearer.js';
import { registryManual } from './utcp-manual.js';

/**
 * The HTTP status `POST /tools/{name}/call` answers each error code with; one deliberate entry per
 * code (the compiler refuses a missing one). README's "UTCP clients" table lists the same.
 */
export const CALL_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  // The request: the caller can fix it.
  [ErrorCode.BAD_REQUEST]: 400,
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.INVALID_ARGUMENTS]: 400,
  [ErrorCode.PAGE_SIZE_EXCEEDED]: 400,
  [ErrorCode.INVALID_CURSOR]: 400,
  [ErrorCode.INVALID_MANUAL]: 400,
  [ErrorCode.UNSUPPORTED_UTCP_VERSION]: 400,
  [ErrorCode.QUERY_TOO_DEEP]: 400,
  [ErrorCode.QUERY_TOO_COMPLEX]: 400,
  [ErrorCode.TOO_MANY_ALIASES]: 400,
  [ErrorCode.TOO_MANY_DIRECTIVES]: 400,
  [ErrorCode.TOO_MANY_TOKENS]: 400,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  // Who may call: token, scope, policy, and the registry's egress rules for the tool's target.
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.POLICY_DENIED]: 403,
  [ErrorCode.EGRESS_DENIED]: 403,
  [ErrorCode.PLAINTEXT_EGRESS_REFUSED]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  // The tool's state: not callable now, or its provider lacks a variable the call needs.
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.TOOL_UNAVAILABLE]: 409,
  [ErrorCode.CANCELLED]: 409,
  [ErrorCode.VARIABLE_MISSING]: 424,
  // Limits: Retry-After says when.
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.QUOTA_EXCEEDED]: 429,
  // The registry itself.
  [ErrorCode.INTERNAL_SERVER_ERROR]: 500,
  [ErrorCode.LIMITER_UNAVAILABLE]: 503,
  [ErrorCode.EVENTS_UNAVAILABLE]: 503,
  [ErrorCode.INTERRUPTED]: 503,
  [ErrorCode.NOT_STARTED]: 503,
  [ErrorCode.UNAVAILABLE]: 503,
  // The tool's upstream.
  [ErrorCode.EXECUTION_FAILED]: 502,
  [ErrorCode.UPSTREAM_UNAVAILABLE]: 502,
  [ErrorCode.TLS_PIN_MISMATCH]: 502,
  [ErrorCode.UPSTREAM_TOO_LARGE]: 502,
  [ErrorCode.DISCOVERY_FAILED]: 502,
  [ErrorCode.UPSTREAM_TIMEOUT]: 504,
});

/** The code an unsuccessful execution is answered with: its error's, else one its status implies. */
function codeOf(status: ExecutionStatus, code: string | undefined): ErrorCode {
  if (code !== undefined && Object.hasOwn(CALL_STATUS, code)) return code as ErrorCode;
  if (status === ExecutionStatus.TIMED_OUT) return ErrorCode.UPSTREAM_TIMEOUT;
  if (status === ExecutionStatus.CANCELLED) return ErrorCode.CANCELLED;
  if (status === ExecutionStatus.DENIED) return ErrorCode.POLICY_DENIED;
  return ErrorCode.EXECUTION_FAILED;
}

/**
 * A query-string argument as the tool's input schema types it: UTCP's http protocol sends every
 * argument that is not the body as a query parameter, so numbers, booleans, objects and arrays
 * arrive as text.
 */
function fromQuery(value: string | string[], schema: unknown): unknown {
  const type = (schema as { type?: unknown } | undefined)?.type;
  if (Array.isArray(value)) return type === 'array' ? value.map((v) => fromQuery(v, (schema as { items?: unknown }).items)) : value;
  if ((type === 'number' || type === 'integer') && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  if (type === 'object' || type === 'array' || type === 'null') {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

/**
 * `GET /utcp`: a UTCP 1.1 manual of exactly the tools the caller may execute, each called through
 * `POST /tools/{name}/call` on this registry with the caller's bearer token (`${REGISTRY_TOKEN}`, a
 * variable the UTCP client resolves in the manual's namespace). `POST /tools/{name}/call` runs the
 * execution pipeline — policies, limits, audit — with the JSON body's object and the query string's
 * parameters (typed by the tool's schema) as arguments, and answers with the tool's result, or with
 * `{ error: { code, message, details }, executionId }` and a 4xx/5xx status.
 */
export async function utcpRoutes(app: FastifyInstance, deps: InteropDependencies): Promise<void> {
  const refuse = (reply: FastifyReply, status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
    reply.status(status).send({ error: { code, message }, ...extra });

  /** An error answer with the status of {@link CALL_STATUS}, its details, and Retry-After for a limit that says when. */
  const answer = (reply: FastifyReply, code: ErrorCode, message: string, details: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const retryAfter = details.retryAfterSeconds;
    if (typeof retryAfter === 'number' && Number.isFinite(retryAfter)) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
    const error = Object.keys(details).length ? { code, message, details } : { code, message };
    return reply.status(CALL_STATUS[code]).send({ error, ...extra });
  };

  const caller = async (request: FastifyRequest, reply: FastifyReply): Promise<RegistryContext | null> => {
    const checked = await requireExecutor(request, deps.authenticate);
    if ('viewer' in checked) return deps.context(request, checked.viewer);
    reply.header('www-authenticate', checked.header ?? ['Bearer', checked.challenge.join(', ')].filter(Boolean).join(' '));
    await refuse(reply, checked.status, checked.code, checked.message);
    return null;
  };

  app.get('/utcp', async (request, reply) => {
    const ctx = await caller(request, reply);
    if (!ctx) return reply;
    return registryManual(ctx);
  });

  await app.register(async (scope) => {
    // UTCP's http protocol posts without a body when every argument went into the query string, and
    // its HTTP client then labels the empty body form-encoded: an empty body of any type means no body.
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      if ((body as string).length === 0) return done(null, undefined);
      const error = Object.assign(new Error('Send arguments as a JSON object (application/json)'), { statusCode: 415 });
      done(error, undefined);
    });
    scope.post<{ Params: { name: string }; Querystring: Record<string, string | string[]> }>('/tools/:name/call', callTool);
  });

  async function callTool(request: FastifyRequest<{ Params: { name: string }; Querystring: Record<string, string | string[]> }>, reply: FastifyReply) {
    const ctx = await caller(request, reply);
    if (!ctx) return reply;
    const body = request.body;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
      return refuse(reply, 400, ErrorCode.BAD_USER_INPUT, 'The request body must be a JSON object of arguments');
    }
    const args: Record<string, unknown> = {};
    const query = Object.entries(request.query);
    if (query.length) {
      // Only query-string arguments need the tool's schema (to be typed); the pipeline looks the tool up itself.
      const tool = await ctx.tools.findReadableByName(request.params.name);
      const properties = ((tool?.inputs as { properties?: Record<string, unknown> } | undefined)?.properties ?? {}) as Record<string, unknown>;
      for (const [key, value] of query) args[key] = fromQuery(value, properties[key]);
    }
    Object.assign(args, body ?? {});
    try {
      const execution = await ctx.runtime.execute(executionCallerOf(ctx), { tool: request.params.name, arguments: args });
      reply.header('x-execution-id', execution.id);
      if (execution.status === ExecutionStatus.SUCCEEDED) return reply.send(execution.result ?? null);
      const code = codeOf(execution.status, execution.error?.code);
      const { code: _code, ...details } = ((execution.error as { details?: Record<string, unknown> } | null | undefined)?.details ?? {});
      return answer(reply, code, execution.error?.message ?? execution.status.toLowerCase(), details, { executionId: execution.id });
    } catch (error) {
      if (error instanceof RegistryError && Object.hasOwn(CALL_STATUS, error.code)) {
        const { code: _code, ...details } = error.extensions;
        return answer(reply, error.code, error.message, details);
      }
      throw error;
    }
  }
}
