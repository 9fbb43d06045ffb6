import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, type RegistryError } from '../../src/errors.js';
import type { ExecutionRequest, Executor } from '../../src/executors/executor.types.js';
import { executeSse } from '../../src/executors/sse.executor.js';
import { executeStreamableHttp } from '../../src/executors/streamable-http.executor.js';
import type { EgressPolicy } from '../../src/security/egress.js';
import { rejectionOf } from '../helpers/errors.js';
import { httpPeer, type Peer } from '../helpers/peers/index.js';
import { executionRequest } from '../helpers/factories.js';

const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };
const API_KEY = 'sk-stream-secret-0123456789';
const STATIC_SECRET = 'static-header-secret-987';

/** What a peer received: method, path with query, headers and body. */
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface RecordingPeer extends Peer {
  received: Received[];
}

const peers: Peer[] = [];
/** Every error message and extensions seen, checked for secrets after each test. */
const messages: string[] = [];

afterEach(async () => {
  for (const message of messages.splice(0)) {
    expect(message).not.toContain(API_KEY);
    expect(message).not.toContain(STATIC_SECRET);
    expect(message).not.toContain('?');
  }
  await Promise.all(peers.splice(0).map((peer) => peer.close()));
});

async function peer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => unknown): Promise<RecordingPeer> {
  const received: Received[] = [];
  const started = await httpPeer((req, res, body) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    return handler(req, res, body);
  });
  peers.push(started);
  return Object.assign(started, { received });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function call(executor: Executor, type: string, template: Record<string, unknown>, args: Record<string, unknown> = {}, extra: Partial<ExecutionRequest> = {}) {
  return executor(executionRequest('feeds.tool', type, template, args, extra));
}

const sse = (template: Record<string, unknown>, args?: Record<string, unknown>, extra?: Partial<ExecutionRequest>) => call(executeSse, 'sse', template, args, extra);
const stream = (template: Record<string, unknown>, args?: Record<string, unknown>, extra?: Partial<ExecutionRequest>) =>
  call(executeStreamableHttp, 'streamable_http', template, args, extra);

async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await rejectionOf(promise);
  messages.push(error.message, JSON.stringify(error.extensions));
  return error;
}

/** A peer that answers every request with `status`, echoing the API key header into the body as a leaky server might. */
function refusingPeer(status: number): Promise<RecordingPeer> {
  return peer((req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end(`denied for key ${String(req.headers['x-api-key'])} ${STATIC_SECRET}`));
}

/** A peer that sends headers of `contentType` and then never anything else. */
function hangingPeer(contentType: string): Promise<RecordingPeer> {
  return peer((_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    res.flushHeaders();
  });
}

/** A peer that streams `piece` every few milliseconds until the client goes away. */
function floodingPeer(contentType: string, piece: string): Promise<RecordingPeer> {
  return peer((_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    const timer = setInterval(() => res.write(piece), 2);
    res.on('close', () => clearInterval(timer));
  });
}

describe('executeSse', () => {
  it('streams every event to onChunk in order while the stream is still open, and returns them all', async () => {
    let firstSeen!: () => void;
    const seen = new Promise<void>((resolve) => (firstSeen = resolve));
    const feed = await peer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.write(': comment\n\ndata: {"price": 1}\n\n');
      // The rest is only sent once the first event reached onChunk: a buffering executor never gets it.
      await seen;
      res.write('event: trade\ndata: {"price": 2,\ndata:  "side": "buy"}\n\n');
      res.write('id: 3\ndata: plain text\n\n');
      res.write('data: {"price"');
      await pause(20);
      res.end(': 3}\n\n');
    });
    const chunks: unknown[] = [];
    const outcome = await sse(
      { url: `${feed.url}/prices/{symbol}`, header_fields: ['X-Trace'], headers: { 'X-Static': 'yes' } },
      { symbol: 'AC ME', depth: 2, 'X-Trace': 't-1' },
      {
        onChunk: (chunk) => {
          chunks.push(chunk);
          if (chunks.length === 1) firstSeen();
        },
      },
    );
    const expected = [{ price: 1 }, { price: 2, side: 'buy' }, 'plain text', { price: 3 }];
    expect(chunks).toEqual(expected);
    expect(outcome.result).toEqual(expected);
    expect(outcome.bytes).toBeGreaterThan(60);
    const [request] = feed.received;
    expect(request!.method).toBe('GET');
    expect(request!.url).toBe('/prices/AC%20ME?depth=2');
    expect(request!.headers.accept).toBe('text/event-stream');
    expect(request!.headers['x-trace']).toBe('t-1');
    expect(request!.headers['x-static']).toBe('yes');
  });

  it('keeps only the events of event_type, counting events without a type as "message"', async () => {
    const feed = await peer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: tick\ndata: 1\n\ndata: 2\n\nevent: tick\ndata: 3\n\nevent: other\ndata: 4\n\n');
    });
    expect((await sse({ url: feed.url, event_type: 'tick' })).result).toEqual([1, 3]);
    expect((await sse({ url: feed.url, event_type: 'message' })).result).toEqual([2]);
    expect((await sse({ url: feed.url })).result).toEqual([1, 2, 3, 4]);
  });

  it('POSTs the body_field argument as JSON and applies api_key auth in a header', async () => {
    const feed = await peer((req, res) => {
      if (req.headers['x-api-key'] !== API_KEY) return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: ok\n\n');
    });
    const template = { url: `${feed.url}/ask`, body_field: 'question', auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' } };
    const outcome = await sse(template, { question: { text: 'why?' }, lang: 'en' });
    expect(outcome.result).toEqual(['ok']);
    const [request] = feed.received;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/ask?lang=en');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({ text: 'why?' });

    const wrongKey = await failure(sse({ ...template, auth: { ...template.auth, api_key: 'wrong-key-123' } }, { question: 'q' }));
    expect(wrongKey.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(wrongKey.extensions).toMatchObject({ reason: 'http_status', status: 401 });
  });

  it('turns a non-2xx answer into EXECUTION_FAILED with a redacted excerpt and refuses a 2xx that is not an event stream', async () => {
    const refusing = await refusingPeer(403);
    const error = await failure(
      sse({ url: `${refusing.url}/feed?token=abc`, headers: { 'X-Static': STATIC_SECRET }, auth: { auth_type: 'api_key', api_key: API_KEY } }, { q: 'x' }),
    );
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions).toMatchObject({ reason: 'http_status', status: 403 });
    expect(error.message).toContain('HTTP 403');
    expect(error.message).toContain('[redacted]');

    const jsonPeer = await peer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data": "x"}'));
    const chunks: unknown[] = [];
    const notStream = await failure(sse({ url: jsonPeer.url }, {}, { onChunk: (chunk) => chunks.push(chunk) }));
    expect(notStream.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(notStream.extensions.reason).toBe('protocol_error');
    expect(notStream.message).toContain('application/json');
    expect(chunks).toEqual([]);
  });

  it('refuses a loopback URL that is not allow-listed without connecting', async () => {
    const feed = await peer((_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: 1\n\n'));
    const error = await failure(sse({ url: `${feed.url}/x` }, {}, { egress: NONE }));
    expect(error.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(feed.received).toHaveLength(0);
  });

  it('times out on a stream that never ends and refuses one past maxBytes', async () => {
    const hanging = await hangingPeer('text/event-stream');
    const started = performance.now();
    const timeout = await failure(sse({ url: hanging.url }, {}, { timeoutMs: 200 }));
    expect(timeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(performance.now() - started).toBeLessThan(2000);

    const flooding = await floodingPeer('text/event-stream', `data: ${'x'.repeat(500)}\n\n`);
    const chunks: unknown[] = [];
    const tooLarge = await failure(sse({ url: flooding.url }, {}, { maxBytes: 4096, onChunk: (chunk) => chunks.push(chunk) }));
    expect(tooLarge.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.length).toBeLessThan(9);
  });

  it('is cancelled through request.signal mid-stream', async () => {
    const flooding = await floodingPeer('text/event-stream', 'data: tick\n\n');
    const controller = new AbortController();
    const chunks: unknown[] = [];
    const started = performance.now();
    const cancelled = await failure(
      sse({ url: flooding.url }, {}, { timeoutMs: 10_000, maxBytes: 10_000_000, signal: controller.signal, onChunk: (chunk) => chunks.push(chunk) === 3 && controller.abort() }),
    );
    expect(cancelled.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(cancelled.extensions.cancelled).toBe(true);
    expect(chunks).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(2000);

    const before = await failure(sse({ url: flooding.url }, {}, { signal: AbortSignal.abort() }));
    expect(before.extensions.cancelled).toBe(true);
    expect(flooding.received).toHaveLength(1);
  });
});

describe('executeStreamableHttp', () => {
  it('passes one chunk per NDJSON line to onChunk as the lines arrive, lines split across writes included', async () => {
    let firstSeen!: () => void;
    const seen = new Promise<void>((resolve) => (firstSeen = resolve));
    const logs = await peer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"line":1}\n');
      await seen;
      res.write('{"line":');
      await pause(20);
      res.write('2}\r\n\n["three"]\n');
      res.end('4');
    });
    const chunks: unknown[] = [];
    const outcome = await stream(
      { url: `${logs.url}/logs/{app}`, http_method: 'GET' },
      { app: 'api', since: '2026-01-01' },
      {
        onChunk: (chunk) => {
          chunks.push(chunk);
          if (chunks.length === 1) firstSeen();
        },
      },
    );
    expect(chunks).toEqual([{ line: 1 }, { line: 2 }, ['three'], 4]);
    expect(outcome.result).toEqual(chunks);
    expect(outcome.bytes).toBe(Buffer.byteLength('{"line":1}\n{"line":2}\r\n\n["three"]\n4'));
    expect(logs.received[0]!.url).toBe('/logs/api?since=2026-01-01');
  });

  it('reads application/jsonl the same way and a single JSON document as one value', async () => {
    const docs = await peer((req, res) => {
      if (req.url === '/jsonl') return res.writeHead(200, { 'content-type': 'application/jsonl' }).end('{"a":1}\n{"a":2}\n');
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.write('{"items": [1, ');
      res.end('2, 3], "done": true}');
    });
    expect((await stream({ url: `${docs.url}/jsonl` })).result).toEqual([{ a: 1 }, { a: 2 }]);
    const chunks: unknown[] = [];
    const outcome = await stream({ url: `${docs.url}/doc` }, {}, { onChunk: (chunk) => chunks.push(chunk) });
    expect(outcome.result).toEqual({ items: [1, 2, 3], done: true });
    expect(chunks).toEqual([{ items: [1, 2, 3], done: true }]);
  });

  it('passes other content as text chunks of at most chunk_size bytes, in order', async () => {
    const text = 'héllo wörld, streamed in pieces';
    const raw = await peer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.write(text.slice(0, 12));
      await pause(20);
      res.end(text.slice(12));
    });
    const chunks: string[] = [];
    const outcome = await stream({ url: raw.url, chunk_size: 5 }, {}, { onChunk: (chunk) => chunks.push(chunk as string) });
    expect(chunks.join('')).toBe(text);
    expect(outcome.result).toEqual(chunks);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(text) / 5));
    // A piece of 5 bytes plus at most the bytes of a character carried over from the piece before.
    for (const chunk of chunks) expect(Buffer.byteLength(chunk)).toBeLessThanOrEqual(6);
  });

  it('POSTs the body_field argument with the content_type, header_fields as headers, and api_key auth', async () => {
    const echo = await peer((req, res) => {
      if (req.headers['x-api-key'] !== API_KEY) return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('{"ok":true}\n');
    });
    const template = {
      url: `${echo.url}/run`,
      http_method: 'POST',
      content_type: 'application/json',
      body_field: 'job',
      header_fields: ['X-Tenant'],
      auth: { auth_type: 'api_key', api_key: API_KEY, var_name: 'X-Api-Key', location: 'header' },
    };
    const outcome = await stream(template, { job: { steps: [1, 2] }, 'X-Tenant': 'acme', verbose: true });
    expect(outcome.result).toEqual([{ ok: true }]);
    const [request] = echo.received;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/run?verbose=true');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['x-tenant']).toBe('acme');
    expect(JSON.parse(request!.body)).toEqual({ steps: [1, 2] });

    const getWithBody = await failure(stream({ ...template, http_method: 'GET' }, { job: {} }));
    expect(getWithBody.code).toBe(ErrorCode.BAD_USER_INPUT);
    const missingPath = await failure(stream({ ...template, url: `${echo.url}/run/{id}` }, {}));
    expect(missingPath.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(echo.received).toHaveLength(1);
  });

  it('fails with invalid_json on a line or document that is not JSON, and with http_status on non-2xx and redirects', async () => {
    const broken = await peer((req, res) => {
      if (req.url === '/lines') return res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(`{"a":1}\n{"a": ${API_KEY}\n`);
      if (req.url === '/redirect') return res.writeHead(302, { location: `/lines` }).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"unterminated": ');
    });
    const chunks: unknown[] = [];
    const line = await failure(stream({ url: `${broken.url}/lines` }, {}, { onChunk: (chunk) => chunks.push(chunk) }));
    expect(line.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(line.extensions.reason).toBe('invalid_json');
    expect(line.message).toContain('line 2');
    expect(chunks).toEqual([{ a: 1 }]);
    const document = await failure(stream({ url: `${broken.url}/doc` }));
    expect(document.extensions.reason).toBe('invalid_json');

    const redirect = await failure(stream({ url: `${broken.url}/redirect` }));
    expect(redirect.extensions).toMatchObject({ reason: 'http_status', status: 302 });
    expect(broken.received.map((request) => request.url)).toEqual(['/lines', '/doc', '/redirect']);

    const refusing = await refusingPeer(500);
    const status = await failure(stream({ url: refusing.url, headers: { 'X-Static': STATIC_SECRET }, auth: { auth_type: 'api_key', api_key: API_KEY } }));
    expect(status.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(status.extensions).toMatchObject({ reason: 'http_status', status: 500 });
    expect(status.message).toContain('[redacted]');
  });

  it('refuses a loopback URL that is not allow-listed, times out, caps the size and is cancellable', async () => {
    const hanging = await hangingPeer('application/x-ndjson');
    const denied = await failure(stream({ url: hanging.url }, {}, { egress: NONE }));
    expect(denied.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(hanging.received).toHaveLength(0);

    const timeout = await failure(stream({ url: hanging.url }, {}, { timeoutMs: 200 }));
    expect(timeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    // The template's own timeout (milliseconds) applies when it is the shorter one.
    const started = performance.now();
    const templateTimeout = await failure(stream({ url: hanging.url, timeout: 150 }, {}, { timeoutMs: 10_000 }));
    expect(templateTimeout.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(performance.now() - started).toBeLessThan(2000);

    const declared = await peer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(10_000)));
    expect((await failure(stream({ url: declared.url }, {}, { maxBytes: 1000 }))).code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    const flooding = await floodingPeer('application/x-ndjson', '{"n":1}\n');
    expect((await failure(stream({ url: flooding.url }, {}, { maxBytes: 2000 }))).code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);

    const controller = new AbortController();
    const cancelled = await failure(
      stream({ url: flooding.url }, {}, { timeoutMs: 10_000, maxBytes: 10_000_000, signal: controller.signal, onChunk: () => controller.abort() }),
    );
    expect(cancelled.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(cancelled.extensions.cancelled).toBe(true);
  });
});
