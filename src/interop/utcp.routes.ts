import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type RegistryContext } from '../context.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { executionCallerOf, ExecutionStatus } from '../modules/execution/index.js';
import { type InteropDependencies, requireExecutor } from './bearer.js';
import { registryManual } from './utcp-manual.js';

/** The HTTP status of an execution that did not succeed. */
function statusOf(status: ExecutionStatus, code: string | undefined): number {
  if (status === ExecutionStatus.DENIED) return code === ErrorCode.RATE_LIMITED || code === ErrorCode.QUOTA_EXCEEDED ? 429 : 403;
  if (status === ExecutionStatus.TIMED_OUT) return 504;
  if (code === ErrorCode.INVALID_ARGUMENTS) return 400;
  if (code === ErrorCode.TOOL_UNAVAILABLE) return 409;
  if (code === ErrorCode.LIMITER_UNAVAILABLE) return 503;
  return 502;
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

  const caller = async (request: FastifyRequest, reply: FastifyReply): Promise<RegistryContext | null> => {
    const checked = await requireExecutor(request, deps.authenticate);
    if ('viewer' in checked) return deps.context(request, checked.viewer);
    reply.header('www-authenticate', ['Bearer', checked.challenge.join(', ')].filter(Boolean).join(' '));
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
      return refuse(reply, statusOf(execution.status, execution.error?.code), execution.error?.code ?? execution.status, execution.error?.message ?? execution.status, {
        executionId: execution.id,
      });
    } catch (error) {
      if (error instanceof RegistryError && (error.code === ErrorCode.NOT_FOUND || error.code === ErrorCode.BAD_USER_INPUT || error.code === ErrorCode.CONFLICT)) {
        return refuse(reply, error.code === ErrorCode.NOT_FOUND ? 404 : error.code === ErrorCode.CONFLICT ? 409 : 400, error.code, error.message);
      }
      throw error;
    }
  }
}
