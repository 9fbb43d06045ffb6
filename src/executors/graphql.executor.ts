import { createHash } from 'node:crypto';
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type IntrospectionQuery,
  isInterfaceType,
  isLeafType,
  isNonNullType,
  isObjectType,
  isUnionType,
  parse,
} from 'graphql';
import { ErrorCode, RegistryError } from '../errors.js';
import { boundedFetch, type BoundedResponse } from '../security/egress.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';
import {
  applyAuth,
  callFailure,
  decodeText,
  dropOAuthToken,
  hostOf,
  parseUrl,
  type RequestTemplate,
  readRequestTemplate,
  safeExcerpt,
  secretValues,
  templateHeaders,
  templateProblem,
  upstreamFailure,
} from './http.request.js';

type Operation = 'query' | 'mutation';
type Composite = GraphQLObjectType | GraphQLInterfaceType;

/** Introspected schemas kept; the oldest is dropped past this. */
const MAX_CACHED_SCHEMAS = 100;
/** How long an introspected schema is trusted before it is fetched again. */
const SCHEMA_TTL_MS = 10 * 60_000;
/** Longest GraphQL error message put into an error. */
const MAX_ERROR_TEXT = 200;
const INTROSPECTION = JSON.stringify({ query: getIntrospectionQuery({ descriptions: false }), operationName: 'IntrospectionQuery' });

/** Introspected schemas by endpoint and credentials (a digest), with their expiry. */
const schemaCache = new Map<string, { schema: GraphQLSchema; expiresAt: number }>();

/** Drops every cached introspection result (for tests, and after a provider's schema changed). */
export function clearGraphqlSchemaCache(): void {
  schemaCache.clear();
}

/** What one call needs to talk to the endpoint. */
interface Endpoint {
  request: ExecutionRequest;
  url: URL;
  secrets: string[];
  oauthKey: string | undefined;
  post: (body: string) => Promise<BoundedResponse>;
}

/**
 * Calls a UTCP `graphql` tool. The template carries no query text, so the operation is built from the
 * endpoint's schema, introspected once per URL and credentials (cached for ten minutes, at most 100
 * schemas): the root field is `operation_name`, else the tool's own name (the part of `toolName`
 * after the last `.`; a `<field>_mutation` name, which discovery gives a mutation that shares its name
 * with a query, maps back to `<field>`). The arguments are the variables, each declared with the type
 * of the field argument of that name (`query($id: ID!) { book(id: $id) { … } }`); the selection is
 * every scalar and enum field of the return type without required arguments, plus those of its
 * object fields one level down (union members through inline fragments). `header_fields` arguments
 * are sent as headers instead of variables; template headers and `auth` (api_key in a header, the
 * query or a cookie; basic; oauth2 client credentials) are applied to the introspection and the call.
 * Both are POSTed as JSON through boundedFetch, redirects not followed. The result is `data[field]`.
 *
 * Differences from python-utcp's GraphQLCommunicationProtocol: there every variable is a `String`
 * unless `variable_types` says otherwise and no selection set is generated (so object-returning
 * fields fail), and the result is the whole `data` object; here types and selection come from the
 * schema and the result is the field's value. `subscription` operations are refused (EXECUTION_FAILED,
 * `reason: unsupported`): they need a WebSocket transport and yield a stream, not one result.
 *
 * Throws EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE (also when
 * cancelled through `request.signal`, `cancelled: true`), BAD_USER_INPUT (an argument the field does
 * not take), EXECUTION_FAILED with `reason`: `graphql_error` (the response's `errors`: the first
 * message, redacted and truncated), `http_status`, `invalid_json`, `protocol_error` (no `data`),
 * `introspection_failed`, `unknown_field`, `unsupported`, `invalid_template`. No message holds a
 * secret, header value or query string.
 */
export const executeGraphql: Executor = async (request: ExecutionRequest): Promise<ExecutionOutcome> => {
  const invalid = templateProblem(request, 'graphql', { reason: 'invalid_template' });
  const template = readRequestTemplate(request, 'graphql', { bodyField: null, contentType: 'application/json' }, invalid);
  const operation = readOperation(request, invalid);
  const { operation_name: operationName } = request.callTemplate;
  const fieldName = typeof operationName === 'string' && operationName !== '' ? operationName : request.toolName.slice(request.toolName.lastIndexOf('.') + 1);
  const started = Date.now();
  const remainingMs = () => Math.max(1, request.timeoutMs - (Date.now() - started));

  try {
    request.signal?.throwIfAborted();
    const variables: Record<string, unknown> = { ...request.arguments };
    const headers = templateHeaders(template, variables, request.toolName);
    headers.set('content-type', 'application/json');
    headers.set('accept', 'application/graphql-response+json, application/json');
    const url = parseUrl(template.url);
    const secrets = secretValues(template);
    const oauthKey = await applyAuth(template.auth, { headers, url, secrets }, request, remainingMs);
    const post = (body: string) =>
      boundedFetch(url.href, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        timeoutMs: remainingMs(),
        maxBytes: request.maxBytes,
        policy: request.egress,
        ...(request.signal ? { signal: request.signal } : {}),
        ...(request.signer ? { sign: request.signer } : {}),
      });
    const endpoint: Endpoint = { request, url, secrets, oauthKey, post };

    const schema = await schemaOf(endpoint, schemaCacheKey(template));
    const field = rootField(schema, operation, fieldName, endpoint);
    const sent = Object.fromEntries(Object.entries(variables).filter(([, value]) => value !== undefined));
    const document = operationDocument(operation, field, sent, request.toolName);
    // A schema with odd type names must not turn into a request the server reads differently.
    if (!parses(document)) throw failure(endpoint, 'introspection_failed', 'has a schema whose names do not form a valid operation');
    const response = await post(JSON.stringify({ query: document, variables: sent }));
    const data = readData(response, endpoint, 'http_status');
    return { result: data[field.name] ?? null, bytes: response.body.length };
  } catch (error) {
    throw callFailure(error, request);
  }
};

function readOperation(request: ExecutionRequest, invalid: (what: string) => RegistryError): Operation {
  const operation = request.callTemplate.operation_type ?? 'query';
  if (operation === 'query' || operation === 'mutation') return operation;
  if (operation === 'subscription') {
    throw new RegistryError(
      ErrorCode.EXECUTION_FAILED,
      `Tool "${request.toolName}" is a GraphQL subscription, which the registry does not execute (only query and mutation)`,
      { reason: 'unsupported' },
    );
  }
  throw invalid('operation_type is not query, mutation or subscription');
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

/** The endpoint and its credentials (as a digest: the key never holds a secret in the clear). */
function schemaCacheKey(template: RequestTemplate): string {
  return createHash('sha256').update(JSON.stringify([template.url, template.headers, template.auth])).digest('base64url');
}

async function schemaOf(endpoint: Endpoint, key: string): Promise<GraphQLSchema> {
  const cached = schemaCache.get(key);
  if (cached && cached.expiresAt > Date.now()) return cached.schema;
  schemaCache.delete(key);
  const data = readData(await endpoint.post(INTROSPECTION), endpoint, 'introspection_failed');
  let schema: GraphQLSchema;
  try {
    schema = buildClientSchema(data as unknown as IntrospectionQuery);
  } catch {
    throw failure(endpoint, 'introspection_failed', 'returned an unusable introspection result');
  }
  schemaCache.set(key, { schema, expiresAt: Date.now() + SCHEMA_TTL_MS });
  while (schemaCache.size > MAX_CACHED_SCHEMAS) schemaCache.delete(schemaCache.keys().next().value!);
  return schema;
}

function rootField(schema: GraphQLSchema, operation: Operation, name: string, endpoint: Endpoint): GraphQLField<unknown, unknown> {
  const fields = (operation === 'query' ? schema.getQueryType() : schema.getMutationType())?.getFields() ?? {};
  const suffix = `_${operation}`;
  const field = fields[name] ?? (name.endsWith(suffix) ? fields[name.slice(0, -suffix.length)] : undefined);
  if (field) return field;
  throw failure(endpoint, 'unknown_field', `has no ${operation} field "${name.slice(0, 100)}"`);
}

// ---------------------------------------------------------------------------------------------
// Operation
// ---------------------------------------------------------------------------------------------

/** `query($a: T!) { field(a: $a) { … } }`; every name in it comes from the schema. */
function operationDocument(operation: Operation, field: GraphQLField<unknown, unknown>, variables: Record<string, unknown>, toolName: string): string {
  const declared: string[] = [];
  const passed: string[] = [];
  for (const name of Object.keys(variables)) {
    const arg = field.args.find((candidate) => candidate.name === name);
    if (!arg) throw new RegistryError(ErrorCode.BAD_USER_INPUT, `Tool "${toolName}": the GraphQL field "${field.name}" takes no argument "${name.slice(0, 100)}"`);
    declared.push(`$${arg.name}: ${String(arg.type)}`);
    passed.push(`${arg.name}: $${arg.name}`);
  }
  const definitions = declared.length ? `(${declared.join(', ')})` : '';
  const args = passed.length ? `(${passed.join(', ')})` : '';
  return `${operation}${definitions} { ${field.name}${args} ${selectionOf(field)} }`;
}

function parses(document: string): boolean {
  try {
    parse(document);
    return true;
  } catch {
    return false;
  }
}

function selectionOf(field: GraphQLField<unknown, unknown>): string {
  const type = getNamedType(field.type);
  if (isLeafType(type)) return '';
  if (isUnionType(type)) {
    const members = type.getTypes().map((member) => `... on ${member.name} ${fieldsOf(member, 1)}`);
    return `{ __typename ${members.join(' ')} }`;
  }
  return fieldsOf(type, 1);
}

/** Leaf fields without required arguments; object and interface fields' leaves while `depth` allows. */
function fieldsOf(type: Composite, depth: number): string {
  const selected: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) selected.push(field.name);
    else if (depth > 0 && (isObjectType(named) || isInterfaceType(named))) {
      const nested = fieldsOf(named, depth - 1);
      if (nested !== '{ __typename }') selected.push(`${field.name} ${nested}`);
    }
  }
  return `{ ${selected.length ? selected.join(' ') : '__typename'} }`;
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/**
 * The `data` object of a GraphQL response. `errors` win over everything (GraphQL over HTTP answers
 * them with 4xx too); then a non-2xx status, a body that is not JSON, or one without `data` fail.
 */
function readData(response: BoundedResponse, endpoint: Endpoint, statusReason: string): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(decodeText(response));
  } catch {
    payload = undefined;
  }
  const body = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  if (response.status === 401) dropOAuthToken(endpoint.oauthKey);
  if (Array.isArray(body?.errors) && body.errors.length > 0) {
    const first: unknown = body.errors[0];
    const message = typeof first === 'object' && first !== null && typeof (first as { message?: unknown }).message === 'string' ? (first as { message: string }).message : 'no message';
    const reason = statusReason === 'introspection_failed' ? statusReason : 'graphql_error';
    throw failure(endpoint, reason, `answered with GraphQL errors: ${safeExcerpt(message, endpoint.secrets, MAX_ERROR_TEXT)}`, {
      status: response.status,
    });
  }
  if (response.status < 200 || response.status > 299) throw upstreamFailure(endpoint.request.toolName, endpoint.url, response, endpoint.secrets, { reason: statusReason });
  if (payload === undefined) throw failure(endpoint, 'invalid_json', 'answered with a body that is not JSON');
  if (typeof body?.data !== 'object' || body.data === null || Array.isArray(body.data)) throw failure(endpoint, 'protocol_error', 'answered without a `data` object');
  return body.data as Record<string, unknown>;
}

function failure(endpoint: Endpoint, reason: string, what: string, details: Record<string, unknown> = {}): RegistryError {
  const host = hostOf(endpoint.url.href);
  return new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${endpoint.request.toolName}" failed: the GraphQL endpoint at "${host}" ${what}`, {
    reason,
    host,
    ...details,
  });
}
