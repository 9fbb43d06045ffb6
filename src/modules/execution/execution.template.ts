import { type EntityManager } from '@mikro-orm/postgresql';
import { CLI_OUTPUT_REFERENCE, namespacedVariable, substituteVariables } from '../../utcp/variables.js';
import { Credential, type CredentialVault } from '../credential/index.js';
import { CredentialService } from '../credential/index.js';
import { PROVIDER_AUTH_REFERENCE } from '../provider/provider-auth.js';
import { ProviderVariableService } from '../variable/index.js';

/** Call template types that authenticate with an HTTP `auth` block. */
const HTTP_AUTH_TYPES = new Set(['http', 'sse', 'streamable_http', 'graphql', 'websocket']);

/** A tool's call template ready to run, and the secret values it now holds (for redaction). */
export interface ResolvedTemplate {
  template: Record<string, unknown> & { call_template_type: string };
  secrets: string[];
}

/**
 * Decrypts the provider's credentials and secret variables and puts them into the tool's call
 * template: every `${<reference>_<field>}` variable (`${auth_api_key}`) is replaced with the secret,
 * every other `$NAME` / `${NAME}` with the provider's variable NAME (setProviderVariables), namespaced
 * by the provider as UTCP does (a credential wins over a variable of the same name), and a tool of an
 * HTTP-family type without an `auth` block of its own authenticates with the provider's credential
 * (`auth`). Throws VARIABLE_MISSING (MissingVariableError) naming a variable nothing provides. The
 * decrypted values leave only inside the returned template, and are listed in `secrets` for redaction.
 */
export async function resolveCallTemplate(
  em: EntityManager,
  vault: CredentialVault,
  providerId: string,
  providerName: string,
  callTemplate: Record<string, unknown> & { call_template_type: string },
): Promise<ResolvedTemplate> {
  const credentials = await em.find(Credential, { provider: providerId });
  const service = new CredentialService(em, vault);
  const stored = await new ProviderVariableService(em, vault).resolve(providerId, providerName);
  const variables = new Map<string, string>(stored.values);
  // The values that are secrets: secret provider variables and every credential field.
  const known = new Set<string>(stored.secrets);
  let providerAuth: { block: Record<string, unknown>; values: string[] } | undefined;
  for (const credential of credentials) {
    const secret = service.reveal(credential);
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
