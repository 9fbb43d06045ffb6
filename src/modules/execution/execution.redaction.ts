export const REDACTED = '[REDACTED]';

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a JSON Schema marks its value as secret: `writeOnly: true` or `format: password`. */
function isSecret(schema: Schema): boolean {
  return schema.writeOnly === true || schema.format === 'password';
}

/**
 * A copy of `value` with every value its schema marks as secret replaced by {@link REDACTED},
 * following `properties`, `additionalProperties`, `items` and the branches of `allOf`/`anyOf`/`oneOf`.
 */
export function redactBySchema(value: unknown, schema: unknown): unknown {
  if (!isObject(schema)) return value;
  if (isSecret(schema) && value !== undefined) return REDACTED;
  let result = value;
  for (const branch of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = schema[branch];
    if (Array.isArray(branches)) for (const sub of branches) result = redactBySchema(result, sub);
  }
  if (isObject(result)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const additional = schema.additionalProperties;
    let copy: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(result)) {
      const sub = key in properties ? properties[key] : additional;
      const redacted = redactBySchema(item, sub);
      if (redacted !== item) (copy ??= { ...result })[key] = redacted;
    }
    return copy ?? result;
  }
  if (Array.isArray(result) && isObject(schema.items)) {
    const items = schema.items;
    const mapped = result.map((item) => redactBySchema(item, items));
    return mapped.some((item, i) => item !== result[i]) ? mapped : result;
  }
  return result;
}

/**
 * The string values of `value` that its schema marks as secret (what {@link redactBySchema} replaces),
 * so they can be scrubbed wherever they come back (a result or error echoing a password argument).
 */
export function secretsBySchema(value: unknown, schema: unknown): string[] {
  const found: string[] = [];
  const collect = (item: unknown): void => {
    if (typeof item === 'string') found.push(item);
    else if (Array.isArray(item)) item.forEach(collect);
    else if (isObject(item)) Object.values(item).forEach(collect);
  };
  const diff = (original: unknown, redacted: unknown): void => {
    if (original === redacted) return;
    if (redacted === REDACTED) return collect(original);
    if (Array.isArray(original) && Array.isArray(redacted)) original.forEach((item, i) => diff(item, redacted[i]));
    else if (isObject(original) && isObject(redacted)) for (const [key, item] of Object.entries(original)) diff(item, redacted[key]);
  };
  diff(value, redactBySchema(value, schema));
  return found;
}

/** Whether any part of a JSON Schema marks a value as secret (see {@link redactBySchema}). */
export function schemaHasSecrets(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.some(schemaHasSecrets);
  if (!isObject(schema)) return false;
  return isSecret(schema) || Object.values(schema).some(schemaHasSecrets);
}
