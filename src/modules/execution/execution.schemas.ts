import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsPlugin as unknown as { default?: FormatsPlugin }).default ?? addFormatsPlugin) as unknown as FormatsPlugin;

// Tool schemas come from third parties: unknown keywords are tolerated, every error is reported.
const ajv = addFormats(new Ajv({ strict: false, allErrors: true, logger: false, addUsedSchema: false, validateSchema: false }));
const validators = new Map<string, ValidateFunction | Error>();
const MAX_VALIDATORS = 5000;

/** One problem of a value against a schema: the JSON path (`$.city`) and what is wrong. */
export interface SchemaProblem {
  path: string;
  message: string;
}

/** The validator of a tool's schema, compiled once per tool definition; an Error when the schema does not compile. */
function validatorFor(key: string, schema: Record<string, unknown>): ValidateFunction | Error {
  let validate = validators.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch (error) {
      validate = error instanceof Error ? error : new Error(String(error));
    }
    if (validators.size >= MAX_VALIDATORS) validators.clear();
    validators.set(key, validate);
  }
  return validate;
}

/** `/a/0/b` → `$.a[0].b` */
function jsonPath(instancePath: string): string {
  return (
    '$' +
    instancePath
      .split('/')
      .slice(1)
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((part) => (/^\d+$/.test(part) ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`))
      .join('')
  );
}

/**
 * Checks `value` against `schema` (cached under `key`, e.g. the tool's definition hash). Returns every
 * problem, an empty list when it is valid, or null when the schema itself cannot be compiled.
 */
export function schemaProblems(key: string, schema: Record<string, unknown>, value: unknown): SchemaProblem[] | null {
  const validate = validatorFor(key, schema);
  if (validate instanceof Error) return null;
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => {
    const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
    const additional = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty?: string }).additionalProperty : undefined;
    const extra = missing ?? additional;
    const path = jsonPath(e.instancePath) + (extra === undefined ? '' : jsonPath(`/${extra}`).slice(1));
    return { path, message: e.message ?? 'is invalid' };
  });
}
