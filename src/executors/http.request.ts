import { createHash } from 'node:crypto';
import { SecretScrubber } from '../common/secret-scrubber.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { boundedFetch, type BoundedResponse, EgressDeniedError } from '../security/egress.js';
import type { ExecutionRequest } from './executor.types.js';

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
/** A UTCP `auth` object as the HTTP-based executors apply it. */
export type HttpAuth = HttpAuthApiKey | HttpAuthBasic | HttpAuthOAuth2;

/** The request-shaping fields the HTTP-based call templates (http, sse, streamable_http, graphql, websocket) share. */
export interface RequestTemplate {
  url: string;
  contentType: string;
  headers: Record<string, string>;
  bodyField: string | null;
  headerFields: string[];
  auth: HttpAuth | null;
}

/** A request ready to send: the URL with path and query parameters, the headers with auth applied, the encoded body. */
export interface PreparedRequest {
  url: URL;
  headers: Headers;
  body: string | undefined;
  /** Credentials the request carries, for {@link redact}. */
  secrets: string[];
  /** The OAuth 2 token cache entry used, to drop it when the upstream answers 401. */
  oauthKey: string | undefined;
}

/** Builds the error for an unusable call template; the message names the field, never its value. */
export type TemplateProblem = (what: string) => RegistryError;

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

/** Drops one cached OAuth 2 token (the upstream refused it). */
export function dropOAuthToken(key: string | undefined): void {
  if (key !== undefined) tokenCache.delete(key);
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/**
 * An EXECUTION_FAILED factory for problems with the `type` call template of the request's tool;
 * `details` go into the extensions (the new executors add `reason: invalid_template`).
 */
export function templateProblem(request: ExecutionRequest, type: string, details: Record<string, unknown> = {}): TemplateProblem {
  return (what) => new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" has an invalid ${type} call template: ${what}`, details);
}

/**
 * Reads the shared request fields of a call template whose `call_template_type` must be `type`.
 * `bodyField` is the default when `body_field` is left out (null: no body argument).
 */
export function readRequestTemplate(
  request: ExecutionRequest,
  type: string,
  defaults: { bodyField: string | null; contentType: string },
  invalid: TemplateProblem,
): RequestTemplate {
  const t = request.callTemplate;
  if (t.call_template_type !== type) throw invalid(`call_template_type is "${t.call_template_type}"`);
  if (typeof t.url !== 'string' || t.url === '') throw invalid('url is missing');
  return {
    url: t.url,
    contentType: typeof t.content_type === 'string' && t.content_type !== '' ? t.content_type : defaults.contentType,
    headers: stringHeaders(t.headers),
    // Left out means the type's default; null means no body argument.
    bodyField: t.body_field === undefined ? defaults.bodyField : typeof t.body_field === 'string' ? t.body_field : null,
    headerFields: Array.isArray(t.header_fields) ? t.header_fields.filter((f): f is string => typeof f === 'string') : [],
    auth: readAuth(t.auth, invalid),
  };
}

function stringHeaders(raw: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw != null && typeof raw === 'object') {
    for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value === 'string') headers[name] = value;
    }
  }
  return headers;
}

function readAuth(raw: unknown, invalid: TemplateProblem): HttpAuth | null {
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

// ---------------------------------------------------------------------------------------------
// Request building
// ---------------------------------------------------------------------------------------------

/**
 * Shapes a call as python-utcp's HTTP protocols do: `header_fields` arguments become headers, the
 * `body_field` argument the body (encoded per `content_type`), `{name}` URL placeholders are filled
 * with URL-encoded arguments, every other argument becomes a query parameter; template headers and
 * `auth` are applied. Throws BAD_USER_INPUT (missing path parameter, unsendable header, a body with
 * GET), EGRESS_DENIED (not a URL) and EXECUTION_FAILED (no OAuth 2 token).
 */
export async function prepareRequest(
  request: ExecutionRequest,
  template: RequestTemplate,
  method: string,
  remainingMs: () => number,
): Promise<PreparedRequest> {
  const args: Record<string, unknown> = { ...request.arguments };
  const headers = templateHeaders(template, args, request.toolName);

  let body: unknown;
  if (template.bodyField !== null && template.bodyField in args) {
    body = args[template.bodyField];
    delete args[template.bodyField];
  }

  const url = buildUrl(template.url, args, request.toolName);
  for (const [name, value] of Object.entries(args)) appendParam(url.searchParams, name, value);

  const secrets = secretValues(template);
  const oauthKey = await applyAuth(template.auth, { headers, url, secrets }, request, remainingMs);

  let encodedBody: string | undefined;
  if (body !== undefined) {
    if (!headers.has('content-type')) setHeader(headers, 'content-type', template.contentType, request.toolName);
    if (method === 'GET') {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${request.toolName}" is called with GET, which cannot carry the "${template.bodyField}" body`);
    }
    encodedBody = encodeBody(body, headers.get('content-type') ?? '');
  }
  return { url, headers, body: encodedBody, secrets, oauthKey };
}

/** The template's static headers plus the `header_fields` arguments, which are taken out of `args`. */
export function templateHeaders(template: Pick<RequestTemplate, 'headers' | 'headerFields'>, args: Record<string, unknown>, toolName: string): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(template.headers)) setHeader(headers, name, value, toolName);
  for (const field of template.headerFields) {
    if (!(field in args)) continue;
    const value = args[field];
    delete args[field];
    if (value === undefined || value === null) continue;
    setHeader(headers, field, scalarText(value), toolName);
  }
  return headers;
}

/**
 * Applies `auth` to a request: api_key as a header, query parameter or cookie; basic and oauth2
 * (client credentials, cached token) as the Authorization header. Fetched tokens are added to
 * `target.secrets`, and they and encoded Basic credentials to `request.secrets`. Returns the token cache key when an OAuth 2 token was used.
 */
export async function applyAuth(
  auth: HttpAuth | null,
  target: { headers: Headers; url: URL; secrets: string[] },
  request: ExecutionRequest,
  remainingMs: () => number,
): Promise<string | undefined> {
  if (!auth) return undefined;
  const { headers, url } = target;
  switch (auth.auth_type) {
    case 'api_key':
      if (auth.location === 'header') setHeader(headers, auth.var_name, auth.api_key, request.toolName, true);
      else if (auth.location === 'query') url.searchParams.set(auth.var_name, auth.api_key);
      else appendCookie(headers, auth.var_name, auth.api_key, request.toolName);
      return undefined;
    case 'basic': {
      const credentials = basicCredentials(auth.username, auth.password);
      request.secrets?.push(credentials.slice('Basic '.length));
      setHeader(headers, 'authorization', credentials, request.toolName, true);
      return undefined;
    }
    case 'oauth2': {
      const key = tokenCacheKey(auth);
      const token = await oauthToken(auth, key, request, remainingMs);
      target.secrets.push(token);
      request.secrets?.push(token);
      setHeader(headers, 'authorization', `Bearer ${token}`, request.toolName, true);
      return key;
    }
    default:
      return auth satisfies never;
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
  return parseUrl(url);
}

/** Parses a template URL; an invalid one is EGRESS_DENIED without echoing it (it may hold credentials). */
export function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new EgressDeniedError(undefined, 'not a valid URL');
  }
}

/** Python's `quote(s, safe="")`: encodeURIComponent plus `!'()*`. */
function encodePathValue(value: unknown): string {
  return encodeURIComponent(scalarText(value)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Text of a scalar argument (`true`, `3`); objects and arrays as JSON. */
export function scalarText(value: unknown): string {
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
// Responses and failures
// ---------------------------------------------------------------------------------------------

/** JSON when the text parses as JSON; otherwise the text. */
export function parseResult(response: BoundedResponse): unknown {
  return jsonOrText(decodeText(response));
}

/** `text` parsed as JSON, or `text` itself when it is blank or not JSON. */
export function jsonOrText(text: string): unknown {
  if (text.trim() === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The body decoded with the charset of its content type (UTF-8 by default). */
export function decodeText(response: Pick<BoundedResponse, 'headers' | 'body'>): string {
  try {
    return new TextDecoder(charsetOf(response.headers) ?? 'utf-8').decode(response.body);
  } catch {
    return response.body.toString('utf8');
  }
}

/** The `charset` parameter of a response's content type, if any. */
export function charsetOf(headers: Headers): string | undefined {
  return /charset\s*=\s*"?([^";\s]+)/i.exec(headers.get('content-type') ?? '')?.[1];
}

/** The lower-case media type of a response, without parameters (`text/event-stream`). */
export function mediaType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * EXECUTION_FAILED naming the status and host (never the path or query) with a redacted body excerpt;
 * `details` are added to the extensions.
 */
export function upstreamFailure(
  toolName: string,
  url: URL,
  response: Pick<BoundedResponse, 'status' | 'headers' | 'body'>,
  secrets: string[],
  details: Record<string, unknown> = {},
): RegistryError {
  const host = hostOf(url.href);
  const excerpt = safeExcerpt(decodeText(response), secrets);
  return new RegistryError(
    ErrorCode.EXECUTION_FAILED,
    `Tool "${toolName}" failed: "${host}" answered HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`,
    { status: response.status, host, ...details },
  );
}

/** Upstream text fit for a message: secrets redacted, whitespace collapsed, at most `max` characters. */
export function safeExcerpt(text: string, secrets: string[], max = MAX_ERROR_BODY): string {
  const excerpt = redact(text, secrets).replace(/\s+/g, ' ').trim();
  return excerpt.length > max ? `${excerpt.slice(0, max)}…` : excerpt;
}

/**
 * The RegistryError a call ends with: coded errors pass through, a cancelled call is
 * UPSTREAM_UNAVAILABLE (`cancelled: true`), anything else a generic UPSTREAM_UNAVAILABLE (its text
 * is not trusted to be free of secrets).
 */
export function callFailure(error: unknown, request: ExecutionRequest): RegistryError {
  if (error instanceof RegistryError) return error;
  if (request.signal?.aborted) {
    return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" was cancelled`, { cancelled: true });
  }
  return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" failed`);
}

/** Credentials the template carries, in every form an echoing upstream might return them. */
export function secretValues(template: Pick<RequestTemplate, 'headers' | 'auth'>): string[] {
  const values: string[] = Object.values(template.headers);
  const { auth } = template;
  if (auth?.auth_type === 'api_key') values.push(auth.api_key);
  if (auth?.auth_type === 'basic') values.push(auth.password, basicCredentials(auth.username, auth.password).slice('Basic '.length));
  if (auth?.auth_type === 'oauth2') values.push(auth.client_secret);
  return values;
}

/** `text` with every secret, in every form {@link SecretScrubber} knows, replaced by `[redacted]`. */
export function redact(text: string, secrets: string[]): string {
  return new SecretScrubber(secrets, '[redacted]').text(text);
}

/** The host name of a URL for messages (never the path or query), or `upstream`. */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return 'upstream';
  }
}
