import { ErrorCode, RegistryError } from '../../errors.js';
import { CredentialAuthType, secretFieldsOf, settingFieldsOf } from '../credential/index.js';

/** The credential reference a provider's own auth is stored under. */
export const PROVIDER_AUTH_REFERENCE = 'auth';

const VARIABLE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

/** An auth block taken out of a call template, split into what is secret and what is not. */
export interface ExtractedAuth {
  authType: CredentialAuthType;
  secret: Record<string, string>;
  settings: Record<string, unknown>;
}

/** How a secret field is referred to in a stored template: `${auth_api_key}`. */
export function secretPlaceholder(field: string): string {
  return `\${${PROVIDER_AUTH_REFERENCE}_${field}}`;
}

/**
 * Takes the literal secrets out of a template's `auth` block: returns the template with each
 * secret replaced by a placeholder naming the provider's credential, and the secret itself for
 * the vault. Variable references (`${VAR}`) stay as they are. Throws BAD_USER_INPUT for an auth
 * block of an unknown type; never echoes a secret.
 */
export function extractAuth(template: Record<string, unknown>): { template: Record<string, unknown>; auth?: ExtractedAuth } {
  const block = template.auth;
  if (block === undefined || block === null) return { template };
  if (typeof block !== 'object' || Array.isArray(block)) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`auth` must be an object', { field: 'callTemplate.auth' });
  }
  const auth = block as Record<string, unknown>;
  const authType = auth.auth_type as CredentialAuthType;
  if (!Object.values(CredentialAuthType).includes(authType)) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`auth.auth_type` must be api_key, basic or oauth2', { field: 'callTemplate.auth.auth_type' });
  }
  const secret: Record<string, string> = {};
  const stored: Record<string, unknown> = { ...auth };
  for (const field of secretFieldsOf(authType)) {
    const value = auth[field];
    if (typeof value === 'string' && value !== '' && !VARIABLE.test(value)) {
      secret[field] = value;
      stored[field] = secretPlaceholder(field);
    }
  }
  if (Object.keys(secret).length === 0) return { template };
  const settings = Object.fromEntries(settingFieldsOf(authType).filter((f) => auth[f] !== undefined).map((f) => [f, auth[f]]));
  return { template: { ...template, auth: stored }, auth: { authType, secret, settings } };
}

/**
 * HTTP headers that authenticate discovery of a manual with a provider's auth (api_key in a
 * header or cookie, basic). Other kinds are applied by the executors at call time.
 */
export function discoveryHeaders(auth: ExtractedAuth | undefined): Record<string, string> {
  if (!auth) return {};
  if (auth.authType === CredentialAuthType.API_KEY && auth.secret.api_key) {
    const name = typeof auth.settings.var_name === 'string' ? auth.settings.var_name : 'X-Api-Key';
    const location = auth.settings.location ?? 'header';
    if (location === 'header') return { [name]: auth.secret.api_key };
    if (location === 'cookie') return { cookie: `${name}=${auth.secret.api_key}` };
  }
  if (auth.authType === CredentialAuthType.BASIC && auth.secret.username !== undefined && auth.secret.password !== undefined) {
    return { authorization: `Basic ${Buffer.from(`${auth.secret.username}:${auth.secret.password}`).toString('base64')}` };
  }
  return {};
}

/** The fields of the `credential` input of registerProvider, in GraphQL's camelCase. */
export interface CredentialFields {
  authType: string;
  apiKey?: string | null;
  varName?: string | null;
  location?: string | null;
  username?: string | null;
  password?: string | null;
  tokenUrl?: string | null;
  clientId?: string | null;
  clientSecret?: string | null;
  scope?: string | null;
}

/**
 * The UTCP `auth` block equivalent to a `credential` input, to put into the call template before
 * its secrets are taken out. Throws BAD_USER_INPUT when the template already has an `auth` block.
 */
export function withCredential(template: Record<string, unknown>, credential: CredentialFields | null | undefined): Record<string, unknown> {
  if (!credential) return template;
  if (template.auth !== undefined && template.auth !== null) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'Give authentication either as `credential` or in the template’s `auth`, not both', {
      field: 'credential',
    });
  }
  const fields: Record<string, string | null | undefined> = {
    auth_type: credential.authType,
    api_key: credential.apiKey,
    var_name: credential.varName,
    location: credential.location,
    username: credential.username,
    password: credential.password,
    token_url: credential.tokenUrl,
    client_id: credential.clientId,
    client_secret: credential.clientSecret,
    scope: credential.scope,
  };
  return { ...template, auth: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null)) };
}
