import { createHash } from 'node:crypto';
import { ErrorCode, RegistryError } from '../errors.js';
import { boundedFetch, type BoundedResponse, EgressDeniedError } from '../security/egress.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';

/** Longest excerpt of an upstream error body put into an error message. */
const MAX_ERROR_BODY = 500;
/** A cached OAuth 2 token is refreshed this long before it expires (at most half its lifetime). */
const TOKEN_REFRESH_MARGIN_MS = 30_000;
/** Lifetime assumed when a token response carries no usable `expires_in`. */
const DEFAULT_TOKEN_LIFETIME_S = 300;
/** Tokens kept in memory; the oldest is dropped past this. */
const MAX_CACHED_TOKENS = 1000;
const PLACEHOLDER = /\{([^{}]+)\}/g;

interface HttpAuthApiKey {
  auth_type: 'api_key';
  api_key: string;
  var_name: string;
  location: 'header' | 'query' | 'cookie';
}
interface HttpAuthBasic {
  auth_type: 'basic';
  username: string;
  password: string;
}
interface HttpAuthOAuth2 {
  auth_type: 'oauth2';
  token_url: string;
  client_id: string;
  client_secret: string;
  scope: string | null;
}
type HttpAuth = HttpAuthApiKey | HttpAuthBasic | HttpAuthOAuth2;

interface HttpTemplate {
  url: string;
  method: string;
  contentType: string;
  headers: Record<string, string>;
  bodyField: string | null;
  headerFields: string[];
  auth: HttpAuth | null;
}

interface CachedToken {
  accessToken: string;
  refreshAt: number;
}

/** OAuth 2 client-credentials tokens by (token_url, client_id, scope, secret digest); in flight or fetched. */
const tokenCache = new Map<string, Promise<CachedToken>>();

/** Drops every cached OAuth 2 token (for tests, and after rotating credentials). */
export function clearOAuthTokenCache(): void {
  tokenCache.clear();
}

/**
 * Calls a UTCP `http` tool as python-utcp's HttpCommunicationProtocol.call_tool does: `header_fields`
 * arguments become headers, the `body_field` argument the body (encoded per `content_type`), `{name}`
 * URL placeholders are filled with URL-encoded arguments, every other argument becomes a query
 * parameter; template headers and `auth` (api_key, basic, oauth2 client credentials with a cached
 * token) are applied. Every request goes through boundedFetch. Throws coded RegistryErrors:
 * EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE (also when cancelled
 * through `request.signal`), BAD_USER_INPUT (missing path parameter, unsendable header or body), and
 * EXECUTION_FAILED (non-2xx, or no OAuth 2 token); messages hold neither secrets, header values nor
 * query strings.
 */
export const executeHttp: Executor = async (request: ExecutionRequest): Promise<ExecutionOutcome> => {
  const template = readTemplate(request);
  const started = Date.now();
  const remainingMs = () => Math.max(1, request.timeoutMs - (Date.now() - started));
  const secrets = secretValues(template);

  try {
    if (request.signal?.aborted) throw request.signal.reason;
    const args: Record<string, unknown> = { ...request.arguments };
    const headers = new Headers();
    for (const [name, value] of Object.entries(template.headers)) setHeader(headers, name, value, request.toolName);

    for (const field of template.headerFields) {
      if (!(field in args)) continue;
      const value = args[field];
      delete args[field];
      if (value === undefined || value === null) continue;
      setHeader(headers, field, scalarText(value), request.toolName);
    }

    let body: unknown;
    if (template.bodyField !== null && template.bodyField in args) {
      body = args[template.bodyField];
      delete args[template.bodyField];
    }

    const url = buildUrl(template.url, args, request.toolName);
    for (const [name, value] of Object.entries(args)) appendParam(url.searchParams, name, value);

    let oauthKey: string | undefined;
    const { auth } = template;
    if (auth) {
      switch (auth.auth_type) {
        case 'api_key':
          if (auth.location === 'header') setHeader(headers, auth.var_name, auth.api_key, request.toolName, true);
          else if (auth.location === 'query') url.searchParams.set(auth.var_name, auth.api_key);
          else appendCookie(headers, auth.var_name, auth.api_key, request.toolName);
          break;
        case 'basic':
          setHeader(headers, 'authorization', basicCredentials(auth.username, auth.password), request.toolName, true);
          break;
        case 'oauth2': {
          oauthKey = tokenCacheKey(auth);
          const token = await oauthToken(auth, oauthKey, request, remainingMs);
          secrets.push(token);
          setHeader(headers, 'authorization', `Bearer ${token}`, request.toolName, true);
          break;
        }
        default:
          auth satisfies never;
      }
    }

    let encodedBody: string | undefined;
    if (body !== undefined) {
      if (!headers.has('content-type')) setHeader(headers, 'content-type', template.contentType, request.toolName);
      if (template.method === 'GET') {
        throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${request.toolName}" is called with GET, which cannot carry the "${template.bodyField}" body`);
      }
      encodedBody = encodeBody(body, headers.get('content-type') ?? '');
    }

    const response = await boundedFetch(url.href, {
      method: template.method,
      headers,
      ...(encodedBody !== undefined ? { body: encodedBody } : {}),
      timeoutMs: remainingMs(),
      maxBytes: request.maxBytes,
      policy: request.egress,
      ...(request.signal ? { signal: request.signal } : {}),
    });

    if (response.status < 200 || response.status > 299) {
      if (response.status === 401 && oauthKey !== undefined) tokenCache.delete(oauthKey);
      throw upstreamFailure(request.toolName, url, response, secrets);
    }
    return { result: parseResult(response), bytes: response.body.length };
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    if (request.signal?.aborted) {
      throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" was cancelled`, { cancelled: true });
    }
    // Nothing above should throw anything else; its text is not trusted to be free of secrets.
    throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" failed`);
  }
};

// ---------------------------------------------------------------------------------------------
// Request building
// ---------------------------------------------------------------------------------------------

function readTemplate(request: ExecutionRequest): HttpTemplate {
  const t = request.callTemplate;
  const invalid = (what: string) =>
    new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" has an invalid http call template: ${what}`);
  if (t.call_template_type !== 'http') throw invalid(`call_template_type is "${t.call_template_type}"`);
  if (typeof t.url !== 'string' || t.url === '') throw invalid('url is missing');
  const method = typeof t.http_method === 'string' ? t.http_method.toUpperCase() : 'GET';
  if (!['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) throw invalid('http_method is not supported');
  const headers: Record<string, string> = {};
  if (t.headers != null && typeof t.headers === 'object') {
    for (const [name, value] of Object.entries(t.headers as Record<string, unknown>)) {
      if (typeof value === 'string') headers[name] = value;
    }
  }
  return {
    url: t.url,
    method,
    contentType: typeof t.content_type === 'string' && t.content_type !== '' ? t.content_type : 'application/json',
    headers,
    // Left out means the UTCP default "body"; null means no body argument.
    bodyField: t.body_field === undefined ? 'body' : typeof t.body_field === 'string' ? t.body_field : null,
    headerFields: Array.isArray(t.header_fields) ? t.header_fields.filter((f): f is string => typeof f === 'string') : [],
    auth: readAuth(t.auth, invalid),
  };
}

function readAuth(raw: unknown, invalid: (what: string) => RegistryError): HttpAuth | null {
  if (raw == null || typeof raw !== 'object') return null;
  const a = raw as Record<string, unknown>;
  const str = (key: string): string => {
    const value = a[key];
    if (typeof value !== 'string' || value === '') throw invalid(`auth.${key} is missing`);
    return value;
  };
  switch (a.auth_type) {
    case 'api_key': {
      const location = a.location ?? 'header';
      if (location !== 'header' && location !== 'query' && location !== 'cookie') throw invalid('auth.location is not header, query or cookie');
      return { auth_type: 'api_key', api_key: str('api_key'), var_name: typeof a.var_name === 'string' && a.var_name ? a.var_name : 'X-Api-Key', location };
    }
    case 'basic':
      return { auth_type: 'basic', username: str('username'), password: str('password') };
    case 'oauth2':
      return {
        auth_type: 'oauth2',
        token_url: str('token_url'),
        client_id: str('client_id'),
        client_secret: str('client_secret'),
        scope: typeof a.scope === 'string' && a.scope !== '' ? a.scope : null,
      };
    default:
      throw invalid('auth.auth_type is not supported');
  }
}

/**
 * Fills `{name}` placeholders with the URL-encoded argument (every occurrence) and removes the
 * argument, as python-utcp's `_build_url_with_path_params` (`quote(str(v), safe="")`).
 */
function buildUrl(template: string, args: Record<string, unknown>, toolName: string): URL {
  const names = new Set([...template.matchAll(PLACEHOLDER)].map((match) => match[1]!));
  let url = template;
  for (const name of names) {
    if (!(name in args) || args[name] === undefined || args[name] === null) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${toolName}" needs the path parameter "${name}"`);
    }
    url = url.split(`{${name}}`).join(encodePathValue(args[name]));
    delete args[name];
  }
  try {
    return new URL(url);
  } catch {
    // The URL may hold credentials, so it is not echoed.
    throw new EgressDeniedError(undefined, 'not a valid URL');
  }
}

/** Python's `quote(s, safe="")`: encodeURIComponent plus `!'()*`. */
function encodePathValue(value: unknown): string {
  return encodeURIComponent(scalarText(value)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Text of a scalar argument (`true`, `3`); objects and arrays as JSON. */
function scalarText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** A query or form parameter: arrays repeat the key, objects are JSON, null and undefined are left out. */
function appendParam(params: URLSearchParams, name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) if (item !== undefined && item !== null) params.append(name, scalarText(item));
    return;
  }
  params.append(name, scalarText(value));
}

function setHeader(headers: Headers, name: string, value: string, toolName: string, secret = false): void {
  try {
    headers.set(name, value);
  } catch {
    const what = secret ? 'credential' : 'value';
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${toolName}": header "${name}" has an invalid ${what}`);
  }
}

function appendCookie(headers: Headers, name: string, value: string, toolName: string): void {
  const existing = headers.get('cookie');
  setHeader(headers, 'cookie', existing ? `${existing}; ${name}=${value}` : `${name}=${value}`, toolName, true);
}

function basicCredentials(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** JSON for a JSON content type; form encoding for form-urlencoded; otherwise strings as they are. */
function encodeBody(body: unknown, contentType: string): string {
  const type = contentType.toLowerCase();
  if (/[/+]json\b/.test(type)) return JSON.stringify(body) ?? 'null';
  if (type.includes('application/x-www-form-urlencoded') && typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) appendParam(form, name, value);
    return form.toString();
  }
  return typeof body === 'string' ? body : scalarText(body);
}

// ---------------------------------------------------------------------------------------------
// OAuth 2 client credentials
// ---------------------------------------------------------------------------------------------

/** The secret is part of the key (as a digest), so a wrong secret never reuses someone else's token. */
function tokenCacheKey(auth: HttpAuthOAuth2): string {
  const secretDigest = createHash('sha256').update(auth.client_secret).digest('base64url');
  return JSON.stringify([auth.token_url, auth.client_id, auth.scope, secretDigest]);
}

async function oauthToken(auth: HttpAuthOAuth2, key: string, request: ExecutionRequest, remainingMs: () => number): Promise<string> {
  const cached = tokenCache.get(key);
  if (cached) {
    const token = await cached.catch(() => undefined);
    if (token && token.refreshAt > Date.now()) return token.accessToken;
    if (tokenCache.get(key) === cached) tokenCache.delete(key);
  }
  const pending = fetchToken(auth, request, remainingMs);
  tokenCache.set(key, pending);
  while (tokenCache.size > MAX_CACHED_TOKENS) tokenCache.delete(tokenCache.keys().next().value!);
  try {
    return (await pending).accessToken;
  } catch (error) {
    if (tokenCache.get(key) === pending) tokenCache.delete(key);
    throw error;
  }
}

/** python-utcp `_handle_oauth2`: credentials in the form body first, then as HTTP Basic. */
async function fetchToken(auth: HttpAuthOAuth2, request: ExecutionRequest, remainingMs: () => number): Promise<CachedToken> {
  const host = hostOf(auth.token_url);
  const attempts: Array<{ body: Record<string, string>; authorization?: string }> = [
    { body: { grant_type: 'client_credentials', client_id: auth.client_id, client_secret: auth.client_secret } },
    { body: { grant_type: 'client_credentials' }, authorization: basicCredentials(auth.client_id, auth.client_secret) },
  ];
  let lastStatus: number | undefined;
  for (const attempt of attempts) {
    const form = new URLSearchParams(attempt.body);
    if (auth.scope !== null) form.set('scope', auth.scope);
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' });
    if (attempt.authorization) headers.set('authorization', attempt.authorization);
    const response = await boundedFetch(auth.token_url, {
      method: 'POST',
      headers,
      body: form.toString(),
      // A token endpoint has no business redirecting a request that carries the client secret.
      redirect: 'error',
      timeoutMs: remainingMs(),
      maxBytes: request.maxBytes,
      policy: request.egress,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    lastStatus = response.status;
    if (response.status < 200 || response.status > 299) continue;
    const token = readTokenResponse(response);
    if (token) return token;
  }
  const why = lastStatus !== undefined && (lastStatus < 200 || lastStatus > 299) ? `HTTP ${lastStatus}` : 'no access_token in the response';
  throw new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}": OAuth2 token request to "${host}" failed (${why})`, {
    host,
    ...(lastStatus !== undefined ? { status: lastStatus } : {}),
  });
}

function readTokenResponse(response: BoundedResponse): CachedToken | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { access_token: accessToken, expires_in: expiresIn } = parsed as Record<string, unknown>;
  if (typeof accessToken !== 'string' || accessToken === '') return undefined;
  const seconds = Number(expiresIn);
  const lifetimeMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_TOKEN_LIFETIME_S) * 1000;
  return { accessToken, refreshAt: Date.now() + lifetimeMs - Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2) };
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/** JSON when the content type says so or the body parses as JSON; otherwise the text. */
function parseResult(response: BoundedResponse): unknown {
  const text = decodeText(response);
  if (text.trim() === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function decodeText(response: BoundedResponse): string {
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(response.headers.get('content-type') ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(response.body);
  } catch {
    return response.body.toString('utf8');
  }
}

/** EXECUTION_FAILED naming the status and host (never the path or query) with a redacted body excerpt. */
function upstreamFailure(toolName: string, url: URL, response: BoundedResponse, secrets: string[]): RegistryError {
  const host = hostOf(url.href);
  let excerpt = redact(decodeText(response), secrets).replace(/\s+/g, ' ').trim();
  if (excerpt.length > MAX_ERROR_BODY) excerpt = `${excerpt.slice(0, MAX_ERROR_BODY)}…`;
  return new RegistryError(
    ErrorCode.EXECUTION_FAILED,
    `Tool "${toolName}" failed: "${host}" answered HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`,
    { status: response.status, host },
  );
}

/** Credentials the template carries, in every form an echoing upstream might return them. */
function secretValues(template: HttpTemplate): string[] {
  const values: string[] = Object.values(template.headers);
  const { auth } = template;
  if (auth?.auth_type === 'api_key') values.push(auth.api_key);
  if (auth?.auth_type === 'basic') values.push(auth.password, basicCredentials(auth.username, auth.password).slice('Basic '.length));
  if (auth?.auth_type === 'oauth2') values.push(auth.client_secret);
  return values;
}

function redact(text: string, secrets: string[]): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(new URLSearchParams({ s: secret }).toString().slice(2));
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  let result = text;
  // Longest first, so a secret containing another is removed whole.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) if (form) result = result.split(form).join('[redacted]');
  return result;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return 'upstream';
  }
}
