import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, graphql } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ErrorCode, type RegistryError } from '../../src/errors.js';
import type { ExecutionRequest } from '../../src/executors/executor.types.js';
import { clearGraphqlSchemaCache, executeGraphql } from '../../src/executors/graphql.executor.js';
import { executeWebsocket } from '../../src/executors/websocket.executor.js';
import type { EgressPolicy } from '../../src/security/egress.js';
import { rejectionOf } from '../helpers/errors.js';
import { httpPeer, json, type Peer } from '../helpers/peers/index.js';
import { executionRequest } from '../helpers/factories.js';

const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };
const API_KEY = 'sk-graph-socket-secret-42';
const WRONG_KEY = 'wrong-key-0987654321';

const closers: Array<() => Promise<void>> = [];
/** Every error message and extensions seen, checked for secrets after each test. */
const messages: string[] = [];

afterEach(async () => {
  clearGraphqlSchemaCache();
  for (const message of messages.splice(0)) {
    expect(message).not.toContain(API_KEY);
    expect(message).not.toContain(WRONG_KEY);
  }
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await rejectionOf(promise);
  messages.push(error.message, JSON.stringify(error.extensions));
  return error;
}

function request(type: string, toolName: string, template: Record<string, unknown>, args: Record<string, unknown>, extra: Partial<ExecutionRequest>): ExecutionRequest {
  return executionRequest(toolName, type, template, args, extra);
}

// ---------------------------------------------------------------------------------------------
// GraphQL peer
// ---------------------------------------------------------------------------------------------

const SDL = /* GraphQL */ `
  enum Genre {
    FICTION
    HISTORY
  }
  type Author {
    id: ID!
    name: String!
    books: [Book!]!
  }
  type Book {
    id: ID!
    title: String!
    pages: Int
    genre: Genre
    author: Author
    reviews(first: Int!): [String!]
  }
  union SearchResult = Book | Author
  input BookInput {
    title: String!
    pages: Int
    genre: Genre
  }
  type Query {
    book(id: ID!): Book
    books(ids: [ID!]!): [Book!]!
    echo(text: String!, times: Int = 1): String
    search(term: String!): [SearchResult!]!
  }
  type Mutation {
    addBook(input: BookInput!): Book!
    book(id: ID!, title: String!): Book
  }
  type Subscription {
    ticks: Int
  }
`;

const schema = buildSchema(SDL);
const herbert = { id: 'a1', name: 'Frank Herbert', books: [] };
const dune = { id: '1', title: 'Dune', pages: 412, genre: 'FICTION', author: herbert, reviews: () => ['great'] };
const rootValue = {
  book: ({ id, title }: { id: string; title?: string }) => {
    if (id === '404') throw new Error(`No book 404 (looked up with key ${API_KEY}) ${'x'.repeat(1000)}`);
    return id === dune.id ? { ...dune, ...(title ? { title } : {}) } : null;
  },
  books: ({ ids }: { ids: string[] }) => ids.map((id) => ({ ...dune, id })),
  echo: ({ text, times }: { text: string; times: number }) => text.repeat(times),
  search: () => [
    { __typename: 'Book', ...dune },
    { __typename: 'Author', ...herbert },
  ],
  addBook: ({ input }: { input: Record<string, unknown> }) => ({ id: '2', ...input }),
};

interface GraphqlCall {
  path: string;
  query: string;
  variables: Record<string, unknown>;
  headers: IncomingMessage['headers'];
}

interface GraphqlPeer {
  url: string;
  calls: GraphqlCall[];
  introspections: () => number;
}

/**
 * A GraphQL endpoint over node:http. Every path answers introspection; what a call gets depends on the
 * path: `/graphql` executes it, `/secure` too but only with the API key (else GraphQL errors echoing
 * the key), `/http500`, `/not-json`, `/no-data`, `/hang` and `/huge` misbehave.
 */
async function graphqlPeer(): Promise<GraphqlPeer> {
  const calls: GraphqlCall[] = [];
  let introspections = 0;
  const peer: Peer = await httpPeer(async (req, res, body) => {
    const { query, variables } = JSON.parse(body) as { query: string; variables?: Record<string, unknown> };
    const path = req.url ?? '/';
    const key = req.headers['x-api-key'];
    if (path === '/secure' && key !== API_KEY) return json(res, 200, { errors: [{ message: `Invalid API key ${String(key)}` }] });
    const introspection = query.includes('__schema');
    if (introspection) introspections++;
    else calls.push({ path, query, variables: variables ?? {}, headers: req.headers });
    if (!introspection) {
      if (path === '/http500') return res.writeHead(500, { 'content-type': 'text/plain' }).end('internal failure');
      if (path === '/not-json') return res.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops</html>');
      if (path === '/no-data') return json(res, 200, { extensions: {} });
      if (path === '/hang') return;
      if (path === '/huge') return json(res, 200, { data: { echo: 'z'.repeat(200_000) } });
    }
    json(res, 200, await graphql({ schema, source: query, rootValue, variableValues: variables ?? null }));
  });
  closers.push(() => peer.close());
  return { url: peer.url, calls, introspections: () => introspections };
}

function gql(toolName: string, template: Record<string, unknown>, args: Record<string, unknown> = {}, extra: Partial<ExecutionRequest> = {}) {
  return executeGraphql(request('graphql', toolName, template, args, extra));
}

describe('executeGraphql', () => {
  it('builds a typed query from the introspected schema, introspecting once per URL, and returns the field', async () => {
    const peer = await graphqlPeer();
    const outcome = await gql('library.book', { url: `${peer.url}/graphql`, operation_type: 'query' }, { id: '1' });
    expect(outcome.result).toEqual({ id: '1', title: 'Dune', pages: 412, genre: 'FICTION', author: { id: 'a1', name: 'Frank Herbert' } });
    expect(outcome.bytes).toBeGreaterThan(50);
    const [call] = peer.calls;
    expect(call!.query).toContain('query($id: ID!)');
    expect(call!.query).toContain('book(id: $id)');
    // A field with a required argument is left out of the selection.
    expect(call!.query).not.toContain('reviews');
    expect(call!.variables).toEqual({ id: '1' });

    expect((await gql('library.books', { url: `${peer.url}/graphql` }, { ids: ['7', '8'] })).result).toEqual([
      expect.objectContaining({ id: '7', title: 'Dune' }),
      expect.objectContaining({ id: '8', title: 'Dune' }),
    ]);
    expect(peer.calls[1]!.query).toContain('$ids: [ID!]!');
    expect((await gql('library.echo', { url: `${peer.url}/graphql` }, { text: 'ab', times: 3 })).result).toBe('ababab');
    expect((await gql('library.book', { url: `${peer.url}/graphql` }, { id: 'missing' })).result).toBeNull();
    expect(peer.introspections()).toBe(1);
  });

  it('runs mutations, maps a "<field>_mutation" tool and operation_name to the field, and selects union members', async () => {
    const peer = await graphqlPeer();
    const url = `${peer.url}/graphql`;
    const added = await gql('library.addBook', { url, operation_type: 'mutation' }, { input: { title: 'New', pages: 10, genre: 'HISTORY' } });
    expect(added.result).toEqual({ id: '2', title: 'New', pages: 10, genre: 'HISTORY', author: null });
    expect(peer.calls[0]!.query).toMatch(/^mutation\(\$input: BookInput!\) \{ addBook\(input: \$input\)/);

    const renamed = await gql('library.book_mutation', { url, operation_type: 'mutation' }, { id: '1', title: 'Dune Messiah' });
    expect(renamed.result).toMatchObject({ id: '1', title: 'Dune Messiah' });
    expect(peer.calls[1]!.query).toContain('mutation($id: ID!, $title: String!)');

    const shout = await gql('library.shout', { url, operation_name: 'echo' }, { text: 'hey' });
    expect(shout.result).toBe('hey');

    const found = await gql('library.search', { url }, { term: 'dune' });
    expect(found.result).toEqual([
      { __typename: 'Book', id: '1', title: 'Dune', pages: 412, genre: 'FICTION', author: { id: 'a1', name: 'Frank Herbert' } },
      // Union members get their own nested objects' leaves too.
      { __typename: 'Author', id: 'a1', name: 'Frank Herbert', books: [] },
    ]);
    expect(peer.calls[3]!.query).toContain('... on Author { id name books { id title pages genre } }');
  });

  it('sends header_fields as headers instead of variables and applies api_key auth', async () => {
    const peer = await graphqlPeer();
    const auth = { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' };
    const template = { url: `${peer.url}/secure`, header_fields: ['X-Request-Id'], headers: { 'X-Client': 'registry' }, auth };
    const outcome = await gql('library.echo', template, { text: 'ok', 'X-Request-Id': 'r-1' });
    expect(outcome.result).toBe('ok');
    const [call] = peer.calls;
    expect(call!.headers['x-request-id']).toBe('r-1');
    expect(call!.headers['x-client']).toBe('registry');
    expect(call!.variables).toEqual({ text: 'ok' });
    expect(call!.query).not.toContain('Request');

    // The endpoint answers the wrong key with errors that echo it: introspection fails, redacted.
    const denied = await failure(gql('library.echo', { ...template, auth: { ...auth, api_key: WRONG_KEY } }, { text: 'ok' }));
    expect(denied.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(denied.extensions.reason).toBe('introspection_failed');
    expect(denied.message).toContain('Invalid API key [redacted]');
  });

  it('turns GraphQL errors into EXECUTION_FAILED with the first message, truncated and redacted', async () => {
    const peer = await graphqlPeer();
    const error = await failure(gql('library.book', { url: `${peer.url}/graphql`, auth: { auth_type: 'api_key', api_key: API_KEY } }, { id: '404' }));
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions.reason).toBe('graphql_error');
    expect(error.message).toContain('No book 404 (looked up with key [redacted])');
    expect(error.message.length).toBeLessThan(400);
  });

  it('fails on non-2xx, invalid JSON and answers without data, naming the reason', async () => {
    const peer = await graphqlPeer();
    const status = await failure(gql('library.echo', { url: `${peer.url}/http500` }, { text: 'a' }));
    expect(status.extensions).toMatchObject({ reason: 'http_status', status: 500 });
    expect(status.message).toContain('internal failure');
    expect((await failure(gql('library.echo', { url: `${peer.url}/not-json` }, { text: 'a' }))).extensions.reason).toBe('invalid_json');
    expect((await failure(gql('library.echo', { url: `${peer.url}/no-data` }, { text: 'a' }))).extensions.reason).toBe('protocol_error');
  });

  it('refuses subscriptions, unknown fields and unknown arguments', async () => {
    const peer = await graphqlPeer();
    const subscription = await failure(gql('library.ticks', { url: `${peer.url}/graphql`, operation_type: 'subscription' }));
    expect(subscription.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(subscription.extensions.reason).toBe('unsupported');
    expect(peer.introspections()).toBe(0);

    const unknown = await failure(gql('library.nothing', { url: `${peer.url}/graphql` }));
    expect(unknown.extensions.reason).toBe('unknown_field');
    const argument = await failure(gql('library.echo', { url: `${peer.url}/graphql` }, { text: 'a', bogus: 1 }));
    expect(argument.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(argument.message).toContain('"bogus"');
    expect(peer.calls).toHaveLength(0);
  });

  it('refuses a loopback URL that is not allow-listed, times out, caps the size and is cancellable', async () => {
    const peer = await graphqlPeer();
    const denied = await failure(gql('library.echo', { url: `${peer.url}/graphql` }, { text: 'a' }, { egress: NONE }));
    expect(denied.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(peer.introspections()).toBe(0);

    const timeout = await failure(gql('library.echo', { url: `${peer.url}/hang` }, { text: 'a' }, { timeoutMs: 300 }));
    expect(timeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    const tooLarge = await failure(gql('library.echo', { url: `${peer.url}/huge` }, { text: 'a' }, { maxBytes: 50_000 }));
    expect(tooLarge.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const cancelled = await failure(gql('library.echo', { url: `${peer.url}/hang` }, { text: 'a' }, { timeoutMs: 10_000, signal: controller.signal }));
    expect(cancelled.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(cancelled.extensions.cancelled).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// WebSocket peer
// ---------------------------------------------------------------------------------------------

interface Connection {
  path: string;
  headers: IncomingMessage['headers'];
  protocol: string;
  messages: string[];
}

/**
 * A WebSocket server. `/secure` refuses the handshake (401) without the API key (header `x-api-key`
 * or query `key`); what a message gets depends on the path: `/echo` answers `{ received, protocol }`,
 * `/text` plain text, `/binary` bytes 1 2 3, `/twice` two messages, `/close` closes, `/big` 200 kB,
 * `/silent` nothing.
 */
async function socketPeer(): Promise<{ url: string; connections: Connection[] }> {
  const connections: Connection[] = [];
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('utcp.v1') ? 'utcp.v1' : false),
    verifyClient: (info, done) => {
      const url = new URL(info.req.url ?? '/', 'http://peer');
      const key = info.req.headers['x-api-key'] ?? url.searchParams.get('key');
      if (url.pathname === '/secure' && key !== API_KEY) done(false, 401, `bad key ${String(key)}`);
      else done(true);
    },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (socket, req) => {
    const path = new URL(req.url ?? '/', 'http://peer').pathname;
    const connection: Connection = { path, headers: req.headers, protocol: socket.protocol, messages: [] };
    connections.push(connection);
    socket.on('message', (data) => {
      const text = data.toString();
      connection.messages.push(text);
      if (path === '/echo' || path === '/secure') {
        let received: unknown = text;
        try {
          received = JSON.parse(text);
        } catch {
          // plain text stays text
        }
        socket.send(JSON.stringify({ received, protocol: socket.protocol }));
      } else if (path === '/text') socket.send('plain reply');
      else if (path === '/binary') socket.send(Buffer.from([1, 2, 3]));
      else if (path === '/twice') {
        socket.send('first');
        socket.send('second');
      } else if (path === '/close') socket.close(1011, 'no');
      else if (path === '/big') socket.send('y'.repeat(200_000));
    });
  });
  closers.push(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, connections };
}

function ws(template: Record<string, unknown>, args: Record<string, unknown> = {}, extra: Partial<ExecutionRequest> = {}) {
  return executeWebsocket(request('websocket', 'chat.send', template, args, extra));
}

describe('executeWebsocket', () => {
  it('fills UTCP_ARG placeholders in an object message, sends handshake headers and auth, and returns the parsed answer', async () => {
    const peer = await socketPeer();
    const template = {
      url: `${peer.url}/secure`,
      protocol: 'utcp.v1',
      headers: { 'X-Client': 'registry' },
      header_fields: ['X-Room'],
      auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' },
      message: {
        action: 'send',
        to: 'UTCP_ARG_user_id_UTCP_END',
        count: 'UTCP_ARG_count_UTCP_END',
        options: 'UTCP_ARG_options_UTCP_ARG',
        text: 'Hi UTCP_ARG_user_id_UTCP_END, you have UTCP_ARG_count_UTCP_END new',
        list: ['UTCP_ARG_flag_UTCP_END'],
      },
    };
    const outcome = await ws(template, { user_id: 'u-7', count: 3, options: { loud: true }, flag: false, 'X-Room': 'lobby' });
    const sent = { action: 'send', to: 'u-7', count: 3, options: { loud: true }, text: 'Hi u-7, you have 3 new', list: [false] };
    expect(outcome.result).toEqual({ received: sent, protocol: 'utcp.v1' });
    expect(outcome.bytes).toBe(Buffer.byteLength(JSON.stringify({ received: sent, protocol: 'utcp.v1' })));
    const [connection] = peer.connections;
    expect(connection!.headers['x-room']).toBe('lobby');
    expect(connection!.headers['x-client']).toBe('registry');
    expect(connection!.headers['x-api-key']).toBe(API_KEY);
    expect(connection!.messages).toHaveLength(1);

    const query = await ws({ url: `${peer.url}/secure`, auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'key', location: 'query' } }, { a: 1 });
    expect(query.result).toEqual({ received: { a: 1 }, protocol: '' });
  });

  it('sends the arguments as JSON without a message, fills a string message, and returns only the first answer', async () => {
    const peer = await socketPeer();
    const plain = await ws({ url: `${peer.url}/echo`, header_fields: ['X-Room'] }, { city: 'Oslo', days: 2, 'X-Room': 'r' });
    expect(plain.result).toEqual({ received: { city: 'Oslo', days: 2 }, protocol: '' });

    const text = await ws({ url: `${peer.url}/echo`, message: 'weather UTCP_ARG_city_UTCP_END for UTCP_ARG_days_UTCP_END days', response_format: 'text' }, { city: 'Oslo', days: 2 });
    expect(text.result).toBe(JSON.stringify({ received: 'weather Oslo for 2 days', protocol: '' }));

    const twice = await ws({ url: `${peer.url}/twice` });
    expect(twice.result).toBe('first');
  });

  it('parses the answer per response_format', async () => {
    const peer = await socketPeer();
    expect((await ws({ url: `${peer.url}/text` })).result).toBe('plain reply');
    expect((await ws({ url: `${peer.url}/text`, response_format: 'raw' })).result).toBe('plain reply');
    expect((await ws({ url: `${peer.url}/binary`, response_format: 'raw' })).result).toBe(Buffer.from([1, 2, 3]).toString('base64'));
    expect((await ws({ url: `${peer.url}/echo`, response_format: 'json' }, { n: 1 })).result).toEqual({ received: { n: 1 }, protocol: '' });
    const notJson = await failure(ws({ url: `${peer.url}/text`, response_format: 'json' }));
    expect(notJson.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(notJson.extensions.reason).toBe('invalid_json');
  });

  it('refuses a call missing a placeholder argument before connecting', async () => {
    const peer = await socketPeer();
    const error = await failure(ws({ url: `${peer.url}/echo`, message: { to: 'UTCP_ARG_user_UTCP_END' } }, { other: 1 }));
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toContain('"user"');
    expect(peer.connections).toHaveLength(0);
  });

  it('fails with http_status when the handshake is refused and with closed when the server hangs up', async () => {
    const peer = await socketPeer();
    const refused = await failure(ws({ url: `${peer.url}/secure`, auth: { auth_type: 'api_key', api_key: WRONG_KEY } }));
    expect(refused.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(refused.extensions).toMatchObject({ reason: 'http_status', status: 401 });
    const closed = await failure(ws({ url: `${peer.url}/close` }));
    expect(closed.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(closed.extensions.reason).toBe('closed');
    const scheme = await failure(ws({ url: `${peer.url.replace('ws:', 'http:')}/echo` }));
    expect(scheme.extensions.reason).toBe('invalid_template');
  });

  it('refuses a loopback URL that is not allow-listed, times out, caps the message size and is cancellable', async () => {
    const peer = await socketPeer();
    const denied = await failure(ws({ url: `${peer.url}/echo` }, {}, { egress: NONE }));
    expect(denied.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(peer.connections).toHaveLength(0);

    const timeout = await failure(ws({ url: `${peer.url}/silent` }, {}, { timeoutMs: 200 }));
    expect(timeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    // The template's own timeout (seconds) applies when it is the shorter one.
    const started = performance.now();
    const templateTimeout = await failure(ws({ url: `${peer.url}/silent`, timeout: 1 }, {}, { timeoutMs: 20_000 }));
    expect(templateTimeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(performance.now() - started).toBeLessThan(3000);

    const tooLarge = await failure(ws({ url: `${peer.url}/big` }, {}, { maxBytes: 1000 }));
    expect(tooLarge.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const cancelled = await failure(ws({ url: `${peer.url}/silent` }, {}, { timeoutMs: 10_000, signal: controller.signal }));
    expect(cancelled.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(cancelled.extensions.cancelled).toBe(true);
    const connections = peer.connections.length;
    const before = await failure(ws({ url: `${peer.url}/echo` }, {}, { signal: AbortSignal.abort() }));
    expect(before.extensions.cancelled).toBe(true);
    expect(peer.connections).toHaveLength(connections);
  });
});
