import { z } from 'zod';
import { ManualValidationError, type ValidationProblem } from '../errors.js';

/** Call template types defined by UTCP 1.1 that this registry reads. */
export const CALL_TEMPLATE_TYPES = [
  'http',
  'sse',
  'streamable_http',
  'cli',
  'websocket',
  'graphql',
  'mcp',
  'text',
  'file',
] as const;

export type CallTemplateTypeName = (typeof CALL_TEMPLATE_TYPES)[number];

/** Auth types defined by UTCP 1.1 (`utcp.data.auth_implementations`). */
export const AUTH_TYPES = ['api_key', 'basic', 'oauth2'] as const;

// ---------------------------------------------------------------------------------------------
// Field rules shared by several templates
// ---------------------------------------------------------------------------------------------

const VARIABLE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g;
const STARTS_WITH_VARIABLE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)/;
/**
 * A secret field names a variable (`${API_KEY}` or `$API_KEY`), optionally after an HTTP auth
 * scheme (`Bearer ${TOKEN}`, the form UTCP's own examples use). Anything else would put the
 * secret itself into the catalog.
 */
const SECRET_REFERENCE =
  /^(?:(?:Bearer|Basic|Token|Bot|Key|ApiKey|Api-Key|JWT|DPoP)\s+)?\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/i;

/** True when `value` is a variable reference rather than a literal secret. */
export function isSecretReference(value: string): boolean {
  return SECRET_REFERENCE.test(value);
}

const SECRET_MESSAGE =
  'must reference a variable such as "${API_KEY}" (optionally after an auth scheme, as in "Bearer ${API_KEY}"); inline secrets are not accepted';

/**
 * Why `value` is not a usable URL with one of `schemes`, or undefined when it is. `${VAR}` and
 * `{path_param}` placeholders are allowed anywhere; a URL that starts with a variable is
 * resolved (and checked by the egress guard) at call time. Never quotes the value: URLs can
 * carry credentials.
 */
function urlProblem(value: string, kind: 'http' | 'websocket'): string | undefined {
  const expected =
    kind === 'http' ? 'expected an http(s) URL' : 'expected a wss:// URL (ws:// only to localhost or 127.0.0.1)';
  if (STARTS_WITH_VARIABLE.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value.replace(VARIABLE, 'var').replace(/\{[A-Za-z0-9_.-]+\}/g, 'param'));
  } catch {
    return expected;
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials (`user:password@`); use an `auth` block with variable references';
  }
  if (kind === 'http') return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : expected;
  // As python-utcp: plain ws:// only to the local host.
  if (url.protocol === 'wss:') return undefined;
  if (url.protocol === 'ws:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1')) return undefined;
  return expected;
}

const httpUrl = z.string().superRefine((value, ctx) => {
  const message = urlProblem(value, 'http');
  if (message) ctx.addIssue({ code: 'custom', message });
});

const websocketUrl = z.string().superRefine((value, ctx) => {
  const message = urlProblem(value, 'websocket');
  if (message) ctx.addIssue({ code: 'custom', message });
});

const secret = z.string().refine(isSecretReference, SECRET_MESSAGE);
const nonEmpty = z.string().min(1);
const headers = z.record(z.string().min(1), z.string());
const fieldNames = z.array(nonEmpty);
const positiveInt = z.int().positive();
const noAuth = z.null({ error: 'must be null or left out: this call template type carries no auth (UTCP 1.1)' }).optional();

// ---------------------------------------------------------------------------------------------
// Auth (core/src/utcp/data/auth_implementations/*.py)
// ---------------------------------------------------------------------------------------------

const ApiKeyAuth = z.strictObject({
  auth_type: z.literal('api_key'),
  api_key: secret,
  var_name: nonEmpty.default('X-Api-Key'),
  location: z.enum(['header', 'query', 'cookie']).default('header'),
});

const BasicAuth = z.strictObject({
  auth_type: z.literal('basic'),
  username: nonEmpty,
  password: secret,
});

const OAuth2Auth = z.strictObject({
  auth_type: z.literal('oauth2'),
  token_url: httpUrl,
  client_id: nonEmpty,
  client_secret: secret,
  scope: z.string().nullable().optional(),
});

const AUTH_SCHEMAS = { api_key: ApiKeyAuth, basic: BasicAuth, oauth2: OAuth2Auth } as const;

const Auth = z.discriminatedUnion('auth_type', [ApiKeyAuth, BasicAuth, OAuth2Auth]);
/** MCP call templates accept OAuth 2 only (python-utcp `McpCallTemplate.auth: Optional[OAuth2Auth]`). */
const McpAuth = z.discriminatedUnion('auth_type', [OAuth2Auth]);

export type UtcpAuth = z.output<typeof Auth>;

// ---------------------------------------------------------------------------------------------
// Call templates (plugins/communication_protocols/*/src/**/*_call_template.py)
// ---------------------------------------------------------------------------------------------

/** `CallTemplate` base fields. Python dumps optional fields as `null`, so `null` means "not set". */
const base = {
  name: z
    .string()
    .max(128)
    .regex(/^[A-Za-z0-9_]+$/, 'must contain only letters, digits and `_` (UTCP call template names)')
    .optional(),
  allowed_communication_protocols: z.array(z.enum(CALL_TEMPLATE_TYPES)).nullable().optional(),
};

const HttpCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('http'),
  http_method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']).default('GET'),
  url: httpUrl,
  content_type: nonEmpty.default('application/json'),
  auth: Auth.nullable().optional(),
  auth_tools: Auth.nullable().optional(),
  headers: headers.nullable().optional(),
  body_field: nonEmpty.nullable().default('body'),
  header_fields: fieldNames.nullable().optional(),
});

const SseCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('sse'),
  // python-utcp's SseCallTemplate declares a stray `type: "sse"` field, so its dumps carry it.
  type: z.literal('sse').optional(),
  url: httpUrl,
  event_type: z.string().nullable().optional(),
  reconnect: z.boolean().default(true),
  retry_timeout: z.int().nonnegative().default(30_000),
  auth: Auth.nullable().optional(),
  headers: headers.nullable().optional(),
  body_field: nonEmpty.nullable().optional(),
  header_fields: fieldNames.nullable().optional(),
});

const StreamableHttpCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('streamable_http'),
  url: httpUrl,
  http_method: z.enum(['GET', 'POST']).default('GET'),
  content_type: nonEmpty.default('application/octet-stream'),
  chunk_size: positiveInt.default(4096),
  timeout: positiveInt.default(60_000),
  headers: headers.nullable().optional(),
  auth: Auth.nullable().optional(),
  body_field: nonEmpty.nullable().optional(),
  header_fields: fieldNames.nullable().optional(),
});

const CommandStep = z.strictObject({
  command: nonEmpty,
  append_to_final_output: z.boolean().nullable().optional(),
  /**
   * Registry extension: the placeholders of this command (argument names, or `CMD_<i>_OUTPUT`) whose
   * value may start with `-`, i.e. be read as an option. Every other value starting with `-` is refused.
   */
  allow_option_arguments: z.array(z.string().regex(/^[A-Za-z0-9_]+$/, 'must be an argument name or CMD_<i>_OUTPUT')).nullable().optional(),
});

const CliCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('cli'),
  commands: z.array(CommandStep).min(1),
  env_vars: z.record(z.string().min(1), z.string()).nullable().optional(),
  working_dir: nonEmpty.nullable().optional(),
  auth: noAuth,
});

const WebSocketCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('websocket'),
  url: websocketUrl,
  message: z.union([z.string(), z.record(z.string(), z.unknown())]).nullable().optional(),
  protocol: z.string().nullable().optional(),
  keep_alive: z.boolean().default(true),
  response_format: z.enum(['json', 'text', 'raw']).nullable().optional(),
  timeout: positiveInt.default(30),
  headers: headers.nullable().optional(),
  header_fields: fieldNames.nullable().optional(),
  auth: Auth.nullable().optional(),
});

const GraphqlCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('graphql'),
  url: httpUrl,
  operation_type: z.enum(['query', 'mutation', 'subscription']).default('query'),
  // Spliced into the operation document, so it must be a GraphQL name.
  operation_name: z
    .string()
    .regex(/^[_A-Za-z][_0-9A-Za-z]*$/, 'must be a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`)')
    .nullable()
    .optional(),
  auth: Auth.nullable().optional(),
  headers: headers.nullable().optional(),
  header_fields: fieldNames.nullable().optional(),
});

const McpConfig = z.strictObject({
  mcpServers: z
    .record(z.string().min(1), z.record(z.string(), z.unknown()))
    .refine((servers) => Object.keys(servers).length > 0, 'expected at least one MCP server'),
});

const McpCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('mcp'),
  config: McpConfig,
  auth: McpAuth.nullable().optional(),
  register_resources_as_tools: z.boolean().default(false),
});

const TextCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('text'),
  content: nonEmpty,
  base_url: httpUrl.nullable().optional(),
  auth: noAuth,
  auth_tools: Auth.nullable().optional(),
});

const FileCallTemplate = z.strictObject({
  ...base,
  call_template_type: z.literal('file'),
  file_path: nonEmpty,
  auth: noAuth,
  auth_tools: Auth.nullable().optional(),
});

const CALL_TEMPLATE_SCHEMAS = {
  http: HttpCallTemplate,
  sse: SseCallTemplate,
  streamable_http: StreamableHttpCallTemplate,
  cli: CliCallTemplate,
  websocket: WebSocketCallTemplate,
  graphql: GraphqlCallTemplate,
  mcp: McpCallTemplate,
  text: TextCallTemplate,
  file: FileCallTemplate,
} as const satisfies Record<CallTemplateTypeName, z.ZodType>;

type Schemas = typeof CALL_TEMPLATE_SCHEMAS;

/** A validated UTCP 1.1 call template of one type, with python-utcp's defaults filled in. */
export type UtcpCallTemplateOf<T extends CallTemplateTypeName> = z.output<Schemas[T]>;
/** A validated UTCP 1.1 call template. */
export type UtcpCallTemplate = { [T in CallTemplateTypeName]: UtcpCallTemplateOf<T> }[CallTemplateTypeName];

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

/** Fields that earlier UTCP versions used, with what to write instead. */
const RENAMED_FIELDS: Record<string, Record<string, string>> = {
  '*': {
    provider_type: 'is the UTCP 0.1 name of `call_template_type`',
  },
  http: { method: 'is the UTCP 0.1 spelling; write `http_method`' },
  cli: {
    command_name: 'was removed in UTCP 1.0: write `commands: [{ command }]`, one step per command',
    cwd: 'is not a UTCP 1.x field; write `working_dir`',
  },
  text: {
    file_path:
      'is not a field of a `text` call template since UTCP 1.1: use the `file` call template type with `file_path`, or put the manual itself in `content`',
  },
  websocket: {
    request_data_format: 'was removed in UTCP 1.0: write the request as `message`',
    request_data_template: 'was removed in UTCP 1.0: write the request as `message` (with UTCP_ARG_<name>_UTCP_ARG placeholders)',
    message_format: 'was removed in UTCP 1.0: write the request as `message`',
  },
};

/** Appends a property name or array index to a JSON path (`$.a["b c"][0]`). */
export function appendPath(path: string, key: PropertyKey): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const name = String(key);
  return /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

function joinPath(path: string, keys: readonly PropertyKey[]): string {
  return keys.reduce<string>(appendPath, path);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(root: unknown, keys: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

const ARTICLE: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  null: 'null',
};

/** The fields an object at `keys` inside a call template may have, and how to name it. */
function objectContext(template: Record<string, unknown>, keys: readonly PropertyKey[]): { what: string; fields: string[]; type?: string } {
  const type = template.call_template_type as CallTemplateTypeName;
  if (keys.length === 0) {
    return { what: `a \`${type}\` call template`, fields: Object.keys(CALL_TEMPLATE_SCHEMAS[type].shape), type };
  }
  const last = keys[keys.length - 1];
  if (keys.length === 1 && (last === 'auth' || last === 'auth_tools')) {
    const authType = valueAt(template, [...keys, 'auth_type']) as keyof typeof AUTH_SCHEMAS;
    return { what: `an \`${authType}\` auth block`, fields: Object.keys(AUTH_SCHEMAS[authType]?.shape ?? {}) };
  }
  if (keys[0] === 'commands') return { what: 'a `cli` command step', fields: Object.keys(CommandStep.shape) };
  if (keys[0] === 'config') return { what: 'an MCP `config`', fields: Object.keys(McpConfig.shape) };
  return { what: 'this object', fields: [] };
}

/** Turns zod's issues for a call template into problems that say what was expected. */
function templateProblems(template: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], path: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  for (const issue of issues) {
    const at = joinPath(path, issue.path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const context = objectContext(template, issue.path);
        for (const key of issue.keys) {
          const renamed = RENAMED_FIELDS[context.type ?? '']?.[key] ?? (context.type ? RENAMED_FIELDS['*']?.[key] : undefined);
          problems.push({
            path: appendPath(at, key),
            message: renamed ?? `is not a field of ${context.what}; expected one of ${context.fields.join(', ')}`,
          });
        }
        break;
      }
      case 'invalid_type': {
        if (issue.expected === 'null') {
          problems.push({ path: at, message: issue.message });
          break;
        }
        const expected = ARTICLE[issue.expected] ?? issue.expected;
        const missing = valueAt(template, issue.path) === undefined;
        problems.push({ path: at, message: missing ? `required: expected ${expected}` : `expected ${expected}` });
        break;
      }
      case 'invalid_value':
        problems.push({
          path: at,
          message:
            issue.values.length === 1 ? `expected ${JSON.stringify(issue.values[0])}` : `expected one of ${issue.values.join(', ')}`,
        });
        break;
      case 'invalid_union': {
        // A discriminated union (an auth block) whose `auth_type` is missing or unknown.
        const options = (issue as unknown as { options?: unknown[] }).options ?? [...AUTH_TYPES];
        const missing = valueAt(template, issue.path) === undefined;
        const message =
          options.length === 1
            ? `expected ${JSON.stringify(options[0])}: ${template.call_template_type} call templates support only this auth type`
            : `expected one of ${options.join(', ')}`;
        problems.push({ path: at, message: missing ? `required: ${message}` : message });
        break;
      }
      case 'too_small':
        problems.push({
          path: at,
          message:
            issue.origin === 'array'
              ? `expected at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`
              : issue.origin === 'string'
                ? issue.minimum === 1
                  ? 'must not be empty'
                  : `expected at least ${issue.minimum} characters`
                : `expected a number ${issue.inclusive ? '≥' : '>'} ${issue.minimum}`,
        });
        break;
      case 'too_big':
        problems.push({
          path: at,
          message:
            issue.origin === 'array'
              ? `expected at most ${issue.maximum} items`
              : issue.origin === 'string'
                ? `expected at most ${issue.maximum} characters`
                : `expected a number ${issue.inclusive ? '≤' : '<'} ${issue.maximum}`,
        });
        break;
      default:
        // custom refinements and regexes carry their own message; zod never includes the input.
        problems.push({ path: at, message: issue.message });
    }
  }
  return problems;
}

/** Outcome of checking one call template: the template, or every problem found. */
export type CallTemplateCheck = { ok: true; template: UtcpCallTemplate } | { ok: false; problems: ValidationProblem[] };

/**
 * Checks one call template without throwing; {@link parseCallTemplate} is the throwing form.
 * Problem paths start with `path`.
 */
export function checkCallTemplate(input: unknown, path = '$'): CallTemplateCheck {
  if (!isObject(input)) {
    return { ok: false, problems: [{ path, message: `${input === undefined ? 'required: ' : ''}expected a call template object` }] };
  }
  const type = input.call_template_type;
  if (!(CALL_TEMPLATE_TYPES as readonly unknown[]).includes(type)) {
    const expected = `expected one of ${CALL_TEMPLATE_TYPES.join(', ')}`;
    let message = type === undefined ? `required: ${expected}` : expected;
    if (type === undefined && 'provider_type' in input) message += ' (`provider_type` is its UTCP 0.1 name)';
    if (type === 'http_stream') message += ' (`http_stream` was renamed `streamable_http` in UTCP 1.0)';
    return { ok: false, problems: [{ path: appendPath(path, 'call_template_type'), message }] };
  }
  const schema = CALL_TEMPLATE_SCHEMAS[type as CallTemplateTypeName] as z.ZodType<UtcpCallTemplate>;
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, template: result.data };
  return { ok: false, problems: templateProblems(input, result.error.issues, path) };
}

/**
 * Validates one call template (a provider's manual call template, or a tool's) strictly against
 * its UTCP 1.1 type, as python-utcp defines it: unknown fields are refused (fields renamed since
 * UTCP 0.1/1.0 with a note on what to write instead), URLs must be http(s) (websocket: wss), auth
 * blocks must match their `auth_type` and name their secrets by variable. Returns the template
 * with python-utcp's defaults filled in. Throws {@link ManualValidationError} with every problem,
 * each with a JSON path prefixed by `path`; no message quotes a value from the template.
 */
export function parseCallTemplate(input: unknown, path = '$'): UtcpCallTemplate {
  const checked = checkCallTemplate(input, path);
  if (!checked.ok) throw new ManualValidationError(checked.problems);
  return checked.template;
}
