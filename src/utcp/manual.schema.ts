import { z } from 'zod';
import { ErrorCode, ManualValidationError, type ValidationProblem } from '../errors.js';

/** Call template types defined by UTCP 1.1. */
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

const JsonObject = z.record(z.string(), z.unknown());

const HttpMethod = z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);

/**
 * The fields each call template type requires in UTCP 1.1. Other fields pass through untouched;
 * full per-type validation and discovery belong to provider registration.
 */
const CallTemplate = z.discriminatedUnion('call_template_type', [
  z.looseObject({ call_template_type: z.literal('http'), url: z.string().min(1), http_method: HttpMethod.default('GET') }),
  z.looseObject({ call_template_type: z.literal('sse'), url: z.string().min(1) }),
  z.looseObject({ call_template_type: z.literal('streamable_http'), url: z.string().min(1) }),
  z
    .looseObject({
      call_template_type: z.literal('cli'),
      commands: z.array(z.looseObject({ command: z.string().min(1), append_to_final_output: z.boolean().optional() })).min(1),
    })
    .refine((t) => !('command_name' in t), {
      message: '`command_name` was removed in UTCP 1.0; use `commands: [{ command }]`',
      path: ['command_name'],
    }),
  z.looseObject({ call_template_type: z.literal('websocket'), url: z.string().min(1) }),
  z.looseObject({ call_template_type: z.literal('graphql'), url: z.string().min(1) }),
  z.looseObject({ call_template_type: z.literal('mcp'), config: z.looseObject({ mcpServers: JsonObject }) }),
  z.looseObject({ call_template_type: z.literal('text'), content: z.string().optional() }),
  z.looseObject({ call_template_type: z.literal('file'), file_path: z.string().min(1) }),
]);

const ToolName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must contain only letters, digits, `_`, `-` and `.`');

const ManualTool = z.object({
  name: ToolName,
  description: z.string().max(10_000).default(''),
  inputs: JsonObject.default({ type: 'object', properties: {} }),
  outputs: JsonObject.optional(),
  tags: z.array(z.string().min(1).max(64)).max(50).default([]),
  average_response_size: z.number().int().nonnegative().optional(),
  tool_call_template: CallTemplate,
});

const Manual = z.object({
  utcp_version: z.string().regex(/^1\.\d+(\.\d+)?$/, 'must be a UTCP 1.x version such as "1.1.0"'),
  manual_version: z.string().min(1).default('1.0.0'),
  tools: z.array(ManualTool).max(5000),
});

export type UtcpCallTemplate = z.infer<typeof CallTemplate>;
export type UtcpTool = z.infer<typeof ManualTool>;
export type UtcpManual = z.infer<typeof Manual>;

/** Renders a zod issue path as a JSON path: `$.tools[0].tool_call_template.url`. */
function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`), '$');
}

/** Auth fields that hold secrets: they must name a variable, never carry the secret itself. */
const SECRET_AUTH_FIELDS = ['api_key', 'password', 'client_secret'];
const VARIABLE_REFERENCE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

/** Problems for every secret written inline in a call template's `auth` block. */
function inlineSecrets(template: Record<string, unknown>, path: string): ValidationProblem[] {
  const auth = template.auth;
  if (!isObject(auth)) return [];
  return SECRET_AUTH_FIELDS.filter((field) => typeof auth[field] === 'string' && !VARIABLE_REFERENCE.test(auth[field])).map(
    (field) => ({
      path: `${path}.auth.${field}`,
      message: 'must reference a variable such as "${API_KEY}"; inline secrets are not accepted',
    }),
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a UTCP 1.x manual. Throws {@link ManualValidationError} with every problem and its
 * JSON path; a UTCP 0.1 manual (`version`, `tool_provider`) is refused with
 * UNSUPPORTED_UTCP_VERSION. Tool names must be unique within the manual.
 */
export function parseManual(input: unknown): UtcpManual {
  if (isObject(input) && !('utcp_version' in input)) {
    const legacy =
      'version' in input ||
      (Array.isArray(input.tools) && input.tools.some((t) => isObject(t) && 'tool_provider' in t));
    if (legacy) {
      throw new ManualValidationError(
        [{ path: '$', message: 'UTCP 0.1 manuals (`version`, `tool_provider`) are not supported; publish a UTCP 1.x manual' }],
        ErrorCode.UNSUPPORTED_UTCP_VERSION,
      );
    }
  }
  const result = Manual.safeParse(input);
  if (!result.success) {
    throw new ManualValidationError(result.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })));
  }
  const seen = new Map<string, number>();
  const problems: ValidationProblem[] = [];
  result.data.tools.forEach((tool, index) => {
    const first = seen.get(tool.name);
    if (first !== undefined) problems.push({ path: `$.tools[${index}].name`, message: `duplicates $.tools[${first}].name` });
    else seen.set(tool.name, index);
    problems.push(...inlineSecrets(tool.tool_call_template, `$.tools[${index}].tool_call_template`));
  });
  if (problems.length > 0) throw new ManualValidationError(problems);
  return result.data;
}
