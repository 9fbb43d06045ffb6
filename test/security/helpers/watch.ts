/**
 * A registry under watch for the security suite: canary credentials are planted in its providers
 * (an API key in a header and in the query, HTTP Basic, OAuth 2 client credentials whose token
 * endpoint hands out a canary token), every log line and every response the test sees is kept, and
 * {@link Watch.leaks} says where any canary, in any encoding, came back out: a response, a log line,
 * or any row of any table (executions, audit details, errors…).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { expect } from 'vitest';
import { BOOTSTRAP, type GraphQLResponse, type StartOptions, startRegistry, type TestRegistry } from '../../helpers/registry.js';

export interface Watch {
  registry: TestRegistry;
  /** The canary peer's origin (`http://127.0.0.1:<port>`); its routes echo what they receive. */
  peerUrl: string;
  /** Tools of the planted providers, each authenticating with a canary: `canary_key.echo`, … */
  plantedTools: string[];
  /** Every request the canary peer received (it saw the real secrets; the registry's callers must not). */
  peerRequests: { url: string; headers: IncomingMessage['headers']; body: string }[];
  /** A fresh secret-looking value that must never come back out. */
  canary(label: string): string;
  /** POSTs GraphQL (recorded); `token` '' sends none. */
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
  /** fetch against the registry, recording the answer's headers and body. */
  fetch(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }>;
  /** Records text the test saw some other way (a WebSocket message, an error). */
  record(text: string): void;
  log(): string;
  /**
   * Runs every planted tool once as `agent` and checks the peer received the real secrets (so the
   * canaries were in play); returns the executions.
   */
  exercise(agent: string): Promise<ExecutionView[]>;
  /** Where canaries leaked: one line per (canary, place). Empty when none did. */
  leaks(): Promise<string[]>;
  /** Fails the test when a canary leaked, and checks the sweep saw something. */
  expectNoLeaks(): Promise<void>;
  close(): Promise<void>;
}

/** Every form in which a secret could come back: raw, URL-, form- and JSON-encoded, base64. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
  ];
}

interface CanaryPeer {
  url: string;
  requests: Watch['peerRequests'];
  server: Server;
  accessToken: string;
}

/** The canary peer: a manual of echoing tools, an echo, a failing echo, and an OAuth token endpoint. */
async function canaryPeer(accessToken: string): Promise<CanaryPeer> {
  const requests: Watch['peerRequests'] = [];
  let url = '';
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '/').split('?')[0]!;
      const send = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      const echo = { method: req.method, url: req.url, headers: req.headers, body };
      if (path === '/manual') {
        const tool = (name: string, route: string, method: string, extra: Record<string, unknown> = {}) => ({
          name,
          description: `Echoes what it receives (${name})`,
          inputs: { type: 'object', properties: { q: { type: 'string' }, body: {} } },
          outputs: { type: 'object' },
          tool_call_template: { call_template_type: 'http', url: `${url}${route}`, http_method: method, ...extra },
        });
        return send(200, {
          utcp_version: '1.1.0',
          manual_version: '1.0.0',
          tools: [tool('echo', '/echo', 'GET'), tool('post', '/echo', 'POST', { body_field: 'body' }), tool('fail', '/fail', 'GET')],
        });
      }
      if (path === '/token') return send(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600 });
      if (path === '/echo') return send(200, echo);
      if (path === '/fail') return send(500, { error: 'refused', echo });
      return send(404, { error: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, server, accessToken };
}

const REGISTER = `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id name } created userErrors { field message code } } }`;

/**
 * Starts a registry (127.0.0.1 reachable, so the peers of the test are) with canary credentials
 * planted through `registerProvider`, as a publisher would.
 */
export async function watchedRegistry(options: StartOptions = {}): Promise<Watch> {
  const canaries: string[] = [BOOTSTRAP.clientSecret];
  const canary = (label: string) => {
    const value = `canary-${label}-${randomBytes(9).toString('hex')}`;
    canaries.push(value);
    return value;
  };
  let logged = '';
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const seen: string[] = [];
  const registry = await startRegistry({
    ...options,
    logStream,
    // The canary peers listen on loopback over plain HTTP: allowed as a private address, and in
    // production (hostile-graphql runs that way) as a plain-text host.
    env: { LOG_LEVEL: 'debug', REGISTRY_EGRESS_ALLOW: '127.0.0.1/32', REGISTRY_PLAINTEXT_ALLOW: '127.0.0.1', ...options.env },
  });
  const peer = await canaryPeer(canary('oauth-access-token'));

  const gql: Watch['gql'] = async (query, variables, token = registry.viewerToken, headers = {}) => {
    const res = await registry.graphql(query, variables, { authorization: token ? `Bearer ${token}` : '', ...headers });
    seen.push(JSON.stringify({ data: res.data, errors: res.errors, extensions: res.extensions }), JSON.stringify(Object.fromEntries(res.headers)));
    return res as never;
  };

  const publisher = await registry.login({ roles: ['publisher'] });
  const plant = async (name: string, credential: Record<string, string>) => {
    const res = await gql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
      REGISTER,
      { input: { name, callTemplate: { call_template_type: 'http', url: `${peer.url}/manual`, http_method: 'GET' }, credential } },
      publisher,
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    return res.data!.registerProvider.created;
  };
  const username = canary('basic-user');
  const password = canary('basic-password');
  canaries.push(`${username}:${password}`);
  const plantedTools = [
    ...(await plant('canary_key', { authType: 'api_key', apiKey: canary('header-key'), varName: 'X-Api-Key', location: 'header' })),
    ...(await plant('canary_query', { authType: 'api_key', apiKey: canary('query-key'), varName: 'key', location: 'query' })),
    ...(await plant('canary_basic', { authType: 'basic', username, password })),
    ...(await plant('canary_oauth', { authType: 'oauth2', tokenUrl: `${peer.url}/token`, clientId: 'canary-client', clientSecret: canary('oauth-client-secret') })),
  ].sort();

  const dump = async () => {
    const em = registry.db.fork();
    const tables = await em.execute<{ tablename: string }[]>(`select tablename from pg_tables where schemaname = 'public'`);
    const rows = await Promise.all(tables.map(({ tablename }) => em.execute(`select * from "${tablename}"`)));
    return tables.map((t, i) => ({ table: t.tablename, text: JSON.stringify(rows[i]) }));
  };

  const watch: Watch = {
    registry,
    peerUrl: peer.url,
    plantedTools,
    peerRequests: peer.requests,
    canary,
    gql,
    async fetch(path, init = {}) {
      const response = await fetch(`${registry.url}${path}`, init);
      const text = await response.text();
      seen.push(JSON.stringify(Object.fromEntries(response.headers)), text);
      return { status: response.status, headers: response.headers, text };
    },
    record: (text) => void seen.push(text),
    log: () => logged,
    async leaks() {
      const tables = await dump();
      const found: string[] = [];
      const responses = seen.join('\n');
      const around = (text: string, form: string) => {
        const at = text.indexOf(form);
        return JSON.stringify(text.slice(Math.max(0, at - 120), at + form.length + 40));
      };
      for (const secret of canaries) {
        for (const form of forms(secret)) {
          if (responses.includes(form)) found.push(`${secret.slice(0, 24)}… in a response: ${around(responses, form)}`);
          const lines = logged.split('\n').filter((line) => line.includes(form));
          if (lines.length) found.push(`${secret.slice(0, 24)}… in ${lines.length} log line(s): ${lines[0]!.slice(0, 300)}`);
          for (const { table, text } of tables) if (text.includes(form)) found.push(`${secret.slice(0, 24)}… in table ${table}`);
        }
      }
      return [...new Set(found)];
    },
    async exercise(agent) {
      const executions: ExecutionView[] = [];
      for (const tool of plantedTools) {
        const args = tool.endsWith('.post') ? { body: { note: 'hi' } } : { q: 'hello' };
        const res = await gql<{ executeTool: ExecutionView }>(EXECUTE, { input: { tool, arguments: args } }, agent);
        expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
        const execution = res.data!.executeTool;
        // `fail` answers 500 (echoing the credential it received); the others succeed.
        expect(execution, JSON.stringify(execution)).toMatchObject(tool.endsWith('.fail') ? { status: 'FAILED', error: { code: 'EXECUTION_FAILED' } } : { status: 'SUCCEEDED' });
        executions.push(execution);
      }
      const received = JSON.stringify(peer.requests);
      for (const secret of [Buffer.from(`${username}:${password}`).toString('base64'), peer.accessToken, ...canaries.filter((c) => /header-key|query-key/.test(c))]) {
        expect(received, 'the peer received the planted secret').toContain(secret);
      }
      return executions;
    },
    async expectNoLeaks() {
      // The sweep must have had something to look at.
      expect(seen.length).toBeGreaterThan(10);
      expect(logged.length).toBeGreaterThan(1000);
      expect(await watch.leaks()).toEqual([]);
    },
    async close() {
      peer.server.closeAllConnections();
      await new Promise<void>((resolve) => peer.server.close(() => resolve()));
      await registry.close();
    },
  };
  return watch;
}

/** The `executeTool` mutation with every field of the execution. */
export const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) {
  id toolName status arguments result error { code message details } outputValid durationMs decision } }`;

/** An execution as {@link EXECUTE} returns it. */
export interface ExecutionView {
  id: string;
  toolName: string;
  status: string;
  arguments: unknown;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
  outputValid: boolean | null;
  durationMs: number | null;
}
