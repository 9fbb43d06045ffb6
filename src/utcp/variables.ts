import { ErrorCode, RegistryError } from '../errors.js';

const REFERENCE = /\$\{(\w+)\}|\$(\w+)/g;

/** `$CMD_<i>_OUTPUT`: the CLI executor's reference to an earlier command's output, not a variable. */
export const CLI_OUTPUT_REFERENCE = /^CMD_\d+_OUTPUT$/;

/**
 * The namespaced name of a manual's variable, as UTCP's reference substitutor forms it: `_` in
 * the namespace doubles, then `_` and the variable follow (`web_api` + `KEY` → `web__api_KEY`).
 */
export function namespacedVariable(namespace: string, key: string): string {
  if (!/^\w+$/.test(namespace)) throw new Error(`Variable namespace ${JSON.stringify(namespace)} may only hold letters, digits and _`);
  return `${namespace.replace(/_/g, '__')}_${key}`;
}

/**
 * Whether `key` of `owner` holds data rather than a template: the inline `content` of a `text`
 * call template is a manual or OpenAPI document (its `$ref`s are JSON references, not variables)
 * and is returned or parsed as it is.
 */
function isInlineDocument(owner: Record<string, unknown>, key: string): boolean {
  return key === 'content' && owner.call_template_type === 'text';
}

/** Calls `found` with the plain name of every variable reference in the strings of `value` (deeply), inline documents excepted. */
function eachReference(value: unknown, found: (key: string) => void): void {
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      for (const match of item.matchAll(REFERENCE)) found(match[1] ?? match[2]!);
    } else if (Array.isArray(item)) {
      item.forEach(visit);
    } else if (item && typeof item === 'object') {
      const owner = item as Record<string, unknown>;
      for (const [key, child] of Object.entries(owner)) if (!isInlineDocument(owner, key)) visit(child);
    }
  };
  visit(value);
}

/**
 * The plain names (as the manual writes them: `NEWS_API_KEY`) of every variable a value refers to,
 * in order of appearance, once each; the CLI's `$CMD_<i>_OUTPUT` and the inline document of a
 * `text` template (whose `$ref`s are no variables) are left out.
 */
export function referencedVariables(value: unknown): string[] {
  const found = new Set<string>();
  eachReference(value, (key) => {
    if (!CLI_OUTPUT_REFERENCE.test(key)) found.add(key);
  });
  return [...found];
}

/** Every variable a value refers to (`${VAR}` or `$VAR`), namespaced, in order of appearance, once each (see {@link referencedVariables}). */
export function requiredVariables(value: unknown, namespace: string): string[] {
  return referencedVariables(value).map((key) => namespacedVariable(namespace, key));
}

/** A template refers to a variable that nobody provided (VARIABLE_MISSING, naming it as the manual writes it). */
export class MissingVariableError extends RegistryError {
  constructor(
    readonly variable: string,
    readonly namespaced: string,
  ) {
    super(
      ErrorCode.VARIABLE_MISSING,
      `The call template needs the variable ${variable}, which nobody provided; its provider's owner sets it with setProviderVariables`,
      { variable, namespaced },
    );
    this.name = 'MissingVariableError';
  }
}

/**
 * Replaces every `${VAR}` / `$VAR` in strings of `value` (deeply) with `lookup(namespaced name)`.
 * Values come only from `lookup` — the provider's stored variables and credentials — never from
 * the registry's own environment. Throws {@link MissingVariableError} naming the first variable
 * `lookup` does not know. References whose plain name matches `keep` stay as written (the CLI's
 * `$CMD_<i>_OUTPUT`); the inline document of a `text` template is left as it is.
 */
export function substituteVariables<T>(value: T, namespace: string, lookup: (name: string) => string | undefined, keep?: RegExp): T {
  const substitute = (item: unknown): unknown => {
    if (typeof item === 'string') {
      return item.replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => {
        const key = (braced ?? bare)!;
        if (keep?.test(key)) return match;
        const name = namespacedVariable(namespace, key);
        const resolved = lookup(name);
        if (resolved === undefined) throw new MissingVariableError(key, name);
        return resolved;
      });
    }
    if (Array.isArray(item)) return item.map(substitute);
    if (item && typeof item === 'object') {
      const owner = item as Record<string, unknown>;
      return Object.fromEntries(Object.entries(owner).map(([k, v]) => [k, isInlineDocument(owner, k) ? v : substitute(v)]));
    }
    return item;
  };
  return substitute(value) as T;
}
