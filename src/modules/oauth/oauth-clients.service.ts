import { randomBytes } from 'node:crypto';
import { type EntityManager } from '@mikro-orm/postgresql';
import { OAuthClient } from './oauth-client.entity.js';

/** Most redirect URIs one client may register. */
export const MAX_REDIRECT_URIS = 5;
/** Longest redirect URI accepted. */
export const MAX_REDIRECT_URI_LENGTH = 512;
const MAX_NAME_LENGTH = 200;
const MAX_SCOPE_LENGTH = 500;

/** Limits of dynamic client registration (from the configuration). */
export interface RegistrationLimits {
  maxClients: number;
  unusedClientTtlSeconds: number;
}

/** An RFC 7591 §3.2.2 error, or capacity exhausted. */
export interface RegistrationError {
  status: 400 | 503;
  error: 'invalid_redirect_uri' | 'invalid_client_metadata' | 'temporarily_unavailable';
  description: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Whether `uri` is a loopback `http` redirect URI (RFC 8252 §7.3), whose port the client picks at each request. */
function isLoopback(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * Why a redirect URI cannot be registered, or null: it must be absolute without a fragment, and
 * `https`, `http` on a loopback host (RFC 8252 §7.3), or a private-use scheme in reverse-domain
 * form (RFC 8252 §7.1, e.g. `com.example.app:/callback`).
 */
function redirectUriProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_REDIRECT_URI_LENGTH) {
    return `each redirect URI must be a string of 1 to ${MAX_REDIRECT_URI_LENGTH} characters`;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'a redirect URI must be an absolute URL';
  }
  if (url.hash || value.includes('#')) return 'a redirect URI must not have a fragment';
  if (url.username || url.password) return 'a redirect URI must not carry credentials';
  if (url.protocol === 'https:' || isLoopback(url)) return null;
  if (url.protocol === 'http:') return 'http redirect URIs must be on a loopback host (127.0.0.1, [::1], localhost); use https';
  if (/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(url.protocol)) return null;
  return 'a redirect URI must be https, loopback http, or a reverse-domain private-use scheme';
}

/**
 * Whether `requested` matches one of the client's registered redirect URIs: exactly, or, for a
 * loopback `http` URI, exactly but for the port (RFC 8252 §7.3).
 */
export function redirectUriRegistered(client: Pick<OAuthClient, 'redirectUris'>, requested: string): boolean {
  if (client.redirectUris.includes(requested)) return true;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopback(url) || url.hash || url.username || url.password) return false;
  return client.redirectUris.some((registered) => {
    const known = new URL(registered);
    if (!isLoopback(known)) return false;
    known.port = url.port;
    return known.href === url.href;
  });
}

/**
 * RFC 7591 dynamic registration of public clients: validated, bounded (clients, redirect URIs,
 * field lengths), and pruned of clients that never signed anyone in within the configured time.
 */
export class OAuthClientService {
  constructor(
    private readonly em: EntityManager,
    private readonly limits: RegistrationLimits,
  ) {}

  /** A registered client that has not expired, or null. */
  async find(clientId: string): Promise<OAuthClient | null> {
    if (clientId.length > 64 || !clientId.startsWith('mcp_')) return null;
    const client = await this.em.findOne(OAuthClient, { clientId });
    return client && !this.expired(client) ? client : null;
  }

  /** Registers a client from its RFC 7591 metadata, or says why not. */
  async register(metadata: unknown, sourceIp: string): Promise<{ client: OAuthClient } | RegistrationError> {
    const invalid = (description: string): RegistrationError => ({ status: 400, error: 'invalid_client_metadata', description });
    if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return invalid('The body must be a JSON object of client metadata');
    const m = metadata as Record<string, unknown>;
    const uris = m.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > MAX_REDIRECT_URIS) {
      return { status: 400, error: 'invalid_redirect_uri', description: `redirect_uris must list 1 to ${MAX_REDIRECT_URIS} URIs` };
    }
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem) return { status: 400, error: 'invalid_redirect_uri', description: problem };
    }
    const method = m.token_endpoint_auth_method ?? 'none';
    if (method !== 'none') return invalid('Only public clients can register: token_endpoint_auth_method must be "none" (use PKCE)');
    const grants = m.grant_types ?? ['authorization_code', 'refresh_token'];
    if (!Array.isArray(grants) || !grants.every((g) => g === 'authorization_code' || g === 'refresh_token')) {
      return invalid('grant_types may only include authorization_code and refresh_token');
    }
    const responses = m.response_types ?? ['code'];
    if (!Array.isArray(responses) || !responses.every((r) => r === 'code')) return invalid('response_types may only include code');
    const name = m.client_name ?? 'OAuth client';
    if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) {
      return invalid(`client_name must be text of at most ${MAX_NAME_LENGTH} characters`);
    }
    const scope = m.scope ?? null;
    if (scope !== null && (typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH)) return invalid(`scope must be a string of at most ${MAX_SCOPE_LENGTH} characters`);

    await this.pruneUnused();
    const count = await this.em.count(OAuthClient, {});
    if (count >= this.limits.maxClients) {
      return { status: 503, error: 'temporarily_unavailable', description: 'The registry holds as many registered clients as it is configured to; try again later' };
    }
    const client = this.em.create(OAuthClient, {
      clientId: `mcp_${randomBytes(18).toString('base64url')}`,
      clientName: name.trim() || 'OAuth client',
      redirectUris: uris as string[],
      scope,
      registeredFrom: sourceIp.slice(0, 64),
    });
    await this.em.flush();
    return { client };
  }

  /** Records that the client obtained a code (it is in use, so it does not expire). */
  async used(client: OAuthClient): Promise<void> {
    await this.em.nativeUpdate(OAuthClient, { id: client.id }, { lastUsedAt: new Date() });
  }

  /** Deletes clients that have not obtained a code within the configured time. */
  async pruneUnused(): Promise<number> {
    const before = new Date(Date.now() - this.limits.unusedClientTtlSeconds * 1000);
    return this.em.nativeDelete(OAuthClient, {
      $or: [{ lastUsedAt: null, createdAt: { $lt: before } }, { lastUsedAt: { $lt: before } }],
    });
  }

  private expired(client: OAuthClient): boolean {
    const last = client.lastUsedAt ?? client.createdAt;
    return last.getTime() < Date.now() - this.limits.unusedClientTtlSeconds * 1000;
  }
}
