import { ErrorCode, RegistryError } from '../errors.js';

const REFERENCE = /\$\{(\w+)\}|\$(\w+)/g;

/**
 * The namespaced name of a manual's variable, as UTCP's reference substitutor forms it: `_` in
 * the namespace doubles, then `_` and the variable follow (`web_api` + `KEY` → `web__api_KEY`).
 */
export function namespacedVariable(namespace: string, key: string): string {
  if (!/^\w+$/.test(namespace)) throw new Error(`Variable namespace ${JSON.stringify(namespace)} may only hold letters, digits and _`);
  return `${namespace.replace(/_/g, '__')}_${key}`;
}

/** Every variable a value refers to (`${VAR}` or `$VAR`), namespaced, in order of appearance, once each. */
export function requiredVariables(value: unknown, namespace: string): string[] {
  const found = new Set<string>();
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      for (const match of item.matchAll(REFERENCE)) found.add(namespacedVariable(namespace, match[1] ?? match[2]!));
    } else if (Array.isArray(item)) {
      item.forEach(visit);
    } else if (item && typeof item === 'object') {
      Object.values(item).forEach(visit);
    }
  };
  visit(value);
  return [...found];
}

/** A template refers to a variable that nobody provided. */
export class MissingVariableError extends RegistryError {
  constructor(readonly variable: string) {
    super(ErrorCode.VARIABLE_MISSING, `The call template needs the variable ${variable}, which none of its provider's credentials provides`, { variable });
    this.name = 'MissingVariableError';
  }
}

/**
 * Replaces every `${VAR}` / `$VAR` in strings of `value` (deeply) with `lookup(namespaced name)`.
 * Values come only from `lookup` — the provider's stored variables and credentials — never from
 * the registry's own environment. Throws {@link MissingVariableError} naming the first variable
 * `lookup` does not know. References whose plain name matches `keep` stay as written (the CLI's
 * `$CMD_<i>_OUTPUT`).
 */
export function substituteVariables<T>(value: T, namespace: string, lookup: (name: string) => string | undefined, keep?: RegExp): T {
  const substitute = (item: unknown): unknown => {
    if (typeof item === 'string') {
      return item.replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => {
        const key = (braced ?? bare)!;
        if (keep?.test(key)) return match;
        const name = namespacedVariable(namespace, key);
        const resolved = lookup(name);
        if (resolved === undefined) throw new MissingVariableError(name);
        return resolved;
      });
    }
    if (Array.isArray(item)) return item.map(substitute);
    if (item && typeof item === 'object') return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, substitute(v)]));
    return item;
  };
  return substitute(value) as T;
}
