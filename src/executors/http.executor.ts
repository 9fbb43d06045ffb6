import { boundedFetch } from '../security/egress.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import { callFailure, dropOAuthToken, parseResult, prepareRequest, readRequestTemplate, templateProblem, upstreamFailure } from './http.request.js';

export { clearOAuthTokenCache } from './http.request.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

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
  const invalid = templateProblem(request, 'http');
  const template = readRequestTemplate(request, 'http', { bodyField: 'body', contentType: 'application/json' }, invalid);
  const method = typeof request.callTemplate.http_method === 'string' ? request.callTemplate.http_method.toUpperCase() : 'GET';
  if (!METHODS.includes(method)) throw invalid('http_method is not supported');
  const started = Date.now();
  const remainingMs = () => Math.max(1, request.timeoutMs - (Date.now() - started));

  try {
    if (request.signal?.aborted) throw request.signal.reason;
    const prepared = await prepareRequest(request, template, method, remainingMs);
    const response = await boundedFetch(prepared.url.href, {
      method,
      headers: prepared.headers,
      ...(prepared.body !== undefined ? { body: prepared.body } : {}),
      timeoutMs: remainingMs(),
      maxBytes: request.maxBytes,
      policy: request.egress,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.signer ? { sign: request.signer } : {}),
    });
    if (response.status < 200 || response.status > 299) {
      if (response.status === 401) dropOAuthToken(prepared.oauthKey);
      throw upstreamFailure(request.toolName, prepared.url, response, prepared.secrets);
    }
    return { result: parseResult(response), bytes: response.body.length };
  } catch (error) {
    throw callFailure(error, request);
  }
};
