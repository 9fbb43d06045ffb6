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
