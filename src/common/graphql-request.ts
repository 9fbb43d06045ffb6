import { createHash } from 'node:crypto';

/** A GraphQL request as sent in a JSON body. */
export interface GraphQLRequestBody {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** Whether `body` (a parsed JSON body) is one GraphQL request: a query string and well-typed extras. */
export function isGraphQLRequestBody(body: unknown): body is GraphQLRequestBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return false;
  const { query, operationName, variables } = body as Record<string, unknown>;
  return (
    typeof query === 'string' &&
    (operationName === undefined || operationName === null || typeof operationName === 'string') &&
    (variables === undefined || variables === null || (typeof variables === 'object' && !Array.isArray(variables)))
  );
}

/** A digest of `text`, for cache keys. */
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** The request's identity: the document, the operation and the variables, exactly as sent. */
export function requestKey(body: GraphQLRequestBody): string {
  return sha256(`${body.query}\u0000${body.operationName ?? ''}\u0000${JSON.stringify(body.variables ?? {})}`);
}
