import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import type { ExecutionRequest } from '../../src/executors/executor.types.js';
import { clearOAuthTokenCache, executeHttp } from '../../src/executors/http.executor.js';
import type { EgressPolicy } from '../../src/security/egress.js';
import { rejectionOf } from '../helpers/errors.js';
import { executionRequest } from '../helpers/factories.js';

const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };

const API_KEY = 'sk-live-apikey-0123456789';
const PASSWORD = 'pa55-w0rd-very-secret';
const CLIENT_SECRET = 'client-secret-abcdef987';

interface Peer {
  origin: string;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  connections: () => number;
}

interface Echo {
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string>;
  cookies: Record<string, string>;
  body: string;
}

const servers: Server[] = [];
/** Every error message seen by any test, checked for secrets at the end of each test. */
const messages: string[] = [];

afterEach(async () => {
  vi.useRealTimers();
  clearOAuthTokenCache();
  for (const message of messages.splice(0)) {
    for (const secret of [API_KEY, PASSWORD, CLIENT_SECRET, 'tok-', Buffer.from(`alice:${PASSWORD}`).toString('base64')]) {
      expect(message).not.toContain(secret);
    }
  }
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function startPeer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => unknown): Promise<Peer> {
  const requests: Peer['requests'] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      void handler(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, requests, connections: () => connections };
}

/** Answers with what it received; `x-respond-status` picks the status. */
function echoPeer(): Promise<Peer> {
  return startPeer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://peer');
    const query: Record<string, string[]> = {};
    for (const [name, value] of url.searchParams) (query[name] ??= []).push(value);
    const cookies: Record<string, string> = {};
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name) cookies[name] = rest.join('=');
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
    const echo: Echo = { method: req.method ?? '', path: url.pathname, query, headers, cookies, body };
    res.statusCode = Number(req.headers['x-respond-status'] ?? 200);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(echo));
  });
}

function call(template: Record<string, unknown>, args: Record<string, unknown> = {}, extra: Partial<ExecutionRequest> = {}) {
  return executeHttp(executionRequest('test.tool', 'http', template, args, extra));
}

async function echoed(template: Record<string, unknown>, args: Record<string, unknown> = {}): Promise<Echo> {
  const outcome = await call(template, args);
  return outcome.result as Echo;
}

async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await rejectionOf(promise);
  messages.push(error.message, JSON.stringify(error.extensions));
  return error;
}

describe('executeHttp', () => {
  it('substitutes encoded path parameters and sends the other arguments as query parameters', async () => {
    const peer = await echoPeer();
    const outcome = await call(
      { url: `${peer.origin}/items/{id}/sub/{kind}`, http_method: 'GET' },
      { id: 'a/b c?d#e', kind: "x'(y)", tag: ['one', 'two'], limit: 5, flag: true, filter: { a: 1 }, skip: null },
    );
    const echo = outcome.result as Echo;
    expect(echo.method).toBe('GET');
    expect(peer.requests[0]!.url.split('?')[0]).toBe('/items/a%2Fb%20c%3Fd%23e/sub/x%27%28y%29');
    expect(echo.query).toEqual({ tag: ['one', 'two'], limit: ['5'], flag: ['true'], filter: ['{"a":1}'] });
    expect(echo.body).toBe('');
    expect(echo.headers['content-type']).toBeUndefined();
    expect(outcome.bytes).toBe(Buffer.byteLength(JSON.stringify(echo)));
  });

  it('refuses a call missing a path parameter', async () => {
    const peer = await echoPeer();
    const error = await failure(call({ url: `${peer.origin}/items/{id}` }, {}));
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toContain('"id"');
    expect(peer.requests).toHaveLength(0);
  });

  it('sends the body_field argument as a JSON body, header_fields as headers and the template headers', async () => {
    const peer = await echoPeer();
    const echo = await echoed(
      {
        url: `${peer.origin}/things`,
        http_method: 'POST',
        body_field: 'payload',
        header_fields: ['X-Request-Id'],
        headers: { 'X-Static': 'static-value' },
      },
      { payload: { name: 'n', list: [1, 2] }, 'X-Request-Id': 'req-42', q: 'x' },
    );
    expect(echo.method).toBe('POST');
    expect(JSON.parse(echo.body)).toEqual({ name: 'n', list: [1, 2] });
    expect(echo.headers['content-type']).toBe('application/json');
    expect(echo.headers['x-request-id']).toBe('req-42');
    expect(echo.headers['x-static']).toBe('static-value');
    expect(echo.query).toEqual({ q: ['x'] });
  });

  it('uses the default body field "body" and encodes form-urlencoded and text bodies', async () => {
    const peer = await echoPeer();
    const form = await echoed(
      { url: `${peer.origin}/form`, http_method: 'PUT', content_type: 'application/x-www-form-urlencoded' },
      { body: { a: 'x y', b: ['1', '2'], c: { d: true } } },
    );
    expect(form.method).toBe('PUT');
    expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(form.body).toBe('a=x+y&b=1&b=2&c=%7B%22d%22%3Atrue%7D');

    const text = await echoed({ url: `${peer.origin}/text`, http_method: 'POST', content_type: 'text/plain' }, { body: 'hello world' });
    expect(text.headers['content-type']).toBe('text/plain');
    expect(text.body).toBe('hello world');

    // A Content-Type among the template headers wins over content_type.
    const custom = await echoed(
      { url: `${peer.origin}/j`, http_method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' } },
      { body: { a: null } },
    );
    expect(custom.headers['content-type']).toBe('application/merge-patch+json');
    expect(custom.body).toBe('{"a":null}');
  });

  it('returns JSON when the body parses as JSON, and text otherwise', async () => {
    const peer = await startPeer((req, res) => {
      if (req.url === '/json-as-text') {
        res.setHeader('content-type', 'text/plain');
        res.end('[1,2]');
      } else {
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end('plain ü');
      }
    });
    expect(await call({ url: `${peer.origin}/json-as-text` })).toEqual({ result: [1, 2], bytes: 5 });
    expect(await call({ url: `${peer.origin}/plain` })).toEqual({ result: 'plain ü', bytes: Buffer.byteLength('plain ü') });
  });

  it('applies api_key auth in a header, the query or a cookie', async () => {
    const peer = await echoPeer();
    const url = `${peer.origin}/k`;
    const header = await echoed({ url, auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' } });
    expect(header.headers['x-api-key']).toBe(API_KEY);
    const query = await echoed({ url, auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'api_key', location: 'query' } }, { other: 1 });
    expect(query.query).toEqual({ other: ['1'], api_key: [API_KEY] });
    const cookie = await echoed({
      url,
      headers: { Cookie: 'session=s1' },
      auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'key', location: 'cookie' },
    });
    expect(cookie.cookies).toEqual({ session: 's1', key: API_KEY });
    // UTCP defaults: header X-Api-Key.
    const defaults = await echoed({ url, auth: { auth_type: 'api_key', api_key: API_KEY } });
    expect(defaults.headers['x-api-key']).toBe(API_KEY);
  });

  it('applies basic auth as an Authorization header', async () => {
    const peer = await echoPeer();
    const echo = await echoed({ url: `${peer.origin}/b`, auth: { auth_type: 'basic', username: 'alice', password: PASSWORD } });
    expect(echo.headers.authorization).toBe(`Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`);
  });

  it('fetches an oauth2 client-credentials token once, reuses it, and fetches again after it expires', async () => {
    let issued = 0;
    const tokenServer = await startPeer((_req, res, body) => {
      const form = new URLSearchParams(body);
      res.setHeader('content-type', 'application/json');
      if (form.get('client_id') !== 'cid' || form.get('client_secret') !== CLIENT_SECRET || form.get('grant_type') !== 'client_credentials') {
        res.statusCode = 401;
        res.end('{"error":"invalid_client"}');
        return;
      }
      issued++;
      res.end(JSON.stringify({ access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600, scope: form.get('scope') }));
    });
    const peer = await echoPeer();
    const template = {
      url: `${peer.origin}/o`,
      auth: { auth_type: 'oauth2', token_url: `${tokenServer.origin}/token`, client_id: 'cid', client_secret: CLIENT_SECRET, scope: 'read' },
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));

    expect((await echoed(template)).headers.authorization).toBe('Bearer tok-1');
    expect((await echoed(template)).headers.authorization).toBe('Bearer tok-1');
    expect(issued).toBe(1);
    expect(new URLSearchParams(tokenServer.requests[0]!.body).get('scope')).toBe('read');
    expect(tokenServer.requests[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');

    // Shortly before expires_in the token is refreshed.
    vi.setSystemTime(new Date('2026-01-01T00:59:45Z'));
    expect((await echoed(template)).headers.authorization).toBe('Bearer tok-2');
    expect(issued).toBe(2);

    // Another scope is another token.
    expect((await echoed({ ...template, auth: { ...template.auth, scope: 'write' } })).headers.authorization).toBe('Bearer tok-3');
    // A wrong secret never reuses the cached token.
    const error = await failure(call({ ...template, auth: { ...template.auth, client_secret: 'wrong-secret-xyz' } }));
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.message).toContain('OAuth2 token request');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).not.toContain('wrong-secret-xyz');
    expect(peer.requests).toHaveLength(4);
  });

  it('falls back to HTTP Basic client credentials when the token endpoint refuses them in the body', async () => {
    const tokenServer = await startPeer((req, res, body) => {
      res.setHeader('content-type', 'application/json');
      const expected = `Basic ${Buffer.from(`cid:${CLIENT_SECRET}`).toString('base64')}`;
      if (req.headers.authorization !== expected || new URLSearchParams(body).has('client_secret')) {
        res.statusCode = 401;
        res.end('{"error":"invalid_client"}');
        return;
      }
      res.end(JSON.stringify({ access_token: 'tok-basic', expires_in: 600 }));
    });
    const peer = await echoPeer();
    const template = {
      url: `${peer.origin}/o`,
      auth: { auth_type: 'oauth2', token_url: `${tokenServer.origin}/token`, client_id: 'cid', client_secret: CLIENT_SECRET },
    };
    expect((await echoed(template)).headers.authorization).toBe('Bearer tok-basic');
    expect((await echoed(template)).headers.authorization).toBe('Bearer tok-basic');
    expect(tokenServer.requests).toHaveLength(2);
    expect(new URLSearchParams(tokenServer.requests[1]!.body).get('grant_type')).toBe('client_credentials');
  });

  it('turns a non-2xx answer into EXECUTION_FAILED with the status and a truncated, redacted body', async () => {
    const peer = await echoPeer();
    const error = await failure(
      call(
        {
          url: `${peer.origin}/secret-path/{id}`,
          headers: { 'x-respond-status': '403' },
          auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'api_key', location: 'query' },
        },
        { id: 'ident', q: 'query-value' },
      ),
    );
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions.status).toBe(403);
    expect(error.message).toContain('HTTP 403');
    // The echoed body carries the key; the message does not.
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain(API_KEY);

    for (const auth of [
      { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Key', location: 'header' },
      { auth_type: 'api_key', api_key: API_KEY, var_name: 'k', location: 'cookie' },
      { auth_type: 'basic', username: 'alice', password: PASSWORD },
    ]) {
      const denied = await failure(call({ url: `${peer.origin}/p`, headers: { 'x-respond-status': '401' }, auth }));
      expect(denied.extensions.status).toBe(401);
    }

    const long = await startPeer((_req, res) => {
      res.statusCode = 500;
      res.end('e'.repeat(5000));
    });
    const truncated = await failure(call({ url: `${long.origin}/x?token=abc` }, { other: 'q-arg' }));
    expect(truncated.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(truncated.message).toContain('HTTP 500');
    expect(truncated.message.match(/e+/g)!.reduce((max, run) => Math.max(max, run.length), 0)).toBe(500);
    expect(truncated.message).not.toContain('token=abc');
    expect(truncated.message).not.toContain('q-arg');
  });

  it('refuses link-local and non-allow-listed loopback URLs without a request', async () => {
    const peer = await echoPeer();
    const metadata = await failure(call({ url: 'http://169.254.169.254/latest/meta-data/{p}' }, { p: 'iam' }));
    expect(metadata.code).toBe(ErrorCode.EGRESS_DENIED);
    const loopback = await failure(call({ url: `${peer.origin}/x` }, {}, { egress: NONE }));
    expect(loopback.code).toBe(ErrorCode.EGRESS_DENIED);
    const oauth = await failure(
      call(
        { url: 'https://api.example.com/x', auth: { auth_type: 'oauth2', token_url: `${peer.origin}/token`, client_id: 'c', client_secret: CLIENT_SECRET } },
        {},
        { egress: NONE },
      ),
    );
    expect(oauth.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(peer.connections()).toBe(0);
  });

  it('times out on a hanging peer and refuses a response over maxBytes', async () => {
    const hanging = await startPeer(() => {});
    const started = performance.now();
    const timeout = await failure(call({ url: `${hanging.origin}/slow` }, {}, { timeoutMs: 200 }));
    expect(timeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(performance.now() - started).toBeLessThan(2000);

    const huge = await startPeer((_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024, 'x')));
    const tooLarge = await failure(call({ url: `${huge.origin}/big` }, {}, { maxBytes: 1024 }));
    expect(tooLarge.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
  });

  it('is cancelled through request.signal', async () => {
    const hanging = await startPeer(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const cancelled = await failure(call({ url: `${hanging.origin}/slow` }, {}, { timeoutMs: 5000, signal: controller.signal }));
    expect(cancelled.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(cancelled.message).toContain('cancelled');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(hanging.requests).toHaveLength(1);

    const already = await failure(call({ url: `${hanging.origin}/slow` }, {}, { signal: AbortSignal.abort() }));
    expect(already.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(hanging.requests).toHaveLength(1);
  });
});
