import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildSchema, graphql } from 'graphql';
import { WebSocketServer } from 'ws';
import { z } from 'zod';
import { registerExecutorTools } from './mcp-executor-tools.js';

/** Folder of the peer scripts run as processes (stdio MCP server, CLI). */
export const PEER_SCRIPTS = fileURLToPath(new URL('./', import.meta.url));
const PETSTORE = fileURLToPath(new URL('../../fixtures/openapi/petstore-expanded.yaml', import.meta.url));

/** A UTCP 1.1 manual of tools with these names, all calling through `template`. */
export function utcpManual(names: string[], template: Record<string, unknown>): Record<string, unknown> {
  return {
    utcp_version: '1.1.0',
    manual_version: '1.0.0',
    tools: names.map((name) => ({
      name,
      description: `The ${name} tool`,
      inputs: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      tool_call_template: template,
    })),
  };
}


export interface Peer {
  url: string;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function httpPeer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => unknown): Promise<Peer> {
  const requests: IncomingMessage[] = [];
  const listener: RequestListener = (req, res) => {
    requests.push(req);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => void handler(req, res, body));
  };
  const server = createServer(listener);
  const url = await listen(server);
  return {
    url,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Answers one streamable-HTTP request with `server` (made for this request, its tools registered)
 * over a stateless transport; both are closed when the response is.
 */
export async function answerStatelessMcp(server: McpServer, req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, JSON.parse(body));
}

export const json = (res: ServerResponse, status: number, value: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

const GRAPHQL_SDL = /* GraphQL */ `
  "A book in the catalogue"
  type Book {
    id: ID!
    title: String!
    year: Int
    author: Author
  }
  type Author {
    name: String!
  }
  enum Genre {
    FICTION
    HISTORY
  }
  input BookInput {
    title: String!
    year: Int
    genre: Genre
    tags: [String!]
  }
  type Query {
    "Looks a book up by its id"
    book(id: ID!): Book
    "Lists books, newest first"
    books(genre: Genre, limit: Int = 10): [Book!]!
  }
  type Mutation {
    "Adds a book to the catalogue"
    addBook(input: BookInput!): Book!
  }
`;

/** Real protocol peers on 127.0.0.1 serving UTCP manuals, for discovery and registration tests. */
export interface ProtocolPeers {
  http: Peer;
  sse: Peer;
  stream: Peer;
  graphqlPeer: Peer;
  mcpHttp: Peer;
  /** The stateful MCP endpoint `${mcpHttp.url}/exec` (search tools plus ./mcp-executor-tools.ts), for executor tests. */
  mcpSessions: McpSessionStats;
  ws: { url: string; headers: Array<Record<string, unknown>>; close(): Promise<void> };
  close(): Promise<void>;
}

/** Sessions of the mcpHttp peer's stateful `/exec` endpoint. */
export interface McpSessionStats {
  /** Sessions initialized since the peers started. */
  initialized: number;
  /** Sessions currently open. */
  readonly open: number;
  /** Ends every open session on the server side, as a restarted server would: their ids then get HTTP 404. */
  drop(): Promise<void>;
}

/**
 * The stateful streamable-HTTP MCP endpoint: one McpServer per session (`mcp-session-id`), unknown
 * session ids answered with 404 as the specification says.
 */
function statefulMcpEndpoint(): { stats: McpSessionStats; handle: (req: IncomingMessage, res: ServerResponse, body: string) => Promise<void> } {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const stats: McpSessionStats = {
    initialized: 0,
    get open() {
      return sessions.size;
    },
    drop: async () => {
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(open.map((transport) => transport.close()));
    },
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const parsed: unknown = body ? JSON.parse(body) : undefined;
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const transport = sessions.get(sessionId);
      if (!transport) return void json(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      return transport.handleRequest(req, res, parsed);
    }
    if (req.method !== 'POST') return void json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
    const server = new McpServer({ name: 'exec', version: '1.0.0' });
    server.registerTool('search', { description: 'Searches the web', inputSchema: { query: z.string() } }, async ({ query }) => ({
      content: [{ type: 'text', text: query }],
    }));
    registerExecutorTools(server);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
        stats.initialized++;
      },
      onsessionclosed: (id) => void sessions.delete(id),
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, parsed);
  };
  return { stats, handle };
}

/** Starts an HTTP, an SSE, a streamable-HTTP, a GraphQL, an MCP (streamable HTTP) and a WebSocket peer. */
export async function startPeers(): Promise<ProtocolPeers> {
  let http: Peer;
  let sse: Peer;
  let stream: Peer;
  let graphqlPeer: Peer;
  let mcpHttp: Peer;
  let ws: ProtocolPeers['ws'];

  const petstore = await readFile(PETSTORE, 'utf8');
  const httpTemplate = { call_template_type: 'http', url: 'https://api.example.test/weather', http_method: 'GET' };
  http = await httpPeer((req, res) => {
    switch (req.url) {
      case '/utcp':
        return json(res, 200, utcpManual(['get_weather', 'get_forecast'], httpTemplate));
      case '/openapi.yaml':
        return res.writeHead(200, { 'content-type': 'application/yaml' }).end(petstore);
      case '/openapi':
        // YAML served without a telling content type or extension.
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(petstore);
      case '/redirect':
        return res.writeHead(302, { location: '/utcp' }).end();
      case '/hang':
        return; // never answers
      case '/huge':
        return json(res, 200, { utcp_version: '1.1.0', tools: [], padding: 'x'.repeat(50_000) });
      case '/not-a-manual':
        return json(res, 200, { hello: 'world', items: [1, 2, 3] });
      case '/garbage':
        return res.writeHead(200, { 'content-type': 'text/plain' }).end('{"tools": [ unclosed');
      case '/legacy':
        return json(res, 200, { version: '0.1.0', tools: [{ name: 'old', tool_provider: { provider_type: 'http' } }] });
      default:
        return json(res, 404, { error: 'not found' });
    }
  });

  const sseTemplate = { call_template_type: 'sse', url: 'https://events.example.test/stream' };
  sse = await httpPeer((req, res) => {
    if (req.url === '/manual.json') return json(res, 200, utcpManual(['price_feed'], sseTemplate));
    if (req.url === '/redirect') return res.writeHead(307, { location: '/manual.json' }).end();
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': connected\n\n');
      res.write('event: hello\ndata: not json\n\n');
      res.write(`event: manual\ndata: ${JSON.stringify(utcpManual(['price_feed', 'trade_feed'], sseTemplate))}\n\n`);
      return res.end();
    }
    return json(res, 404, {});
  });

  const streamTemplate = { call_template_type: 'streamable_http', url: 'https://stream.example.test/logs', http_method: 'GET' };
  stream = await httpPeer(async (req, res) => {
    if (req.url !== '/utcp') return json(res, 404, {});
    const body = JSON.stringify(utcpManual(['tail_logs', `${req.method!.toLowerCase()}_only`], streamTemplate));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    for (let at = 0; at < body.length; at += 64) {
      res.write(body.slice(at, at + 64));
      await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  });

  const schema = buildSchema(GRAPHQL_SDL);
  const books = [{ id: '1', title: 'Dune', year: 1965, author: { name: 'Frank Herbert' } }];
  const rootValue = {
    book: ({ id }: { id: string }) => books.find((book) => book.id === id),
    books: () => books,
    addBook: ({ input }: { input: { title: string; year?: number } }) => ({ id: String(books.length + 1), ...input }),
  };
  graphqlPeer = await httpPeer(async (req, res, body) => {
    if (req.method !== 'POST') return json(res, 405, {});
    const { query, variables, operationName } = JSON.parse(body) as { query: string; variables?: Record<string, unknown>; operationName?: string };
    json(res, 200, await graphql({ schema, source: query, rootValue, variableValues: variables ?? null, operationName: operationName ?? null }));
  });

  const exec = statefulMcpEndpoint();
  mcpHttp = await httpPeer(async (req, res, body) => {
    if (req.url === '/exec') return exec.handle(req, res, body);
    if (req.method !== 'POST') return json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
    const server = new McpServer({ name: 'search', version: '1.0.0' });
    server.registerTool('search', { description: 'Searches the web', inputSchema: { query: z.string() } }, async ({ query }) => ({
      content: [{ type: 'text', text: query }],
    }));
    server.registerTool('fetch_page', { description: 'Fetches a page', inputSchema: { url: z.string() } }, async ({ url }) => ({
      content: [{ type: 'text', text: url }],
    }));
    await answerStatelessMcp(server, req, res, body);
  });

  const wsHeaders: Array<Record<string, unknown>> = [];
  const wsServer = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => (protocols.has('utcp.v1') ? 'utcp.v1' : false) });
  await new Promise<void>((resolve) => wsServer.once('listening', () => resolve()));
  const wsTemplate = { call_template_type: 'websocket', url: 'wss://ws.example.test/chat' };
  wsServer.on('connection', (socket, request) => {
    wsHeaders.push({ ...request.headers });
    socket.on('message', (data) => {
      if (JSON.parse(data.toString()).type !== 'utcp') return;
      if (request.url === '/silent') return;
      if (request.url === '/flood') return socket.send('y'.repeat(20_000));
      if (request.url === '/bye') return socket.close(1011, 'no manual here');
      socket.send('welcome, this is not JSON');
      socket.send(JSON.stringify({ status: 'ready' }));
      socket.send(JSON.stringify(utcpManual(['send_message', 'list_rooms'], wsTemplate)));
    });
  });
  ws = {
    url: `ws://127.0.0.1:${(wsServer.address() as AddressInfo).port}`,
    headers: wsHeaders,
    close: async () => {
      for (const client of wsServer.clients) client.terminate();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
  const all = [http, sse, stream, graphqlPeer, mcpHttp, ws];
  return {
    http,
    sse,
    stream,
    graphqlPeer,
    mcpHttp,
    mcpSessions: exec.stats,
    ws,
    close: async () => {
      await exec.stats.drop();
      await Promise.all(all.map((peer) => peer.close()));
    },
  };
}
