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

/** What a person should read for an error: plain words first, the code for reference. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return `Your session has ended (the token expired or was revoked). Sign in again. (${error.message})`;
    case 'FORBIDDEN':
      return `Access denied: ${error.message}`;
    case 'RATE_LIMITED':
    case 'QUOTA_EXCEEDED':
      return `Rate limited: ${error.message}`;
    case 'invalid_client':
      return 'Sign-in failed: unknown client id or wrong secret.';
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

/** An access token for client credentials, from `POST /oauth/token`. */
export async function signIn(clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch('/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString(),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!response.ok || !body.access_token) {
    throw new ApiError(body.error_description ?? `Sign-in failed (${response.status})`, body.error ?? `HTTP_${response.status}`);
  }
  return body.access_token;
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
