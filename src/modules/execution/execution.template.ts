import { CLI_OUTPUT_REFERENCE, namespacedVariable, substituteVariables } from '../../utcp/variables.js';
import { type CredentialVault, VaultError } from '../credential/index.js';
import { PROVIDER_AUTH_REFERENCE } from '../provider/provider-auth.js';
import { type CallableTool, type StoredVariable } from './execution.admit.js';

/** Call template types that authenticate with an HTTP `auth` block. */
const HTTP_AUTH_TYPES = new Set(['http', 'sse', 'streamable_http', 'graphql', 'websocket']);

/** The vault seals a variable's value as `{ value }`. */
const SEALED_FIELD = 'value';

/** A tool's call template ready to run, and the secret values it now holds (for redaction). */
export interface ResolvedTemplate {
  template: Record<string, unknown> & { call_template_type: string };
  secrets: string[];
}

/** A variable's value, a secret one decrypted. Throws a VaultError naming the variable, never its value. */
function variableValue(vault: CredentialVault, variable: StoredVariable): string {
  if (!variable.secret) return variable.value ?? '';
  const value = vault.decrypt(variable.ciphertext ?? '', variable.keyId ?? '')[SEALED_FIELD];
  if (typeof value !== 'string') throw new VaultError(`The secret variable ${variable.name} does not hold a value`);
  return value;
}

/**
 * Decrypts the provider's credentials and secret variables and puts them into the tool's call
 * template: every `${<reference>_<field>}` variable (`${auth_api_key}`) is replaced with the secret,
 * every other `$NAME` / `${NAME}` with the provider's variable NAME (setProviderVariables), namespaced
 * by the provider as UTCP does (a credential wins over a variable of the same name), and a tool of an
 * HTTP-family type without an `auth` block of its own authenticates with the provider's credential
 * (`auth`). Throws VARIABLE_MISSING (MissingVariableError) naming a variable nothing provides. The
 * decrypted values leave only inside the returned template, and are listed in `secrets` for redaction.
 * Reads nothing: the credentials and variables come sealed with the tool (see `findCallable`).
 */
export function resolveCallTemplate(vault: CredentialVault, tool: CallableTool): ResolvedTemplate {
  const { providerName, callTemplate } = tool;
  const variables = new Map<string, string>();
  // The values that are secrets: secret provider variables and every credential field.
  const known = new Set<string>();
  for (const variable of tool.variables) {
    const value = variableValue(vault, variable);
    if (variable.secret) known.add(value);
    variables.set(namespacedVariable(providerName, variable.name), value);
  }
  let providerAuth: { block: Record<string, unknown>; values: string[] } | undefined;
  for (const credential of tool.credentials) {
    const secret = vault.decrypt(credential.ciphertext, credential.keyId);
    for (const [field, value] of Object.entries(secret)) {
      variables.set(namespacedVariable(providerName, `${credential.reference}_${field}`), value);
      if (value) known.add(value);
    }
    if (credential.reference === PROVIDER_AUTH_REFERENCE) {
      providerAuth = { block: { auth_type: credential.authType, ...credential.settings, ...secret }, values: Object.values(secret) };
    }
  }
  // Only what this call carries is scrubbed from what it returns: a value that equals a credential
  // the call does not use (another provider's, or one this template does not name) comes back as sent.
  const secrets: string[] = [];
  const lookup = (name: string) => {
    const value = variables.get(name);
    if (value && known.has(value)) secrets.push(value);
    return value;
  };
  let template = substituteVariables(callTemplate, providerName, lookup, CLI_OUTPUT_REFERENCE);
  if (template.auth == null && providerAuth && HTTP_AUTH_TYPES.has(template.call_template_type)) {
    template = { ...template, auth: providerAuth.block };
    secrets.push(...providerAuth.values.filter(Boolean));
  }
  return { template, secrets };
}
