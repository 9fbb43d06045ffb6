import { Trace } from '@apollo/usage-reporting-protobuf';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type Watch, watchedRegistry } from './helpers/watch.js';

// What a GraphQL security scanner (graphql-cop, Escape, InQL) sends, and a few things they do not:
// every case gets a 4xx with a coded error, no stack trace or exception details, and the registry
// keeps answering. The registry runs in production mode, as deployed, with canary credentials
// planted in its providers that no answer or log line may carry.

let watch: Watch;
let registry: TestRegistry;
let dev: TestRegistry;
let agent: string;

interface Answer {
  status: number;
  text: string;
}

type Send = () => Promise<Answer>;

async function asAnswer(response: Response): Promise<Answer> {
  const text = await response.text();
  watch.record(JSON.stringify(Object.fromEntries(response.headers)));
  watch.record(text);
  return { status: response.status, text };
}

function post(body: string | Buffer, headers: Record<string, string> = {}, token = registry.viewerToken): Promise<Answer> {
  return fetch(`${registry.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body,
  }).then(asAnswer);
}

const gql = (query: string, variables?: unknown, token?: string) => post(JSON.stringify({ query, variables }), {}, token);

function get(query: string, headers: Record<string, string> = { 'apollo-require-preflight': 'true' }, path = '/graphql'): Promise<Answer> {
  return fetch(`${registry.url}${path}?query=${encodeURIComponent(query)}`, { headers: { authorization: `Bearer ${registry.viewerToken}`, ...headers } }).then(asAnswer);
}

const nest = (depth: number, leaf: string, open: string, close: string) => `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;

/** A case: what it sends, and the codes it may be refused with (any 4xx status unless `status` says). */
interface Case {
  name: string;
  send: Send;
  codes: string[];
  status?: number;
  /** Extra checks on the answer's text. */
  check?: (text: string) => void;
}

const noSuggestion = (text: string) => expect(text).not.toMatch(/did you mean/i);

const cases: Case[] = [
  // Alias overloading
  { name: 'alias overloading: 100 aliases of __typename', send: () => gql(`{ ${Array.from({ length: 100 }, (_, i) => `a${i}: __typename`).join(' ')} }`), codes: ['TOO_MANY_ALIASES'] },
  {
    name: 'alias overloading: 20 aliases of a page of 100 tools',
    send: () => gql(`{ ${Array.from({ length: 20 }, (_, i) => `t${i}: tools(first: 100) { totalCount edges { node { name } } }`).join(' ')} }`),
    codes: ['TOO_MANY_ALIASES', 'QUERY_TOO_COMPLEX'],
  },
  // Array batching
  { name: 'array batching: 10 queries in one request', send: () => post(JSON.stringify(Array.from({ length: 10 }, () => ({ query: '{ __typename }' })))), codes: ['BAD_REQUEST'] },
  { name: 'array batching: a batch of one', send: () => post(JSON.stringify([{ query: '{ me { scopes } }' }])), codes: ['BAD_REQUEST'] },
  // Directive overloading
  { name: 'directive overloading: 50 @include on one field', send: () => gql(`{ __typename${' @include(if: true)'.repeat(50)} }`), codes: ['TOO_MANY_DIRECTIVES', 'GRAPHQL_VALIDATION_FAILED'] },
  { name: 'directive overloading: 500 unknown directives', send: () => gql(`{ __typename ${'@aa'.repeat(500)} }`), codes: ['TOO_MANY_DIRECTIVES', 'GRAPHQL_VALIDATION_FAILED', 'TOO_MANY_TOKENS'] },
  // Field suggestions
  { name: 'field suggestion: a misspelled field', send: () => gql('{ tool(name: "x") { nam } }'), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  { name: 'field suggestion: a misspelled root field', send: () => gql('{ tol { name } }'), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  { name: 'field suggestion: a misspelled argument', send: () => gql('{ tools(frist: 1) { totalCount } }'), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  { name: 'field suggestion: a misspelled enum value', send: () => gql('{ explainAccess(tool: "x", action: EXECUT) { allowed } }'), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  { name: 'field suggestion: a misspelled type', send: () => gql('{ ...F } fragment F on Quer { __typename }'), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  { name: 'field suggestion: a misspelled input field', send: () => gql('mutation { executeTool(input: { tol: "x", arguments: {} }) { id } }', undefined, agent), codes: ['GRAPHQL_VALIDATION_FAILED'], check: noSuggestion },
  // Suggestions made while coercing variables, which validation rules never see
  { name: 'field suggestion: an enum value in a variable in the wrong case', send: () => gql('query($a: PolicyAction!) { explainAccess(tool: "x.y", action: $a) { allowed } }', { a: 'execute' }), codes: ['BAD_USER_INPUT'], check: noSuggestion },
  { name: 'field suggestion: a misspelled input field in a variable', send: () => gql('mutation($i: ExecuteToolInput!) { executeTool(input: $i) { id } }', { i: { tol: 'x', arguments: {} } }, agent), codes: ['BAD_USER_INPUT'], check: noSuggestion },
  // Introspection in production
  { name: 'introspection: __schema', send: () => gql('{ __schema { types { name fields { name } } } }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  { name: 'introspection: __type', send: () => gql('{ __type(name: "Query") { fields { name } } }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  { name: 'introspection: hidden in a fragment', send: () => gql('{ ...F } fragment F on Query { __schema { queryType { name } } }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  { name: 'introspection: over GET', send: () => get('{ __schema { types { name } } }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  // Landing pages and IDEs in production
  {
    name: 'landing page: GET /graphql for a browser',
    send: () => fetch(`${registry.url}/graphql`, { headers: { accept: 'text/html' } }).then(asAnswer),
    codes: ['BAD_REQUEST'],
    check: (text) => expect(text).not.toMatch(/<html|<!DOCTYPE/i),
  },
  {
    name: 'landing page: GET /graphql for a browser, with a preflight header',
    send: () => fetch(`${registry.url}/graphql`, { headers: { accept: 'text/html', 'apollo-require-preflight': 'true' } }).then(asAnswer),
    codes: ['BAD_REQUEST'],
    check: (text) => expect(text).not.toMatch(/<html|<!DOCTYPE/i),
  },
  ...['/graphiql', '/playground', '/altair', '/voyager', '/graphql/console', '/api/graphql', '/v1/graphql', '/graphql.php'].map((path) => ({
    name: `IDE or alternate endpoint: GET ${path}`,
    send: () => fetch(`${registry.url}${path}`, { headers: { accept: 'text/html' } }).then(asAnswer),
    codes: ['NOT_FOUND'],
    status: 404,
  })),
  // GET and CSRF
  { name: 'GET query without a preflight header (CSRF)', send: () => get('{ me { scopes } }', {}), codes: ['BAD_REQUEST'] },
  { name: 'mutation over GET', send: () => get('mutation { revokeTokens(input: { principalId: "x" }) { revokedAt } }'), codes: ['BAD_REQUEST'], status: 405 },
  { name: 'mutation over GET, named by x-apollo-operation-name', send: () => get('mutation M { revokeTokens(input: { principalId: "x" }) { revokedAt } }', { 'x-apollo-operation-name': 'M' }), codes: ['BAD_REQUEST'], status: 405 },
  { name: 'url-encoded POST (CSRF)', send: () => post('query=%7B__typename%7D', { 'content-type': 'application/x-www-form-urlencoded' }), codes: ['BAD_REQUEST'] },
  { name: 'multipart POST (CSRF)', send: () => post('--b\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ __typename }\r\n--b--\r\n', { 'content-type': 'multipart/form-data; boundary=b' }), codes: ['BAD_REQUEST'] },
  { name: 'text/plain POST (CSRF)', send: () => post('{"query":"{ __typename }"}', { 'content-type': 'text/plain' }), codes: ['BAD_REQUEST'] },
  { name: 'application/graphql POST', send: () => post('{ __typename }', { 'content-type': 'application/graphql' }), codes: ['BAD_REQUEST'] },
  // Fragments
  { name: 'fragment cycle', send: () => gql('query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  { name: 'fragment self-spread', send: () => gql('query { ...A } fragment A on Query { __typename ...A }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  {
    name: 'fragment fan-out (2^16 expansions)',
    send: () => {
      const fragments = Array.from({ length: 16 }, (_, i) => `fragment F${i} on Query { a: __typename ...F${i + 1} b: __typename ...F${i + 1} }`);
      return gql(`query { ...F0 } ${fragments.join(' ')} fragment F16 on Query { __typename }`);
    },
    codes: ['GRAPHQL_VALIDATION_FAILED', 'QUERY_TOO_COMPLEX', 'TOO_MANY_ALIASES'],
  },
  // Page sizes through variables
  { name: 'huge `first` through a variable (1e9)', send: () => gql('query($n: Int) { tools(first: $n) { totalCount } }', { n: 1_000_000_000 }), codes: ['PAGE_SIZE_EXCEEDED'], status: 400 },
  { name: '`first` beyond 32 bits through a variable', send: () => gql('query($n: Int) { tools(first: $n) { totalCount } }', { n: 2 ** 31 }), codes: ['BAD_USER_INPUT'] },
  { name: 'negative `first` through a variable', send: () => gql('query($n: Int) { providers(first: $n) { totalCount } }', { n: -1 }), codes: ['BAD_USER_INPUT'], status: 400 },
  { name: 'fractional `first` through a variable', send: () => gql('query($n: Int) { tools(first: $n) { totalCount } }', { n: 1.5 }), codes: ['BAD_USER_INPUT'] },
  { name: 'huge nested `first` through a variable', send: () => gql('query($n: Int) { providers(first: 1) { edges { node { tools(first: $n) { totalCount } } } } }', { n: 100_000 }), codes: ['PAGE_SIZE_EXCEEDED'], status: 400 },
  // Entities
  {
    name: '10,000 _entities representations',
    send: () => gql('query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: Array.from({ length: 10_000 }, (_, i) => ({ __typename: 'Tool', id: `t${i}` })) }),
    codes: ['QUERY_TOO_COMPLEX'],
  },
  { name: '_entities of a type that is no entity', send: () => gql('query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: [{ __typename: 'Policy', id: 'x' }] }), codes: ['BAD_USER_INPUT'] },
  // Sizes, depth and encodings
  { name: '2 MB body', send: () => gql('{ __typename }', { blob: 'x'.repeat(2 * 1024 * 1024) }), codes: ['PAYLOAD_TOO_LARGE'], status: 413 },
  {
    name: 'JSON arguments nested 10,000 deep (executeTool)',
    send: () =>
      post(`{"query":"mutation($a: JSON!) { executeTool(input: { tool: \\"x.y\\", arguments: $a }) { id } }","variables":{"a":${nest(10_000, '1', '{"a":', '}')}}}`, {}, agent),
    codes: ['BAD_REQUEST'],
  },
  {
    name: 'JSON arguments nested 100,000 deep (explainAccess)',
    send: () => post(`{"query":"query($a: JSON) { explainAccess(tool: \\"x.y\\", action: EXECUTE, arguments: $a) { allowed } }","variables":{"a":${nest(100_000, '0', '[', ']')}}}`),
    codes: ['BAD_REQUEST'],
  },
  { name: 'JSON literal nested 600 deep in the query', send: () => gql(`{ explainAccess(tool: "x.y", action: EXECUTE, arguments: ${nest(600, '1', '{ a: ', ' }')}) { allowed } }`), codes: ['TOO_MANY_TOKENS'] },
  { name: 'selection 20 levels deep', send: () => gql(`{ tools(first: 1) { edges { node { ${nest(8, 'name', 'provider { tools(first: 1) { edges { node { ', ' } } } }')} } } } }`), codes: ['QUERY_TOO_DEEP'] },
  { name: 'a document of 5,000 tokens', send: () => gql(`{ ${'__typename '.repeat(5000)}}`), codes: ['TOO_MANY_TOKENS'] },
  { name: 'a query costing far more than 5,000 points', send: () => gql('{ tools(first: 100) { edges { node { provider { tools(first: 100) { edges { node { name } } } } } } } }'), codes: ['QUERY_TOO_COMPLEX'] },
  {
    name: 'invalid UTF-8 in the body',
    send: () => post(Buffer.concat([Buffer.from('{"query":"{ tool(name: \\"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('\\") { name } }"}')])),
    codes: ['BAD_REQUEST'],
  },
  { name: 'invalid UTF-8 in a GET query string', send: () => fetch(`${registry.url}/graphql?query=%7B%20tool(name%3A%20%22%FF%FE%22)%20%7B%20name%20%7D%20%7D`, { headers: { 'apollo-require-preflight': 'true', authorization: `Bearer ${registry.viewerToken}` } }).then(asAnswer), codes: ['BAD_REQUEST', 'GRAPHQL_PARSE_FAILED'] },
  { name: 'U+0000 in the query text', send: () => gql('{ __typename \u0000 }'), codes: ['GRAPHQL_PARSE_FAILED'] },
  { name: 'malformed JSON', send: () => post('{"query": "{ __typename }"'), codes: ['BAD_REQUEST'] },
  { name: '__proto__ in the body', send: () => post('{"query":"{ __typename }","__proto__":{"isAdmin":true}}'), codes: ['BAD_REQUEST'] },
  { name: 'constructor.prototype in the body', send: () => post('{"query":"{ __typename }","constructor":{"prototype":{"isAdmin":true}}}'), codes: ['BAD_REQUEST'] },
  { name: 'query that is not a string', send: () => post('{"query": 5}'), codes: ['BAD_REQUEST'] },
  { name: 'variables that are not an object', send: () => post('{"query": "{ __typename }", "variables": "x"}'), codes: ['BAD_REQUEST'] },
  { name: 'no query at all', send: () => post('{}'), codes: ['BAD_REQUEST'] },
  { name: 'an unknown operationName', send: () => post(JSON.stringify({ query: 'query A { __typename }', operationName: 'B' })), codes: ['OPERATION_RESOLUTION_FAILURE', 'BAD_USER_INPUT'] },
  { name: 'two operations and no operationName', send: () => gql('query A { __typename } query B { __typename }'), codes: ['OPERATION_RESOLUTION_FAILURE', 'BAD_USER_INPUT'] },
  { name: 'a subscription over HTTP', send: () => gql('subscription { catalogChanged { kind } }'), codes: ['BAD_REQUEST', 'GRAPHQL_VALIDATION_FAILED', 'OPERATION_RESOLUTION_FAILURE'] },
  { name: '@defer, which the schema does not declare', send: () => gql('{ ... @defer { me { scopes } } }'), codes: ['GRAPHQL_VALIDATION_FAILED'] },
  { name: 'U+0000 in a text argument', send: () => gql('query($s: String!) { tool(name: $s) { name } }', { s: 'a\u0000b' }), codes: ['BAD_USER_INPUT'], status: 400 },
  { name: 'an unpaired surrogate in a filter', send: () => gql('{ tools(filter: { tags: ["\\ud800"] }) { totalCount } }'), codes: ['GRAPHQL_PARSE_FAILED'], status: 400 },
  { name: 'an unpaired surrogate in a JSON variable', send: () => gql('query($a: JSON) { explainAccess(tool: "x.y", action: EXECUTE, arguments: $a) { allowed } }', { a: { k: '\ud800' } }), codes: ['BAD_USER_INPUT'], status: 400 },
  { name: 'a forged cursor', send: () => gql('query($c: String) { tools(after: $c) { totalCount } }', { c: Buffer.from('["tools","\u0000"]').toString('base64url') }), codes: ['INVALID_CURSOR'], status: 400 },
  { name: 'a variable of the wrong type', send: () => gql('query($n: Int) { tools(first: $n) { totalCount } }', { n: 'ten' }), codes: ['BAD_USER_INPUT'] },
];

beforeAll(async () => {
  [watch, dev] = await Promise.all([watchedRegistry({ env: { NODE_ENV: 'production' } }), startRegistry()]);
  registry = watch.registry;
  agent = await registry.login({ roles: ['agent'] });
  await watch.exercise(agent);
});
afterAll(async () => {
  await Promise.all([watch?.close(), dev?.close()]);
});

describe(`hostile GraphQL requests (${cases.length} cases)`, () => {
  it.each(cases)('$name: refused with a coded 4xx, and the registry keeps answering', async ({ send, codes, status, check }) => {
    const answer = await send();
    const where = `${answer.status} ${answer.text.slice(0, 400)}`;
    if (status) expect(answer.status, where).toBe(status);
    expect(answer.status, where).toBeGreaterThanOrEqual(400);
    expect(answer.status, where).toBeLessThan(500);
    const body = JSON.parse(answer.text) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
    expect(codes, where).toContain(body.errors?.[0]?.extensions?.code);
    expect(answer.text, where).not.toMatch(/stacktrace|"exception"|\n\s+at |node_modules/);
    check?.(answer.text);

    const alive = await gql('{ me { scopes } }');
    expect(alive.status).toBe(200);
    expect(JSON.parse(alive.text)).toMatchObject({ data: { me: { scopes: ['tools:read'] } } });
  });

  it('refuses circular introspection where introspection is on (development)', async () => {
    const query = `{ __schema { types { ${nest(6, 'name', 'fields { type { ', ' } } ')} } } }`;
    const res = await dev.graphql(query);
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await dev.graphql('{ __schema { queryType { name } } }')).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('gives no schema hints over WebSocket either: a misspelled subscription field is refused without "Did you mean"', async () => {
    const client = createClient({
      url: `${registry.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${registry.viewerToken}` },
      retryAttempts: 0,
    });
    try {
      const answer = await new Promise<string>((resolve) => {
        client.subscribe({ query: 'subscription { catalogChangd { kind } }' }, {
          next: (value) => resolve(JSON.stringify(value)),
          error: (error) => resolve(JSON.stringify(error)),
          complete: () => resolve('completed'),
        });
      });
      expect(answer).toContain('catalogChangd');
      noSuggestion(answer);
    } finally {
      await client.dispose();
    }
  });

  it('sends no tracing or exception extensions; a federation trace (outside production only) masks every error', async () => {
    const query = '{ auditLog { totalCount } tools(first: 1) { totalCount } }';
    const production = await registry.graphql(query, undefined, { 'apollo-federation-include-trace': 'ftv1' });
    expect(production.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(Object.keys(production.errors![0]!.extensions!).sort()).toEqual(['code', 'scope']);
    expect(Object.keys(production.extensions ?? {})).toEqual(['cost']);
    const res = await dev.graphql(query, undefined, { 'apollo-federation-include-trace': 'ftv1' });
    expect(Object.keys(res.extensions ?? {}).sort()).toEqual(['cost', 'ftv1']);
    const trace = JSON.stringify(Trace.toObject(Trace.decode(Buffer.from(res.extensions!.ftv1 as string, 'base64'))));
    expect(trace).toContain('<masked>');
    expect(trace).not.toContain('audit:read');
    const plain = await registry.graphql('{ tools(first: 1) { totalCount } }');
    expect(Object.keys(plain.extensions ?? {})).toEqual(['cost']);
  });

  it('let no planted canary credential out, in any answer, log line or stored row', async () => {
    await watch.expectNoLeaks();
  });
});
