import { execFileSync } from 'node:child_process';
import type { LookupAddress } from 'node:dns';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import { boundedFetch, type BoundedFetchInit, closeEgressAgents, EgressDeniedError, type EgressLookup, type EgressPolicy } from '../../src/security/egress.js';
import { streamingFetch } from '../../src/executors/http.stream.js';
import { rejectionOf } from '../helpers/errors.js';

const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };
const LOOPBACK: EgressPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };

interface TestServer {
  origin: string;
  port: number;
  /** Every request received, in order. */
  requests: IncomingMessage[];
  /** TCP connections accepted, including those closed before a request was sent. */
  connections: () => number;
}

const servers: Server[] = [];

afterEach(async () => {
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

/** An HTTP server on 127.0.0.1, closed after each test. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => unknown): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    void handler(req, res);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, port, requests, connections: () => connections };
}

/** A resolver answering each host from a list of answers, one per call; the last answer repeats. */
function scriptedLookup(script: Record<string, string[]>): EgressLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const answers = script[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const address = answers[Math.min(calls.filter((h) => h === hostname).length, answers.length) - 1]!;
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  return Object.assign(lookup as unknown as EgressLookup, { calls });
}

async function failure(url: string, init: BoundedFetchInit): Promise<RegistryError> {
  return rejectionOf(boundedFetch(url, init));
}

/** Writes `chunk` until the client goes away or `limit` bytes are out, respecting backpressure. */
async function streamUntilClosed(res: ServerResponse, chunk: Buffer, limit: number): Promise<{ written: number; closed: boolean }> {
  let closed = false;
  const whenClosed = new Promise<void>((resolve) => res.once('close', resolve)).then(() => {
    closed = true;
  });
  let written = 0;
  while (!closed && written < limit) {
    written += chunk.length;
    if (!res.write(chunk)) await Promise.race([new Promise((resolve) => res.once('drain', resolve)), whenClosed]);
  }
  if (!closed) res.end();
  return { written, closed };
}

describe('boundedFetch', () => {
  it('refuses a loopback server unless its address is allow-listed, and then returns the whole response', async () => {
    const server = await startServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    const denied = await failure(`${server.origin}/tool?token=abc`, { timeoutMs: 2000, maxBytes: 1024, policy: NONE });
    expect(denied).toBeInstanceOf(EgressDeniedError);
    expect(denied.message).toBe('Outbound request to "127.0.0.1" denied: the address is in a non-public range (loopback) that is not allow-listed');
    expect(server.connections()).toBe(0);

    const response = await boundedFetch(`${server.origin}/tool?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
      timeoutMs: 2000,
      maxBytes: 1024,
      policy: LOOPBACK,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.body.toString()).toBe('{"ok":true}');
    expect(response.url).toBe(`${server.origin}/tool?x=1`);
    expect(server.requests.map((req) => `${req.method} ${req.url}`)).toEqual(['POST /tool?x=1']);
  });

  it('checks again at connect time, so a host that rebinds to loopback after the check is refused', async () => {
    const server = await startServer((_req, res) => res.end('internal'));
    // First answer (the pre-check) is public; the connect-time lookup gets loopback.
    const lookup = scriptedLookup({ 'rebind.test': ['93.184.215.14', '127.0.0.1'] });
    const error = await failure(`http://rebind.test:${server.port}/`, { timeoutMs: 2000, maxBytes: 1024, policy: NONE, lookup });
    expect(error).toBeInstanceOf(EgressDeniedError);
    expect(error.message).toContain('"rebind.test" denied: it resolves to an address in a non-public range (loopback)');
    expect(lookup.calls).toEqual(['rebind.test', 'rebind.test']);
    // Refused inside the connect-time lookup: not even a TCP connection was opened.
    await sleep(50);
    expect(server.connections()).toBe(0);
  });

  it('connects through the checked resolver to an allow-listed host name', async () => {
    const server = await startServer((req, res) => res.end(`hello ${req.headers.host}`));
    const lookup = scriptedLookup({ 'tools.internal.test': ['127.0.0.1'] });
    const policy: EgressPolicy = { allowHosts: ['*.internal.test'], allowCidrs: [] };
    const response = await boundedFetch(`http://tools.internal.test:${server.port}/`, { timeoutMs: 2000, maxBytes: 1024, policy, lookup });
    expect(response.body.toString()).toBe(`hello tools.internal.test:${server.port}`);
    expect(lookup.calls).toEqual(['tools.internal.test', 'tools.internal.test']);
  });

  it('gives up on a server that never answers once the timeout passes', async () => {
    const server = await startServer(() => {});
    const started = performance.now();
    const error = await failure(`${server.origin}/slow`, { timeoutMs: 200, maxBytes: 1024, policy: LOOPBACK });
    expect(error.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(error.message).toBe('Request to "127.0.0.1" timed out after 200 ms');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('applies the timeout to the whole response, so a trickling body cannot hold the call open', async () => {
    let outcome: Promise<{ written: number; closed: boolean }> | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      outcome = (async () => {
        let written = 0;
        let closed = false;
        res.once('close', () => (closed = true));
        for (let i = 0; i < 100 && !closed; i++) {
          res.write('x');
          written++;
          await sleep(100);
        }
        if (!closed) res.end();
        return { written, closed };
      })();
    });
    const started = performance.now();
    const error = await failure(`${server.origin}/trickle`, { timeoutMs: 500, maxBytes: 1024, policy: LOOPBACK });
    const elapsed = performance.now() - started;
    expect(error.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(2000);
    const { written, closed } = await outcome!;
    expect(closed).toBe(true);
    expect(written).toBeLessThan(20);
  });

  it('drops the connection once a streamed body passes the size cap, without reading the rest', async () => {
    const total = 64 * 1024 * 1024;
    let outcome: Promise<{ written: number; closed: boolean }> | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      outcome = streamUntilClosed(res, Buffer.alloc(16 * 1024, 1), total);
    });
    const error = await failure(`${server.origin}/big`, { timeoutMs: 10_000, maxBytes: 100_000, policy: LOOPBACK });
    expect(error.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect(error.message).toBe('Response from "127.0.0.1" exceeds 100000 bytes');
    const { written, closed } = await outcome!;
    expect(closed).toBe(true);
    expect(written).toBeLessThan(total / 4);
  });

  it('refuses a declared Content-Length over the cap before reading any body', async () => {
    let outcome: Promise<{ written: number; closed: boolean }> | undefined;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
      outcome = streamUntilClosed(res, Buffer.alloc(16 * 1024, 1), 50 * 1024 * 1024);
    });
    const error = await failure(`${server.origin}/big`, { timeoutMs: 10_000, maxBytes: 1024, policy: LOOPBACK });
    expect(error.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect((await outcome!).closed).toBe(true);
  });

  it('reads a body whole when it arrives as declared and when, decompressed, it is longer than its Content-Length', async () => {
    const text = 'a manual '.repeat(20_000);
    const packed = gzipSync(text);
    const server = await startServer((req, res) => {
      if (req.url === '/gzip') res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(packed.length) }).end(packed);
      else res.writeHead(200, { 'content-length': String(Buffer.byteLength(text)) }).end(text);
    });
    const init = { timeoutMs: 5000, maxBytes: 1024 * 1024, policy: LOOPBACK };
    const plain = await boundedFetch(`${server.origin}/plain`, init);
    expect(plain.body.toString('utf8')).toBe(text);
    // Decompressed, the body is far longer than the length its response declared.
    expect(packed.length).toBeLessThan(Buffer.byteLength(text) / 10);
    const decoded = await boundedFetch(`${server.origin}/gzip`, init);
    expect(decoded.body.toString('utf8')).toBe(text);
    // The cap applies to what was decompressed, not to the declared length.
    expect((await failure(`${server.origin}/gzip`, { ...init, maxBytes: 100_000 })).code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
  });

  it('decodes deflate, br and stacked answers as fetch does, an error answer too, and asks for them unless told otherwise', async () => {
    const text = JSON.stringify({ message: 'upstream says no '.repeat(200) });
    const server = await startServer((req, res) => {
      if (req.url === '/br') res.writeHead(200, { 'content-encoding': 'br' }).end(brotliCompressSync(text));
      else if (req.url === '/deflate-error') res.writeHead(502, { 'content-encoding': 'deflate', 'content-type': 'application/json' }).end(deflateSync(text));
      else if (req.url === '/gzip-over-br') res.writeHead(200, { 'content-encoding': 'br, gzip' }).end(gzipSync(brotliCompressSync(text)));
      else if (req.url === '/no-content') res.writeHead(204, { 'content-encoding': 'gzip' }).end();
      else if (req.url === '/six') res.writeHead(200, { 'content-encoding': 'gzip, gzip, gzip, gzip, gzip, gzip' }).end(text);
      else res.writeHead(200).end(text);
    });
    const init = { timeoutMs: 5000, maxBytes: 1024 * 1024, policy: LOOPBACK };
    expect((await boundedFetch(`${server.origin}/br`, init)).body.toString('utf8')).toBe(text);
    const error = await boundedFetch(`${server.origin}/deflate-error`, init);
    expect([error.status, error.body.toString('utf8')]).toEqual([502, text]);
    expect(server.requests[0]!.headers).toMatchObject({ accept: '*/*', 'accept-encoding': 'gzip, deflate, br', 'user-agent': 'tool-registry' });
    // Codings applied one over the other are undone last first; a bodiless answer is not decoded; six are refused.
    expect((await boundedFetch(`${server.origin}/gzip-over-br`, init)).body.toString('utf8')).toBe(text);
    expect((await boundedFetch(`${server.origin}/no-content`, init)).status).toBe(204);
    const stacked = await failure(`${server.origin}/six`, init);
    expect([stacked.code, stacked.message]).toEqual([ErrorCode.UPSTREAM_UNAVAILABLE, '"127.0.0.1" answered with more than 5 content codings']);
    // A request's own headers win over the defaults.
    await boundedFetch(`${server.origin}/plain`, { ...init, headers: { 'Accept-Encoding': 'identity', 'User-Agent': 'my-agent', Accept: 'application/json' } });
    expect(server.requests.at(-1)!.headers).toMatchObject({ accept: 'application/json', 'accept-encoding': 'identity', 'user-agent': 'my-agent' });
  });

  it('sends a body typed as fetch types it, and refuses the methods fetch refuses', async () => {
    const received: { type: string | undefined; length: string | undefined; body: string }[] = [];
    const server = await startServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received.push({ type: req.headers['content-type'], length: req.headers['content-length'], body: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
    const init = { timeoutMs: 5000, maxBytes: 1024, policy: LOOPBACK, method: 'POST' };
    await boundedFetch(server.origin, { ...init, body: 'plain words' });
    await boundedFetch(server.origin, { ...init, body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    await boundedFetch(server.origin, { ...init, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'a b' }) });
    await boundedFetch(server.origin, { ...init, body: new TextEncoder().encode('bytes') });
    expect(received).toEqual([
      { type: 'text/plain;charset=UTF-8', length: '11', body: 'plain words' },
      { type: 'application/json', length: '7', body: '{"a":1}' },
      { type: 'application/x-www-form-urlencoded;charset=UTF-8', length: '39', body: 'grant_type=client_credentials&scope=a+b' },
      { type: undefined, length: '5', body: 'bytes' },
    ]);
    const refused = await failure(server.origin, { ...init, method: 'TRACE' });
    expect([refused.code, refused.message]).toEqual([ErrorCode.UPSTREAM_UNAVAILABLE, 'The TRACE method is not sent to "127.0.0.1"']);
    expect(received).toHaveLength(4);
  });

  it('re-checks every redirect, refusing one to an address that is not allow-listed', async () => {
    const lookup = scriptedLookup({ 'db.internal.test': ['10.0.0.5'] });
    const server = await startServer((req, res) => {
      const target = req.url === '/metadata' ? 'http://169.254.169.254/latest/meta-data/iam/' : 'http://db.internal.test/';
      res.writeHead(302, { location: target }).end();
    });
    const metadata = await failure(`${server.origin}/metadata`, { timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK, lookup });
    expect(metadata).toBeInstanceOf(EgressDeniedError);
    expect(metadata.message).toBe('Outbound request to "169.254.169.254" denied: the address is in a non-public range (linkLocal) that is not allow-listed');
    const internal = await failure(`${server.origin}/dns`, { timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK, lookup });
    expect(internal).toBeInstanceOf(EgressDeniedError);
    expect(internal.message).toContain('"db.internal.test" denied');
    expect(server.requests).toHaveLength(2);
  });

  it('follows at most five redirects', async () => {
    const server = await startServer((req, res) => {
      const remaining = Number(req.url!.split('/')[2]);
      if (remaining === 0) res.end('arrived');
      else res.writeHead(remaining % 2 ? 301 : 307, { location: `/hops/${remaining - 1}` }).end();
    });
    const five = await boundedFetch(`${server.origin}/hops/5`, { timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(five.body.toString()).toBe('arrived');
    expect(five.url).toBe(`${server.origin}/hops/0`);
    expect(server.requests).toHaveLength(6);

    server.requests.length = 0;
    const six = await failure(`${server.origin}/hops/6`, { timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(six.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(six.message).toBe('Too many redirects from "127.0.0.1" (more than 5)');
    expect(server.requests).toHaveLength(6);
  });

  it('keeps credentials on a same-origin redirect and drops them on a cross-origin one', async () => {
    const other = await startServer((_req, res) => res.end('other'));
    const server = await startServer((req, res) => {
      if (req.url === '/same') res.writeHead(302, { location: '/landing' }).end();
      else if (req.url === '/cross') res.writeHead(307, { location: `${other.origin}/landing` }).end();
      else res.end('landing');
    });
    const headers = { authorization: 'Bearer s3cret', 'x-api-key': 'k3y', accept: 'text/plain' };
    await boundedFetch(`${server.origin}/same`, { headers, timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(server.requests[1]!.headers).toMatchObject(headers);
    const response = await boundedFetch(`${server.origin}/cross`, { headers, timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(response.body.toString()).toBe('other');
    expect(other.requests[0]!.headers.accept).toBe('text/plain');
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
    expect(other.requests[0]!.headers['x-api-key']).toBeUndefined();
  });

  it('turns a POST into a bodiless GET on 303, as fetch does', async () => {
    const bodies: string[] = [];
    const server = await startServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      bodies.push(`${req.method} ${req.url} ${body}`);
      if (req.url === '/submit') res.writeHead(303, { location: '/result' }).end();
      else res.end('done');
    });
    const response = await boundedFetch(`${server.origin}/submit`, { method: 'POST', body: 'a=1', timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(response.body.toString()).toBe('done');
    expect(bodies).toEqual(['POST /submit a=1', 'GET /result ']);
  });

  it('reports a refused connection as unavailable', async () => {
    const server = await startServer(() => {});
    const { port } = server;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const error = await failure(`http://127.0.0.1:${port}/`, { timeoutMs: 2000, maxBytes: 1024, policy: LOOPBACK });
    expect(error.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(error.message).toBe('Could not connect to "127.0.0.1": connection refused (ECONNREFUSED)');
    expect(error.extensions).toMatchObject({ host: '127.0.0.1', cause: 'ECONNREFUSED' });
  });

  it('names the host and the certificate problem of a TLS server it cannot trust, without the URL', { skip: !existsSync('/usr/bin/openssl') }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const server = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (_req, res) => res.end('{}'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server as unknown as Server);
      const { port } = server.address() as AddressInfo;
      const error = await failure(`https://127.0.0.1:${port}/manual.json?api_key=query-secret-123`, { timeoutMs: 5000, maxBytes: 1024, policy: LOOPBACK });
      expect(error.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.message).toBe('Could not connect to "127.0.0.1": its TLS certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)');
      expect(JSON.stringify(error.extensions)).not.toContain('query-secret-123');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the host that does not resolve', async () => {
    const lookup: EgressLookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND petstore.swagger.io'), { code: 'ENOTFOUND' });
    };
    const error = await failure('https://petstore.swagger.io/v2/swagger.json?api_key=query-secret-123', { timeoutMs: 2000, maxBytes: 1024, policy: NONE, lookup });
    expect(error.message).toBe('Could not resolve "petstore.swagger.io" (ENOTFOUND)');
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', host: 'petstore.swagger.io', cause: 'ENOTFOUND' });
  });
});

describe('boundedFetch over pooled keep-alive connections', () => {
  /** A policy of its own per test, so no test reuses another's pooled connections. */
  const loopbackPolicy = (): EgressPolicy => ({ allowHosts: [], allowCidrs: ['127.0.0.1/32'] });

  it('sends sequential requests to one origin over one TCP connection', async () => {
    const server = await startServer((req, res) => res.end(`answer to ${req.url}`));
    const policy = loopbackPolicy();
    const first = await boundedFetch(`${server.origin}/one`, { timeoutMs: 2000, maxBytes: 1024, policy });
    const second = await boundedFetch(`${server.origin}/two`, { timeoutMs: 2000, maxBytes: 1024, policy });
    expect([first.body.toString(), second.body.toString()]).toEqual(['answer to /one', 'answer to /two']);
    expect(server.requests.map((req) => req.url)).toEqual(['/one', '/two']);
    expect(server.connections()).toBe(1);
  });

  it('re-checks the host on every new connection, so a name that rebinds to a denied address after a pooled connection closes is refused', async () => {
    const server = await startServer((req, res) => {
      // The second answer closes the connection: the next request needs a new one.
      if (req.url === '/second') res.setHeader('connection', 'close');
      res.end(`answer to ${req.url}`);
    });
    // Calls: 1st request pre-check + connect, 2nd request pre-check only (pooled connection),
    // 3rd request pre-check, then the new connection's lookup answers a private address.
    const lookup = scriptedLookup({ 'pool.test': ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1', '10.0.0.5'] });
    const policy = loopbackPolicy();
    const init = { timeoutMs: 2000, maxBytes: 1024, policy, lookup };
    expect((await boundedFetch(`http://pool.test:${server.port}/first`, init)).body.toString()).toBe('answer to /first');
    expect(lookup.calls).toHaveLength(2);
    expect((await boundedFetch(`http://pool.test:${server.port}/second`, init)).body.toString()).toBe('answer to /second');
    expect(lookup.calls).toHaveLength(3);
    expect(server.connections()).toBe(1);

    const error = await failure(`http://pool.test:${server.port}/third`, init);
    expect(error).toBeInstanceOf(EgressDeniedError);
    expect(error.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(error.message).toContain('"pool.test" denied: it resolves to an address in a non-public range');
    expect(lookup.calls).toHaveLength(5);
    await sleep(50);
    expect(server.requests.map((req) => req.url)).toEqual(['/first', '/second']);
    expect(server.connections()).toBe(1);
  });

  it('drops a connection whose body passed the size cap instead of reusing it half-read', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        void streamUntilClosed(res, Buffer.alloc(16 * 1024, 7), 64 * 1024 * 1024);
      } else res.end(`answer to ${req.url}`);
    });
    const policy = loopbackPolicy();
    const init = { timeoutMs: 10_000, maxBytes: 100_000, policy };
    expect((await boundedFetch(`${server.origin}/small`, init)).body.toString()).toBe('answer to /small');
    expect((await failure(`${server.origin}/big`, init)).code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect(server.connections()).toBe(1);
    const after = await boundedFetch(`${server.origin}/after`, init);
    expect(after.status).toBe(200);
    expect(after.body.toString()).toBe('answer to /after');
    // The oversized response's connection was destroyed; the next request opened a fresh one.
    expect(server.connections()).toBe(2);
  });

  it('drops a connection aborted mid-body, and the next request gets a whole answer on a new connection', async () => {
    let started: () => void = () => {};
    const bodyStarted = new Promise<void>((resolve) => (started = resolve));
    const server = await startServer((req, res) => {
      if (req.url === '/slow') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial ');
        started();
        // Never ends: the caller aborts.
      } else res.end(`answer to ${req.url}`);
    });
    const policy = loopbackPolicy();
    expect((await boundedFetch(`${server.origin}/small`, { timeoutMs: 5000, maxBytes: 1024, policy })).body.toString()).toBe('answer to /small');
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const aborted = boundedFetch(`${server.origin}/slow`, { timeoutMs: 5000, maxBytes: 1024, policy, signal: controller.signal });
    await bodyStarted;
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(server.connections()).toBe(1);
    const after = await boundedFetch(`${server.origin}/after`, { timeoutMs: 5000, maxBytes: 1024, policy });
    expect(after.body.toString()).toBe('answer to /after');
    expect(server.connections()).toBe(2);
  });

  it('drops a connection whose body outlived the timeout', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/trickle') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial ');
      } else res.end(`answer to ${req.url}`);
    });
    const policy = loopbackPolicy();
    expect((await boundedFetch(`${server.origin}/small`, { timeoutMs: 5000, maxBytes: 1024, policy })).body.toString()).toBe('answer to /small');
    expect((await failure(`${server.origin}/trickle`, { timeoutMs: 300, maxBytes: 1024, policy })).code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    const after = await boundedFetch(`${server.origin}/after`, { timeoutMs: 5000, maxBytes: 1024, policy });
    expect(after.body.toString()).toBe('answer to /after');
    expect(server.connections()).toBe(2);
  });

  it('closes the pooled connections of a policy on shutdown', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const policy = loopbackPolicy();
    await boundedFetch(`${server.origin}/`, { timeoutMs: 2000, maxBytes: 1024, policy });
    expect(server.connections()).toBe(1);
    const socket = server.requests[0]!.socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(socket.destroyed).toBe(false);
    await closeEgressAgents(policy);
    // The idle keep-alive connection is closed from the registry's side.
    await closed;
    // A later request under the same policy gets a new agent and a new connection.
    await boundedFetch(`${server.origin}/`, { timeoutMs: 2000, maxBytes: 1024, policy });
    expect(server.connections()).toBe(2);
  });
});

describe('streamingFetch over pooled keep-alive connections', () => {
  const loopbackPolicy = (): EgressPolicy => ({ allowHosts: [], allowCidrs: ['127.0.0.1/32'] });

  /** Streams `url`, collecting the chunks of a 2xx body as text. */
  async function stream(url: string, init: { policy: EgressPolicy; maxBytes?: number; signal?: AbortSignal; onData?: (chunk: Uint8Array) => void }) {
    let text = '';
    const response = await streamingFetch(new URL(url), {
      method: 'GET',
      headers: new Headers(),
      timeoutMs: 5000,
      maxBytes: init.maxBytes ?? 100_000,
      policy: init.policy,
      ...(init.signal ? { signal: init.signal } : {}),
      onData: (chunk) => {
        text += Buffer.from(chunk).toString();
        init.onData?.(chunk);
      },
    });
    return { status: response.status, text };
  }

  /** `/events` answers a short event stream; `/endless` streams until the client goes away. */
  const streamServer = () =>
    startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (req.url === '/endless') void streamUntilClosed(res, Buffer.from('data: tick\n\n'.repeat(100)), 64 * 1024 * 1024);
      else res.end(`data: ${req.url}\n\n`);
    });

  it('reuses the connection of a stream read to its end', async () => {
    const server = await streamServer();
    const policy = loopbackPolicy();
    expect(await stream(`${server.origin}/events?n=1`, { policy })).toEqual({ status: 200, text: 'data: /events?n=1\n\n' });
    expect(await stream(`${server.origin}/events?n=2`, { policy })).toEqual({ status: 200, text: 'data: /events?n=2\n\n' });
    expect(server.connections()).toBe(1);
  });

  it('drops the connection of a stream that passed the size cap, and the next stream gets a whole answer on a new one', async () => {
    const server = await streamServer();
    const policy = loopbackPolicy();
    await stream(`${server.origin}/events?n=1`, { policy });
    const error = await rejectionOf(stream(`${server.origin}/endless`, { policy, maxBytes: 50_000 }));
    expect(error.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect(server.connections()).toBe(1);
    expect(await stream(`${server.origin}/events?n=2`, { policy })).toEqual({ status: 200, text: 'data: /events?n=2\n\n' });
    expect(server.connections()).toBe(2);
  });

  it('drops the connection of a stream aborted mid-body, and the next stream gets a whole answer on a new one', async () => {
    const server = await streamServer();
    const policy = loopbackPolicy();
    await stream(`${server.origin}/events?n=1`, { policy });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    await expect(stream(`${server.origin}/endless`, { policy, signal: controller.signal, onData: () => controller.abort(reason) })).rejects.toBe(reason);
    expect(server.connections()).toBe(1);
    expect(await stream(`${server.origin}/events?n=2`, { policy })).toEqual({ status: 200, text: 'data: /events?n=2\n\n' });
    expect(server.connections()).toBe(2);
  });
});
