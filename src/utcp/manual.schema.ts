import { Ajv, type AnySchemaObject, type ErrorObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { z } from 'zod';
import { ErrorCode, ManualValidationError, type ValidationProblem } from '../errors.js';
import { appendPath, checkCallTemplate, type UtcpCallTemplate } from './call-templates.js';
import { isLegacyManual, migrateLegacyManual } from './migrate.js';
import { nestsDeeperThan, unstorableTextPath } from '../common/json-values.js';

export {
  CALL_TEMPLATE_TYPES,
  parseCallTemplate,
  type CallTemplateTypeName,
  type UtcpAuth,
  type UtcpCallTemplate,
  type UtcpCallTemplateOf,
} from './call-templates.js';

/** At most this many tools in one manual. */
export const MAX_TOOLS = 5000;
/** At most this many nested levels (objects and arrays) in a tool's `inputs` or `outputs`. */
export const MAX_SCHEMA_DEPTH = 32;
/** At most this many problems are reported for one manual; the rest are counted. */
const MAX_PROBLEMS = 100;

/** A tool's local name: UTCP call template names are `[A-Za-z0-9_]+`, and so are the registry's tool names. */
const TOOL_NAME = /^[A-Za-z0-9_]+$/;

/** A validated tool of a UTCP 1.x manual. */
export interface UtcpTool {
  name: string;
  description: string;
  inputs: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  tags: string[];
  average_response_size?: number;
  tool_call_template: UtcpCallTemplate;
}

/** A validated UTCP 1.x manual; `info` and `x-` extension keys are kept as python-utcp keeps them. */
export interface UtcpManual {
  utcp_version: string;
  manual_version: string;
  tools: UtcpTool[];
  info?: Record<string, unknown>;
  [extension: `x-${string}`]: unknown;
}

const MANUAL_FIELDS = ['utcp_version', 'manual_version', 'tools', 'info'];

/** Fields of earlier UTCP versions, with what to write instead. */
const RENAMED_MANUAL_FIELDS: Record<string, string> = {
  version: 'is the UTCP 0.1 name of the version fields: write `utcp_version` (the protocol) and `manual_version` (this manual)',
  provider_info: 'is UTCP 0.1: write `info`',
};
const RENAMED_TOOL_FIELDS: Record<string, string> = {
  tool_provider: 'is the UTCP 0.1 name of `tool_call_template` (and its `provider_type` of `call_template_type`)',
  provider: 'is UTCP 0.1: write `tool_call_template`',
  parameters: 'is UTCP 0.1: write `inputs`',
};

const ManualFields = z.object({
  manual_version: z.string().min(1).max(64).default('1.0.0'),
  tools: z.array(z.unknown()),
  info: z.record(z.string(), z.unknown()).optional(),
});

const ToolFields = z.strictObject({
  // Checked on their own, for precise messages.
  name: z.unknown().optional(),
  description: z.string().max(10_000).default(''),
  inputs: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
  outputs: z.record(z.string(), z.unknown()).optional(),
  tags: z.array(z.string().min(1).max(64)).max(50).default([]),
  // python-utcp dumps an unset size as null.
  average_response_size: z.int().nonnegative().nullable().optional(),
  tool_call_template: z.unknown().optional(),
});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Renders zod issues of the manual's or a tool's own fields (not the call template's). */
function fieldProblems(input: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], path: string, what: string, fields: string[], renamed: Record<string, string>): ValidationProblem[] {
  return issues.flatMap((issue): ValidationProblem[] => {
    const at = issue.path.reduce<string>(appendPath, path);
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({
          path: appendPath(at, key),
          message: renamed[key] ?? `is not a field of ${what}; expected one of ${fields.join(', ')}`,
        }));
      case 'invalid_type': {
        const field = issue.path[issue.path.length - 1];
        const record = field === 'inputs' || field === 'outputs' ? 'a JSON Schema object' : 'an object';
        const expected = { string: 'a string', record, object: 'an object', array: 'an array', int: 'an integer' }[issue.expected as string];
        const missing = issue.path.length === 1 && input[issue.path[0] as string] === undefined;
        return [{ path: at, message: `${missing ? 'required: ' : ''}expected ${expected ?? issue.expected}` }];
      }
      case 'too_small':
        return [{ path: at, message: issue.origin === 'string' ? 'must not be empty' : `expected at least ${issue.minimum}` }];
      case 'too_big':
        return [
          {
            path: at,
            message: `expected at most ${issue.maximum}${issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' items' : ''}`,
          },
        ];
      default:
        return [{ path: at, message: issue.message }];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// JSON Schema (tools' inputs and outputs)
// ---------------------------------------------------------------------------------------------

const DIALECTS = {
  'draft-07': 'http://json-schema.org/draft-07/schema#',
  '2020-12': 'https://json-schema.org/draft/2020-12/schema',
} as const;
type Dialect = keyof typeof DIALECTS;

/** `$schema` spellings of the dialects UTCP's JSON Schema (draft-07) and current tooling use. */
function dialectOf(uri: string): Dialect | undefined {
  const plain = uri.trim().replace(/^https?:\/\//, '').replace(/#$/, '');
  if (plain === 'json-schema.org/draft-07/schema') return 'draft-07';
  if (plain === 'json-schema.org/draft/2020-12/schema') return '2020-12';
  return undefined;
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsPlugin as unknown as { default?: FormatsPlugin }).default ?? addFormatsPlugin) as unknown as FormatsPlugin;

function newAjv(dialect: Dialect): Ajv {
  // Not strict: JSON Schema ignores unknown keywords (`example`, `x-…`), and manuals use them.
  // The compiled validators are thrown away, so skip ajv's code optimisation.
  const options = { strict: false, allErrors: true, logger: false, addUsedSchema: false, code: { optimize: false, source: false } } as const;
  const ajv = dialect === '2020-12' ? new Ajv2020(options) : new Ajv(options);
  return addFormats(ajv);
}

const ajvs = new Map<Dialect, Ajv>();
function ajvFor(dialect: Dialect): Ajv {
  let ajv = ajvs.get(dialect);
  if (!ajv) ajvs.set(dialect, (ajv = newAjv(dialect)));
  return ajv;
}

/** Keywords of python-utcp's `JsonSchema` model whose `null` (as its dumps write them) means "not set". */
const NULL_MEANS_UNSET = new Set([
  '$schema', '$id', 'title', 'description', 'type', 'properties', 'items', 'required', 'enum', 'examples', 'format',
  'additionalProperties', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength',
]);

/** Drops python-utcp's `null` placeholders from a schema and the subschemas its model knows. */
function withoutUnsetKeywords(schema: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (value === null && NULL_MEANS_UNSET.has(key)) continue;
    if (key === 'properties' && isObject(value)) {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? withoutUnsetKeywords(sub) : sub]));
    } else if ((key === 'items' || key === 'additionalProperties') && isObject(value)) {
      result[key] = withoutUnsetKeywords(value);
    } else if (key === 'items' && Array.isArray(value)) {
      result[key] = value.map((sub) => (isObject(sub) ? withoutUnsetKeywords(sub) : sub));
    } else {
      result[key] = value;
    }
  }
  return result;
}

/** The JSON path of an ajv instance path (a JSON pointer into `root`). */
function pointerPath(path: string, root: unknown, pointer: string): string {
  let at = path;
  let current = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(current) && /^\d+$/.test(key) ? Number(key) : undefined;
    at = appendPath(at, index ?? key);
    current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
  }
  return at;
}

function metaSchemaMessage(error: ErrorObject): string {
  switch (error.keyword) {
    case 'enum':
      return `expected one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'type':
      return `expected ${String((error.params as { type: unknown }).type).replace(/,/g, ' or ')}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const { comparison, limit } = error.params as { comparison: string; limit: number };
      return `expected a number ${comparison} ${limit}`;
    }
    default:
      return `invalid JSON Schema: ${error.message ?? error.keyword}`;
  }
}

/** Keywords that make `$ref` resolution depend on more than JSON pointers into the root. */
const RESOLUTION_KEYWORDS = new Set(['$id', '$anchor', '$dynamicAnchor', '$dynamicRef', '$recursiveRef', '$recursiveAnchor', '$schema']);

/**
 * Whether a schema that passed its meta-schema certainly compiles, so ajv's compilation (the costly
 * part of validating a large manual: about 3 ms per schema) can be skipped: every `$ref` is `#` or a
 * JSON pointer into the schema that resolves, every `pattern` and `patternProperties` key is a valid
 * Unicode regular expression (as ajv compiles them), and nothing changes how references resolve
 * (`$id`, `$anchor`, nested `$schema`, …). Values are walked whether schema or data (`default`,
 * `examples`), so this errs on the side of false: then ajv compiles the schema as before.
 */
function surelyCompiles(root: Record<string, unknown>): boolean {
  const regexOk = (source: string) => {
    try {
      new RegExp(source, 'u');
      return true;
    } catch {
      return false;
    }
  };
  const resolves = (ref: string) => {
    if (ref === '#') return true;
    if (!ref.startsWith('#/')) return false;
    let current: unknown = root;
    for (const raw of ref.slice(2).split('/')) {
      let key: string;
      try {
        key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      } catch {
        return false;
      }
      if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return false;
      current = (current as Record<string, unknown>)[key];
    }
    return current !== null && (typeof current === 'object' || typeof current === 'boolean');
  };
  const stack: unknown[] = [root];
  let first = true;
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value)) {
      if (RESOLUTION_KEYWORDS.has(key) && !(first && key === '$schema')) return false;
      if (key === '$ref' && (typeof child !== 'string' || !resolves(child))) return false;
      if (key === 'pattern' && typeof child === 'string' && !regexOk(child)) return false;
      if (key === 'patternProperties' && child !== null && typeof child === 'object' && !Object.keys(child).every(regexOk)) return false;
      stack.push(child);
    }
    first = false;
  }
  return true;
}

/** Problems of one schema, with paths relative to `$` (prefixed by the caller). */
function schemaProblemsUncached(schema: Record<string, unknown>, dialect: Dialect): ValidationProblem[] {
  const copy: AnySchemaObject = { ...schema, $schema: DIALECTS[dialect] };
  // A root `$id` would be registered on (and removed from) a shared instance: give it its own.
  const ajv = '$id' in schema ? newAjv(dialect) : ajvFor(dialect);
  try {
    if (!ajv.validateSchema(copy)) {
      // Of the meta-schema's errors, the first at each of the deepest paths: an `anyOf` (such as
      // "a schema or an array of schemas") also fails at the parent, in less helpful words.
      const errors = ajv.errors ?? [];
      const byPath = new Map<string, ErrorObject>();
      for (const error of errors) {
        const deeper = errors.some((other) => other.instancePath.startsWith(`${error.instancePath}/`));
        if (!deeper && !byPath.has(error.instancePath)) byPath.set(error.instancePath, error);
      }
      return [...byPath.values()].slice(0, 10).map((error) => ({ path: pointerPath('$', schema, error.instancePath), message: metaSchemaMessage(error) }));
    }
    if (!surelyCompiles(schema)) ajv.compile(copy);
    return [];
  } catch (error) {
    // Bad regular expressions, unresolvable `$ref`s, unknown `$schema`s in subschemas.
    return [{ path: '$', message: `is not a usable JSON Schema: ${(error as Error).message}` }];
  } finally {
    ajv.removeSchema(copy);
  }
}

/** Checks the tools' schemas of one manual; identical schemas are checked once. */
class SchemaChecker {
  private readonly seen = new Map<string, ValidationProblem[]>();

  check(value: Record<string, unknown>, path: string): { schema: Record<string, unknown>; problems: ValidationProblem[] } {
    if (nestsDeeperThan(value, MAX_SCHEMA_DEPTH)) {
      return { schema: value, problems: [{ path, message: `nests deeper than ${MAX_SCHEMA_DEPTH} levels` }] };
    }
    const schema = withoutUnsetKeywords(value);
    let dialect: Dialect = 'draft-07';
    if (schema.$schema !== undefined) {
      const named = typeof schema.$schema === 'string' ? dialectOf(schema.$schema) : undefined;
      if (!named) {
        return {
          schema,
          problems: [
            {
              path: appendPath(path, '$schema'),
              message: `expected a JSON Schema dialect this registry reads: draft-07 ("${DIALECTS['draft-07']}") or 2020-12 ("${DIALECTS['2020-12']}")`,
            },
          ],
        };
      }
      dialect = named;
    }
    const key = `${dialect}\n${JSON.stringify(schema)}`;
    let relative = this.seen.get(key);
    if (!relative) this.seen.set(key, (relative = schemaProblemsUncached(schema, dialect)));
    return { schema, problems: relative.map((p) => ({ path: path + p.path.slice(1), message: p.message })) };
  }
}

// ---------------------------------------------------------------------------------------------
// Manuals
// ---------------------------------------------------------------------------------------------

function toolNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return name === undefined ? 'required: expected a string' : 'expected a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > 128) return 'expected at most 128 characters';
  if (TOOL_NAME.test(name)) return undefined;
  const offending = [...new Set(name.replace(/[A-Za-z0-9_]/g, ''))].map((c) => JSON.stringify(c)).join(', ');
  const prefixed = /^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/.test(name)
    ? '; the registry prefixes tools with their provider itself, so list the tool under its own name'
    : '';
  return `must contain only letters, digits and \`_\` (UTCP tool names are [A-Za-z0-9_]+); found ${offending}${prefixed}`;
}

function checkTool(input: unknown, path: string, schemas: SchemaChecker): { tool?: UtcpTool; problems: ValidationProblem[] } {
  if (!isObject(input)) return { problems: [{ path, message: 'expected a tool object' }] };
  const problems: ValidationProblem[] = [];
  const nameProblem = toolNameProblem(input.name);
  if (nameProblem) problems.push({ path: appendPath(path, 'name'), message: nameProblem });

  const fields = ToolFields.safeParse(input);
  if (!fields.success) {
    problems.push(...fieldProblems(input, fields.error.issues, path, 'a UTCP tool', Object.keys(ToolFields.shape), RENAMED_TOOL_FIELDS));
  }
  const template = checkCallTemplate(input.tool_call_template, appendPath(path, 'tool_call_template'));
  if (!template.ok) {
    // A 0.1 `tool_provider` already explains the missing template.
    if (!('tool_provider' in input || 'provider' in input) || input.tool_call_template !== undefined) problems.push(...template.problems);
  }
  let inputs: Record<string, unknown> | undefined;
  let outputs: Record<string, unknown> | undefined;
  if (fields.success) {
    const checkedInputs = schemas.check(fields.data.inputs, appendPath(path, 'inputs'));
    inputs = checkedInputs.schema;
    problems.push(...checkedInputs.problems);
    if (fields.data.outputs) {
      const checkedOutputs = schemas.check(fields.data.outputs, appendPath(path, 'outputs'));
      outputs = checkedOutputs.schema;
      problems.push(...checkedOutputs.problems);
    }
  }
  if (problems.length > 0 || !fields.success || !template.ok || !inputs) return { problems };
  const { average_response_size: size, description, tags } = fields.data;
  return {
    tool: {
      name: input.name as string,
      description,
      inputs,
      ...(outputs ? { outputs } : {}),
      tags,
      ...(size !== null && size !== undefined ? { average_response_size: size } : {}),
      tool_call_template: template.template,
    },
    problems,
  };
}

function unsupportedVersion(path: string, message: string): ManualValidationError {
  return new ManualValidationError([{ path, message }], ErrorCode.UNSUPPORTED_UTCP_VERSION);
}

function capped(problems: ValidationProblem[]): ValidationProblem[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  return [...problems.slice(0, MAX_PROBLEMS), { path: '$', message: `and ${problems.length - MAX_PROBLEMS} more problems` }];
}

/**
 * Validates a UTCP 1.x manual strictly, per UTCP 1.1 and python-utcp: only `utcp_version`,
 * `manual_version`, `tools`, `info` and `x-` extension keys at the top level; at most 5000
 * tools, each with a unique `[A-Za-z0-9_]+` name, only the UTCP tool fields, `inputs`/`outputs`
 * that compile as JSON Schema (draft-07, or 2020-12 when `$schema` says so; nested at most 32
 * levels), and a call template valid for its type (see `parseCallTemplate`). A missing
 * `utcp_version` means the current one, as in python-utcp. Returns the manual with UTCP's
 * defaults filled in. Throws {@link ManualValidationError} with every problem and its JSON path
 * (INVALID_MANUAL), or with UNSUPPORTED_UTCP_VERSION for a UTCP 0.1 manual (see
 * `parseManualWithWarnings`) or a version other than 1.x. No message quotes a secret.
 */
export function parseManual(input: unknown): UtcpManual {
  if (!isObject(input)) throw new ManualValidationError([{ path: '$', message: 'expected a UTCP manual (a JSON object)' }]);
  if (isLegacyManual(input)) {
    throw unsupportedVersion(
      '$',
      'UTCP 0.1 manuals (`version`, `tool_provider`) are not supported; publish a UTCP 1.x manual (`utcp_version`, `tool_call_template`), or import it with migration',
    );
  }
  const unstorable = unstorableTextPath(input);
  if (unstorable !== null) {
    throw new ManualValidationError([{ path: unstorable, message: 'holds U+0000 or an unpaired surrogate, which cannot be stored' }]);
  }
  const problems: ValidationProblem[] = [];
  const declared = input.utcp_version ?? '1.1.0';
  if (typeof declared !== 'string' || !/^\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]*)?$/.test(declared.trim())) {
    problems.push({ path: '$.utcp_version', message: 'expected a UTCP version such as "1.1.0"' });
  } else if (!declared.trim().startsWith('1.')) {
    throw unsupportedVersion('$.utcp_version', `UTCP ${declared.trim().split('.')[0]}.x cannot be read; this registry reads UTCP 1.x manuals`);
  }

  for (const key of Object.keys(input)) {
    if (MANUAL_FIELDS.includes(key) || key.startsWith('x-')) continue;
    problems.push({
      path: appendPath('$', key),
      message: RENAMED_MANUAL_FIELDS[key] ?? `is not a field of a UTCP manual; expected one of ${MANUAL_FIELDS.join(', ')} or an \`x-\` extension`,
    });
  }
  const fields = ManualFields.safeParse(input);
  if (!fields.success) {
    problems.push(...fieldProblems(input, fields.error.issues, '$', 'a UTCP manual', MANUAL_FIELDS, RENAMED_MANUAL_FIELDS));
    throw new ManualValidationError(capped(problems));
  }
  const rawTools = fields.data.tools;
  if (rawTools.length > MAX_TOOLS) {
    problems.push({ path: '$.tools', message: `expected at most ${MAX_TOOLS} tools in one manual` });
    throw new ManualValidationError(capped(problems));
  }

  const schemas = new SchemaChecker();
  const seen = new Map<string, number>();
  const tools: UtcpTool[] = [];
  rawTools.forEach((raw, index) => {
    const path = `$.tools[${index}]`;
    const checked = checkTool(raw, path, schemas);
    problems.push(...checked.problems);
    if (checked.tool) tools.push(checked.tool);
    const name = isObject(raw) ? raw.name : undefined;
    if (typeof name === 'string') {
      const first = seen.get(name);
      if (first !== undefined) problems.push({ path: `${path}.name`, message: `duplicates $.tools[${first}].name` });
      else seen.set(name, index);
    }
  });
  if (problems.length > 0) throw new ManualValidationError(capped(problems));

  const extensions = Object.fromEntries(Object.entries(input).filter(([key]) => key.startsWith('x-')));
  return {
    utcp_version: (declared as string).trim(),
    manual_version: fields.data.manual_version,
    tools,
    ...(fields.data.info ? { info: fields.data.info } : {}),
    ...extensions,
  };
}

/**
 * Like {@link parseManual}, but a UTCP 0.1 manual is first migrated to UTCP 1.1 (see
 * `migrateLegacyManual`) and then validated as one. Returns the manual and the warnings that say
 * what was migrated, which the caller must pass on to the user (none for a 1.x manual). Throws
 * as `parseManual` does; problems of a migrated manual name paths in its migrated form.
 */
export function parseManualWithWarnings(input: unknown): { manual: UtcpManual; warnings: string[] } {
  if (!isLegacyManual(input)) return { manual: parseManual(input), warnings: [] };
  const { manual, warnings } = migrateLegacyManual(input);
  return { manual: parseManual(manual), warnings };
}
