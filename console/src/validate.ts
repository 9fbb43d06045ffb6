import { type Schema, Validator } from '@cfworker/json-schema';

/**
 * The Try-it form's check of arguments against the tool's input schema, in the browser, with
 * @cfworker/json-schema: a complete JSON Schema validator that needs no `eval`, so the page's
 * Content-Security-Policy stays strict (Ajv compiles schemas to functions). The registry validates
 * again with Ajv; this catches mistakes before a call is made.
 */
export interface SchemaProblem {
  path: string;
  message: string;
}

/** Errors that only say a child failed; the child's own error says how. */
const WRAPPERS = new Set(['properties', 'items', 'prefixItems', 'additionalProperties', 'patternProperties', 'additionalItems', '$ref', 'allOf']);

/** `#/a/0` as `/a/0`; the whole value as `/`. */
const pathOf = (location: string) => location.replace(/^#/, '') || '/';

export function validate(schema: unknown, value: unknown): SchemaProblem[] {
  if (schema === undefined || schema === null || (typeof schema !== 'object' && typeof schema !== 'boolean')) return [];
  const result = new Validator(schema as Schema, '2020-12', false).validate(value);
  return result.errors
    .filter((e) => !WRAPPERS.has(e.keyword))
    .map((e) => {
      const path = pathOf(e.instanceLocation);
      if (e.keyword === 'required') {
        const name = /"(.*)"/.exec(e.error)?.[1] ?? '';
        return { path: `${path === '/' ? '' : path}/${name}`, message: 'is required' };
      }
      if (e.keyword === 'false') return { path, message: 'is not an allowed field' };
      if (e.keyword === 'type') return { path, message: `must be ${/Expected (.*)\./.exec(e.error)?.[1]?.replaceAll('"', '') ?? 'another type'}` };
      return { path, message: e.error };
    });
}

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/**
 * What a person should know before filling in a value of this schema: its default and its limits
 * (range, length, pattern, format, allowed values, item counts), each as a short phrase.
 */
export function limitsOf(schema: unknown): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as Record<string, unknown>;
  const out: string[] = [];
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  if ('default' in s) out.push(`default ${JSON.stringify(s.default)}`);
  const [min, xmin, max, xmax] = [num('minimum'), num('exclusiveMinimum'), num('maximum'), num('exclusiveMaximum')];
  const low = min !== undefined ? `≥ ${min}` : xmin !== undefined ? `> ${xmin}` : null;
  const high = max !== undefined ? `≤ ${max}` : xmax !== undefined ? `< ${xmax}` : null;
  if (low && high) out.push(`${low} and ${high}`);
  else if (low ?? high) out.push((low ?? high)!);
  if (num('multipleOf') !== undefined) out.push(`a multiple of ${num('multipleOf')}`);
  const [minLength, maxLength] = [num('minLength'), num('maxLength')];
  if (minLength !== undefined && maxLength !== undefined) out.push(`${minLength} to ${maxLength} characters`);
  else if (minLength !== undefined) out.push(`at least ${minLength} character${minLength === 1 ? '' : 's'}`);
  else if (maxLength !== undefined) out.push(`at most ${maxLength} characters`);
  if (typeof s.pattern === 'string') out.push(`matches ${s.pattern}`);
  if (typeof s.format === 'string') out.push(`format ${s.format}`);
  if (Array.isArray(s.enum)) out.push(`one of ${s.enum.map(show).join(', ')}`);
  if ('const' in s) out.push(`exactly ${show(s.const)}`);
  const [minItems, maxItems] = [num('minItems'), num('maxItems')];
  if (minItems !== undefined) out.push(`at least ${minItems} item${minItems === 1 ? '' : 's'}`);
  if (maxItems !== undefined) out.push(`at most ${maxItems} items`);
  if (s.uniqueItems === true) out.push('no duplicate items');
  return out;
}
