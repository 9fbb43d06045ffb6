import { createClient, type Client } from 'graphql-ws';

/** A failed call: the registry's `extensions.code` (or an HTTP/OAuth error) and its message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

/** The caller's hourly query budget, from the `x-ratelimit-*` headers of the latest answer. */
export interface Budget {
  limit: number;
  remaining: number;
  used: number;
  resetAt: Date;
}

let budget: Budget | null = null;
const budgetListeners = new Set<(budget: Budget) => void>();

/** The budget as the latest answer reported it, or null before any authenticated answer. */
export function latestBudget(): Budget | null {
  return budget;
}

/** Calls `listener` whenever an answer reports the budget; returns the unsubscribe function. */
export function onBudget(listener: (budget: Budget) => void): () => void {
  budgetListeners.add(listener);
  return () => budgetListeners.delete(listener);
}

function readBudget(headers: Headers): void {
  const limit = Number(headers.get('x-ratelimit-limit'));
  const remaining = Number(headers.get('x-ratelimit-remaining'));
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (!headers.has('x-ratelimit-limit') || !Number.isFinite(limit) || !Number.isFinite(remaining) || !Number.isFinite(reset)) return;
  budget = { limit, remaining, used: Number(headers.get('x-ratelimit-used') ?? limit - remaining), resetAt: new Date(reset * 1000) };
  for (const listener of budgetListeners) listener(budget);
}

/** "14:05 (in 12 min)": a reset time in the reader's clock, and how long until then. */
export function describeReset(resetAt: Date, now = new Date()): string {
  const time = resetAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const seconds = Math.max(0, Math.round((resetAt.getTime() - now.getTime()) / 1000));
  const wait = seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
  return `${time} (in ${wait})`;
}

/** When the budget of a RATE_LIMITED refusal refills: its `resetAt`, else the latest headers'. */
function budgetReset(error: ApiError): Date | null {
  const details = error.details as { resetAt?: unknown } | undefined;
  const resetAt = typeof details?.resetAt === 'string' ? new Date(details.resetAt) : null;
  if (resetAt && !Number.isNaN(resetAt.getTime())) return resetAt;
  return budget && budget.remaining <= 0 ? budget.resetAt : null;
}

/** What a person should read for an error: plain words first, the code for reference. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return `Your session has ended (the token expired or was revoked). Sign in again. (${error.message})`;
    case 'FORBIDDEN':
      return `Access denied: ${error.message}`;
    case 'RATE_LIMITED': {
      const resetAt = budgetReset(error);
      if (resetAt) return `Budget spent; resets at ${describeReset(resetAt)}.`;
      return `Rate limited: ${error.message}`;
    }
    case 'QUOTA_EXCEEDED':
      return `Rate limited: ${error.message}`;
    case 'invalid_client':
      return 'Sign-in failed: unknown client id or wrong secret.';
    case 'slow_down':
      return `Too many sign-in attempts: ${error.message}`;
    case 'csrf_refused':
      return `The registry refused the request: ${error.message}`;
    default:
      return `${error.message} (${error.code})`;
  }
}

/** POSTs a GraphQL operation to this origin with the bearer token; throws {@link ApiError} on any error. */
export async function graphql<TData, TVariables>(document: string, variables: TVariables, token: string): Promise<TData> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: document, variables }),
    });
  } catch {
    throw new ApiError('The registry cannot be reached.', 'NETWORK_ERROR');
  }
  readBudget(response.headers);
  let body: { data?: TData | null; errors?: GraphQLErrorShape[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError(`The registry answered ${response.status} without a GraphQL response.`, `HTTP_${response.status}`);
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code ?? `HTTP_${response.status}`, first.extensions);
  if (!body.data) throw new ApiError('The registry answered without data.', `HTTP_${response.status}`);
  return body.data;
}

/** A short-lived access token from the registry's console session endpoints. */
export interface SessionToken {
  token: string;
  /** When it expires, by this browser's clock. */
  expiresAt: Date;
  /** The token's scopes, and whose session it is (the registry says so with the token). */
  scopes: string[];
  principal: { name: string; roles: string[] };
}

/** The path of the console's session endpoints, where its HttpOnly refresh cookie is scoped. */
const SESSION_PATH = '/console/session';

async function sessionRequest(path: string, body?: unknown): Promise<SessionToken | null> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      // The registry refuses session requests without this header (a cross-site page cannot send it).
      headers: { 'x-registry-console': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError('The registry cannot be reached.', 'NETWORK_ERROR');
  }
  // No session cookie: nothing to refresh.
  if (response.status === 204) return null;
  const answer = (await response.json().catch(() => ({}))) as {
    access_token?: string;
    expires_in?: number;
    scope?: string;
    principal?: { name: string; roles: string[] };
    error?: string;
    error_description?: string;
  };
  if (!response.ok || !answer.access_token || !answer.principal) {
    throw new ApiError(answer.error_description ?? `Sign-in failed (${response.status})`, answer.error ?? `HTTP_${response.status}`);
  }
  return {
    token: answer.access_token,
    expiresAt: new Date(Date.now() + (answer.expires_in ?? 300) * 1000),
    scopes: (answer.scope ?? '').split(' ').filter(Boolean),
    principal: answer.principal,
  };
}

/**
 * Signs in with client credentials: the registry answers a short-lived access token and keeps the
 * refresh token in an HttpOnly cookie this page cannot read.
 */
export async function signIn(clientId: string, clientSecret: string): Promise<SessionToken> {
  const started = await sessionRequest(SESSION_PATH, { clientId, clientSecret });
  if (!started) throw new ApiError('The registry answered without a session.', 'HTTP_204');
  return started;
}

/**
 * A new access token for the session in the refresh cookie (which the registry rotates), or null
 * when there is no session. Tabs take
 * turns (Web Locks, where the browser has them): the rotated cookie of one is what the next sends,
 * so two tabs never present the same refresh token, which would end the session.
 */
export function refreshSession(): Promise<SessionToken | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  const refresh = () => sessionRequest(`${SESSION_PATH}/refresh`);
  return locks ? (locks.request('registry-console-session', refresh) as unknown as Promise<SessionToken | null>) : refresh();
}

/** Ends the session: the registry revokes its tokens and clears the cookie. Never throws. */
export async function signOut(): Promise<void> {
  await fetch(`${SESSION_PATH}/sign-out`, { method: 'POST', credentials: 'same-origin', headers: { 'x-registry-console': '1' } }).catch(() => undefined);
}

/** A graphql-ws client on this origin's `/graphql`, authenticated in `connection_init`. */
export function subscriptionClient(token: string): Client {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  return createClient({ url, connectionParams: { authorization: `Bearer ${token}` }, lazy: true, retryAttempts: 0 });
}

/** Maps a graphql-ws error (GraphQL errors or a close event) to an {@link ApiError}. */
export function subscriptionError(error: unknown): ApiError {
  if (Array.isArray(error) && error[0]) {
    const first = error[0] as GraphQLErrorShape;
    return new ApiError(first.message, first.extensions?.code ?? 'SUBSCRIPTION_ERROR');
  }
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    const close = error as { code: number; reason: string };
    return new ApiError(close.reason || `The live connection closed (${close.code})`, close.code === 4403 ? 'FORBIDDEN' : close.code === 4401 ? 'UNAUTHENTICATED' : 'SUBSCRIPTION_ERROR');
  }
  return new ApiError(error instanceof Error ? error.message : 'The live connection failed', 'SUBSCRIPTION_ERROR');
}
