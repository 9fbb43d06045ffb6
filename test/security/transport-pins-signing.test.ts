/**
 * Issue 20, parts 3 and 4: per-provider TLS pinning and RFC 9421 signed tool calls, against real TLS
 * peers started here. The CA and certificates are generated in the test (@peculiar/x509); the registry
 * runs as its own process trusting that CA through NODE_EXTRA_CA_CERTS (Node's documented way to add a
 * private CA), so certificate validation stays on. The verifying peer checks signatures with the
 * `http-message-signatures` library against the keys the registry publishes, checks Content-Digest
 * itself (RFC 9530) and refuses a nonce it has seen.
 */
import { createHash, createPublicKey, type JsonWebKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema, graphql } from 'graphql';
import { createVerifier, httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { manual, manualTool } from '../helpers/factories.js';
import { type RegistryProcess, spawnRegistry } from '../helpers/process.js';
import { createTestCa } from '../helpers/tls.js';

const ADMIN = { clientId: 'pins-admin', clientSecret: randomBytes(24).toString('base64url') };

interface Issued {
  cert: string;
  key: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo, computed here from the DER. */
  pin: string;
}

const pinOf = (pem: string) => createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

/** A CA, and server certificates for 127.0.0.1 it issues, each with a key of its own. */
async function testCa() {
  const ca = await createTestCa('Pinning Test CA');
  const issue = async (): Promise<Issued> => {
    const server = await ca.server();
    return { ...server, pin: pinOf(server.cert) };
  };
  return { pem: ca.cert, pin: pinOf(ca.cert), issue };
}

/** The GraphQL provider's schema: one query that says the call's signature verified. */
const WHOAMI_SCHEMA = buildSchema('type Who { verified: Boolean } type Query { whoami: Who }');

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * The provider: an HTTPS server (and WSS on the same port) that serves a manual, and a tool that
 * answers only a call whose RFC 9421 signature verifies under the registry's published keys, whose
 * Content-Digest matches the body, and whose nonce it has not seen.
 */
function startProvider(first: Issued, jwksUrl: () => string) {
  const received: Received[] = [];
  const nonces = new Set<string>();
  const wsMessages: string[] = [];
  let toolOrigin = '';

  async function verify(req: Received): Promise<string | null> {
    const digest = req.headers['content-digest'];
    if (digest !== `sha-256=:${createHash('sha256').update(req.body).digest('base64')}:`) return 'content-digest does not match the body';
    const { keys } = (await (await fetch(jwksUrl())).json()) as { keys: (JsonWebKey & { kid: string })[] };
    let params: { nonce?: unknown } = {};
    const ok = await httpbis.verifyMessage(
      {
        keyLookup: async (parameters) => {
          params = parameters;
          const jwk = keys.find((key) => key.kid === parameters.keyid);
          return jwk ? { id: jwk.kid, algs: ['ed25519'], verify: createVerifier(createPublicKey({ key: jwk, format: 'jwk' }), 'ed25519') } : null;
        },
        requiredFields: ['@method', '@target-uri', 'content-digest', 'date'],
        requiredParams: ['created', 'keyid', 'alg', 'nonce'],
        maxAge: 300,
      },
      { method: req.method, url: `${toolOrigin}${req.path}`, headers: req.headers as Record<string, string> },
    ).catch(() => false);
    if (!ok) return 'signature does not verify';
    const nonce = String(params.nonce);
    if (nonces.has(nonce)) return 'nonce replayed';
    nonces.add(nonce);
    return null;
  }

  const server: Server = createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      // A new TLS handshake for every request, so a certificate change shows on the next call.
      res.setHeader('connection', 'close');
      res.setHeader('content-type', 'application/json');
      if (req.url === '/manual.json') {
        res.end(
          JSON.stringify(
            manual([
              manualTool({
                name: 'echo',
                inputs: { type: 'object', properties: { text: { type: 'string' } } },
                tool_call_template: { call_template_type: 'http', url: `${toolOrigin}/echo`, http_method: 'POST', body_field: 'text' },
              }),
              manualTool({ name: 'feed', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'sse', url: `${toolOrigin}/feed` } }),
              manualTool({ name: 'plain', inputs: { type: 'object' }, tool_call_template: { call_template_type: 'http', url: `${toolOrigin}/plain`, http_method: 'GET' } }),
              manualTool({ name: 'tail', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'streamable_http', url: `${toolOrigin}/tail`, http_method: 'GET' } }),
              manualTool({ name: 'whoami', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'graphql', url: `${toolOrigin}/graphql`, operation_type: 'query' } }),
              manualTool({
                name: 'say',
                inputs: { type: 'object', properties: { text: { type: 'string' } } },
                tool_call_template: { call_template_type: 'websocket', url: `${toolOrigin.replace('https:', 'wss:')}/ws` },
              }),
            ]),
          ),
        );
        return;
      }
      if (req.url === '/plain') {
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      void verify(request).then((problem) => {
        res.statusCode = problem ? 401 : 200;
        if (!problem && req.url === '/feed') {
          res.setHeader('content-type', 'text/event-stream');
          res.end('data: {"verified":true}\n\n');
          return;
        }
        if (!problem && req.url === '/tail') {
          res.setHeader('content-type', 'application/x-ndjson');
          res.end('{"verified":true}\n');
          return;
        }
        if (!problem && req.url === '/graphql') {
          // A real GraphQL endpoint: the executor introspects it (signed too), then sends the query.
          const { query, variables } = JSON.parse(request.body) as { query: string; variables?: Record<string, unknown> };
          void graphql({ schema: WHOAMI_SCHEMA, source: query, variableValues: variables, rootValue: { whoami: { verified: true } } }).then((result) => res.end(JSON.stringify(result)));
          return;
        }
        res.end(JSON.stringify(problem ? { error: problem } : { verified: true, body: request.body }));
      });
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.on('message', (data) => {
    wsMessages.push(data.toString());
    socket.send(JSON.stringify({ heard: data.toString().length }));
  }));
  return {
    received,
    wsMessages,
    nonces,
    useCertificate: (issued: Issued) => server.setSecureContext({ cert: issued.cert, key: issued.key }),
    listen: async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      toolOrigin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return toolOrigin;
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let dir: string;
let db: TestDatabase;
let registry: RegistryProcess;
let provider: ReturnType<typeof startProvider>;
let origin: string;
let token: string;
let ca: Awaited<ReturnType<typeof testCa>>;
let certA: Issued;
let certB: Issued;
let providerId: string;

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const res = await fetch(`${registry.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: T; errors?: { message: string }[] };
}

interface Execution {
  status: string;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
}
async function call(tool: string, args: Record<string, unknown> = {}): Promise<Execution> {
  const res = await gql<{ executeTool: Execution }>(
    'mutation($input: ExecuteToolInput!) { executeTool(input: $input) { status result error { code message details } } }',
    { input: { tool, arguments: args } },
  );
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

async function setPins(tlsPins: string[], requestSigning?: 'OFF' | 'SIGN') {
  const res = await gql<{ setProviderTransportSecurity: { provider: { tlsPins: string[]; tlsPinFailure: unknown } | null; userErrors: unknown[] } }>(
    `mutation($input: SetProviderTransportSecurityInput!) { setProviderTransportSecurity(input: $input) { provider { tlsPins requestSigning tlsPinFailure { at host } } userErrors { code message } } }`,
    { input: { id: providerId, tlsPins, ...(requestSigning ? { requestSigning } : {}) } },
  );
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.setProviderTransportSecurity;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pins-'));
  ca = await testCa();
  [certA, certB] = await Promise.all([ca.issue(), ca.issue()]);
  await writeFile(join(dir, 'ca.pem'), ca.pem);
  provider = startProvider(certA, () => `${registry.url}/.well-known/request-signing-keys.json`);
  origin = await provider.listen();
  db = await createTestDatabase();
  const database: Record<string, string> =
    db.config.kind === 'postgresql'
      ? { DATABASE_URL: db.config.url, REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]), REGISTRY_MASTER_KEY: randomBytes(32).toString('base64') }
      : {};
  registry = await spawnRegistry(process.execPath, ['dist/src/main.js'], {
    ...database,
    NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
    REGISTRY_EGRESS_ALLOW: '127.0.0.1',
    REGISTRY_SEED: 'none',
    REGISTRY_AUDIT_CHECKPOINT_SECONDS: '0',
    REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId,
    REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret,
  }, 170_000);
  const tokenRes = await fetch(`${registry.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: ADMIN.clientId, client_secret: ADMIN.clientSecret }),
  });
  token = ((await tokenRes.json()) as { access_token: string }).access_token;
}, 240_000);

afterAll(async () => {
  if (registry) {
    process.kill(-registry.child.pid!, 'SIGTERM');
    await registry.exited;
  }
  await provider?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('TLS pinning and signed tool calls (issue 20)', () => {
  it('registers a pinned, signing provider over HTTPS, discovering through the pin, and shows both on Provider', async () => {
    const res = await gql<{ registerProvider: { provider: { id: string; tlsPins: string[]; requestSigning: string; tlsPinFailure: unknown }; created: string[]; userErrors: unknown[] } }>(
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id tlsPins requestSigning tlsPinFailure { host } } created userErrors { code message } } }`,
      { input: { name: 'pinned', callTemplate: { call_template_type: 'http', url: `${origin}/manual.json`, http_method: 'GET' }, tlsPins: [certA.pin], requestSigning: 'SIGN' } },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.created.sort()).toEqual(['pinned.echo', 'pinned.feed', 'pinned.plain', 'pinned.say', 'pinned.tail', 'pinned.whoami']);
    expect(res.data!.registerProvider.provider).toMatchObject({ tlsPins: [certA.pin], requestSigning: 'SIGN', tlsPinFailure: null });
    providerId = res.data!.registerProvider.provider.id;
  });

  it('refuses a malformed pin with BAD_USER_INPUT', async () => {
    const result = await setPins(['not-a-pin']);
    expect(result.userErrors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT' })]);
  });

  it('sends a signed call the provider verifies against /.well-known/request-signing-keys.json (pin matches)', async () => {
    const execution = await call('pinned.echo', { text: 'hello' });
    expect(execution, JSON.stringify(execution.error)).toMatchObject({ status: 'SUCCEEDED', result: { verified: true } });
    const sent = provider.received.filter((r) => r.path === '/echo').at(-1)!;
    expect(sent.headers['signature-input']).toMatch(/^registry=\("@method" "@target-uri" "content-digest" "date"\);created=\d+;keyid="[^"]+";alg="ed25519";nonce="[A-Za-z0-9_-]{22}"$/);
    expect(sent.headers.signature).toMatch(/^registry=:[A-Za-z0-9+/]+=*:$/);
    // Request-signing keys are published apart from the token keys, so no token verifier trusts them.
    const tokenKeys = (await (await fetch(`${registry.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const requestKeys = (await (await fetch(`${registry.url}/.well-known/request-signing-keys.json`)).json()) as { keys: { kid: string; use: string; alg: string }[] };
    expect(requestKeys.keys[0]).toMatchObject({ use: 'sig', alg: 'EdDSA', crv: 'Ed25519' });
    expect(tokenKeys.keys.map((k) => k.kid)).not.toContain(requestKeys.keys[0]!.kid);
  });

  it('signs streamed (sse) calls the same way', async () => {
    const execution = await call('pinned.feed');
    expect(execution, JSON.stringify(execution.error)).toMatchObject({ status: 'SUCCEEDED' });
    expect(provider.received.filter((r) => r.path === '/feed').at(-1)!.headers['signature-input']).toMatch(/^registry=\("@method" "@target-uri" "content-digest" "date"\)/);
  });

  it('signs streamable_http and graphql calls the same way', async () => {
    for (const [tool, path] of [['pinned.tail', '/tail'], ['pinned.whoami', '/graphql']] as const) {
      const execution = await call(tool);
      expect(execution, `${tool}: ${JSON.stringify(execution.error)}`).toMatchObject({ status: 'SUCCEEDED' });
      expect(JSON.stringify(execution.result)).toContain('verified');
      // Every request of the call (for graphql: the introspection and the query) was signed and verified.
      const sent = provider.received.filter((r) => r.path === path && r.method !== 'OPTIONS');
      expect(sent.length).toBeGreaterThan(0);
      for (const r of sent) expect(r.headers['signature-input']).toMatch(/^registry=/);
      expect(sent.at(-1)!.headers['signature-input']).toMatch(/^registry=\("@method" "@target-uri" "content-digest" "date"\)/);
    }
  });

  it('the verifying peer refuses a replayed signed call and one whose body was changed', async () => {
    const sent = provider.received.filter((r) => r.path === '/echo').at(-1)!;
    const headers = Object.fromEntries(
      ['signature', 'signature-input', 'content-digest', 'date', 'content-type'].map((name) => [name, String(sent.headers[name])]),
    );
    const resend = async (body: string) => {
      const { request } = await import('node:https');
      return new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${origin}/echo`, { method: 'POST', headers, ca: ca.pem }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    };
    const replay = await resend(sent.body);
    expect(replay).toEqual({ status: 401, body: JSON.stringify({ error: 'nonce replayed' }) });
    const tampered = await resend(sent.body.replace('hello', 'HELLO'));
    expect(tampered).toEqual({ status: 401, body: JSON.stringify({ error: 'content-digest does not match the body' }) });
  });

  it('refuses a connection whose chain holds no pinned key before sending a byte: TLS_PIN_MISMATCH, audited, shown on Provider', async () => {
    const before = provider.received.length;
    provider.useCertificate(certB);
    const execution = await call('pinned.plain');
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toMatchObject({ code: 'TLS_PIN_MISMATCH', details: { host: '127.0.0.1' } });
    expect(provider.received.length).toBe(before);
    const state = await gql<{ provider: { tlsPinFailure: { at: string; host: string } | null } }>('query($id: ID!) { provider(id: $id) { tlsPinFailure { at host } } }', { id: providerId });
    expect(state.data!.provider.tlsPinFailure).toMatchObject({ host: '127.0.0.1' });
    const audit = await gql<{ auditLog: { edges: { node: { targetId: string; outcome: string; details: Record<string, unknown> } }[] } }>(
      '{ auditLog(first: 5, filter: { action: "provider.tls_pin_mismatch" }) { edges { node { targetId outcome details } } } }',
    );
    expect(audit.errors, JSON.stringify(audit.errors)).toBeUndefined();
    expect(audit.data!.auditLog.edges[0]!.node).toMatchObject({
      targetId: providerId,
      outcome: 'FAILURE',
      details: { provider: 'pinned', tool: 'pinned.plain', host: '127.0.0.1' },
    });
  });

  it('the same refusal applies to WebSocket calls of the provider', async () => {
    const before = provider.wsMessages.length;
    const execution = await call('pinned.say', { text: 'hi' });
    expect(execution.error?.code).toBe('TLS_PIN_MISMATCH');
    expect(provider.wsMessages.length).toBe(before);
  });

  it('rotates: old and new pins both accepted, then the old one removed', async () => {
    expect((await setPins([certA.pin, certB.pin])).provider).toMatchObject({ tlsPinFailure: null });
    expect((await call('pinned.plain')).status).toBe('SUCCEEDED'); // serving B
    provider.useCertificate(certA);
    expect((await call('pinned.plain')).status).toBe('SUCCEEDED'); // serving A
    await setPins([certB.pin]);
    expect((await call('pinned.plain')).error?.code).toBe('TLS_PIN_MISMATCH'); // A is no longer pinned
    provider.useCertificate(certB);
    expect((await call('pinned.plain')).status).toBe('SUCCEEDED');
  });

  it('accepts a pin of the issuing CA for any certificate it issues', async () => {
    await setPins([ca.pin]);
    expect((await call('pinned.plain')).status).toBe('SUCCEEDED');
  });

  it('signs WebSocket messages in an envelope the peer verifies per RFC 9421’s signature base', async () => {
    const execution = await call('pinned.say', { text: 'hi' });
    expect(execution, JSON.stringify(execution.error)).toMatchObject({ status: 'SUCCEEDED' });
    const envelope = JSON.parse(provider.wsMessages.at(-1)!) as Record<string, string>;
    expect(envelope).toMatchObject({ type: 'utcp-registry.signed-message', message: JSON.stringify({ text: 'hi' }) });
    expect(envelope['content-digest']).toBe(`sha-256=:${createHash('sha256').update(envelope.message!).digest('base64')}:`);
    // The signature base per RFC 9421 §2.5, built here by hand.
    const input = envelope['signature-input']!;
    const params = input.slice('registry='.length);
    expect(params).toMatch(/^\("@target-uri" "content-digest"\);created=\d+;keyid="[^"]+";alg="ed25519";nonce="[^"]+"$/);
    const base = [`"@target-uri": ${origin.replace('https:', 'wss:')}/ws`, `"content-digest": ${envelope['content-digest']}`, `"@signature-params": ${params}`].join('\n');
    const { keys } = (await (await fetch(`${registry.url}/.well-known/request-signing-keys.json`)).json()) as { keys: JsonWebKey[] };
    const signature = Buffer.from(/^registry=:(.+):$/.exec(envelope.signature!)![1]!, 'base64');
    const { verify } = await import('node:crypto');
    expect(verify(null, Buffer.from(base), createPublicKey({ key: keys[0]!, format: 'jwk' }), signature)).toBe(true);
    expect(verify(null, Buffer.from(base.replace('"@target-uri": wss', '"@target-uri": ws')), createPublicKey({ key: keys[0]!, format: 'jwk' }), signature)).toBe(false);
  });
});
