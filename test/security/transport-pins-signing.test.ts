/**
 * Per-provider TLS pinning and RFC 9421 signed tool calls, against real TLS peers started here. The
 * CA and certificates are generated in the test (@peculiar/x509); the registry runs as its own process
 * trusting that CA through REGISTRY_CA_FILE, so certificate validation stays on and every pin below is
 * checked on top of a private CA. The verifying peer checks signatures (of HTTP requests, of WebSocket
 * upgrades and of WebSocket message envelopes) with the `http-message-signatures` library against the
 * keys the registry publishes, checks Content-Digest itself (RFC 9530) and refuses a nonce it has seen.
 */
import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { buildSchema, graphql } from 'graphql';
import { createVerifier, httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { RequestSigner, WS_SIGNED_MESSAGE_TYPE } from '../../src/security/request-signing.js';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { manual, manualTool } from '../helpers/factories.js';
import { answerStatelessMcp } from '../helpers/peers/index.js';
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

/** A WebSocket upgrade the peer received, and why it refused it (null: accepted). */
interface Upgrade {
  path: string;
  headers: IncomingMessage['headers'];
  problem: string | null;
}

/** The tools of the provider's manual, their URLs under `prefix` (`/open` for a peer that checks no signature). */
function providerManual(origin: string, prefix: string) {
  const base = `${origin}${prefix}`;
  return manual([
    manualTool({
      name: 'echo',
      inputs: { type: 'object', properties: { text: { type: 'string' } } },
      tool_call_template: { call_template_type: 'http', url: `${base}/echo`, http_method: 'POST', body_field: 'text' },
    }),
    manualTool({ name: 'feed', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'sse', url: `${base}/feed` } }),
    manualTool({ name: 'plain', inputs: { type: 'object' }, tool_call_template: { call_template_type: 'http', url: `${base}/plain`, http_method: 'GET' } }),
    manualTool({ name: 'tail', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'streamable_http', url: `${base}/tail`, http_method: 'GET' } }),
    manualTool({ name: 'whoami', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'graphql', url: `${base}/graphql`, operation_type: 'query' } }),
    manualTool({
      name: 'say',
      inputs: { type: 'object', properties: { text: { type: 'string' } } },
      tool_call_template: { call_template_type: 'websocket', url: `${base.replace('https:', 'wss:')}/ws` },
    }),
    manualTool({
      name: 'web_search',
      inputs: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
      outputs: {},
      tool_call_template: { call_template_type: 'mcp', config: { mcpServers: { web: { url: `${origin}/mcp` } } } },
    }),
  ]);
}

/** A stateless MCP server (streamable HTTP) with one tool, `search`, answering its query. */
async function serveMcp(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  if (req.method !== 'POST') {
    res.statusCode = 405;
    res.end();
    return;
  }
  const server = new McpServer({ name: 'search', version: '1.0.0' });
  server.registerTool('search', { description: 'Searches', inputSchema: { query: z.string() } }, async ({ query }) => ({ content: [{ type: 'text', text: query }] }));
  await answerStatelessMcp(server, req, res, body);
}

/**
 * The provider: an HTTPS server (and WSS on the same port) that serves a manual, and tools that
 * answer only a call whose RFC 9421 signature verifies under the registry's published keys, whose
 * Content-Digest matches the body, and whose nonce it has not seen. WebSocket upgrades to `/ws` are
 * refused (401) unless signed the same way, and each message on them must be a signed envelope with
 * a fresh nonce. Everything under `/open/` (and `/mcp`: MCP calls are not signed) is answered
 * without checking, for a provider that does not sign.
 */
function startProvider(first: Issued, jwksUrl: () => string) {
  const received: Received[] = [];
  const nonces = new Set<string>();
  const wsMessages: string[] = [];
  const upgrades: Upgrade[] = [];
  let toolOrigin = '';

  /** Why the signed message does not verify (covering `fields`), or null; a verified nonce is remembered. */
  async function verifySignature(message: { method: string; url: string; headers: Record<string, string> }, fields: string[]): Promise<string | null> {
    const { keys } = (await (await fetch(jwksUrl())).json()) as { keys: (JsonWebKey & { kid: string })[] };
    let params: { nonce?: unknown } = {};
    const ok = await httpbis.verifyMessage(
      {
        keyLookup: async (parameters) => {
          params = parameters;
          const jwk = keys.find((key) => key.kid === parameters.keyid);
          return jwk ? { id: jwk.kid, algs: ['ed25519'], verify: createVerifier(createPublicKey({ key: jwk, format: 'jwk' }), 'ed25519') } : null;
        },
        requiredFields: fields,
        requiredParams: ['created', 'keyid', 'alg', 'nonce'],
        maxAge: 300,
      },
      message,
    ).catch(() => false);
    if (!ok) return 'signature does not verify';
    const nonce = String(params.nonce);
    if (nonces.has(nonce)) return 'nonce replayed';
    nonces.add(nonce);
    return null;
  }

  /** Why a signed request (a call, or a WebSocket upgrade at `origin`) does not verify, or null. */
  async function verify(req: Received, origin = toolOrigin): Promise<string | null> {
    const digest = req.headers['content-digest'];
    if (digest !== `sha-256=:${createHash('sha256').update(req.body).digest('base64')}:`) return 'content-digest does not match the body';
    return verifySignature({ method: req.method, url: `${origin}${req.path}`, headers: req.headers as Record<string, string> }, ['@method', '@target-uri', 'content-digest', 'date']);
  }

  /** Why a WebSocket message received at `path` is not a verified envelope, or null, with the message it carries. */
  async function verifyEnvelope(path: string, data: string): Promise<{ problem: string | null; message?: string }> {
    let envelope: Record<string, unknown>;
    try {
      envelope = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return { problem: 'not a signed envelope' };
    }
    if (envelope.type !== WS_SIGNED_MESSAGE_TYPE || typeof envelope.message !== 'string') return { problem: 'not a signed envelope' };
    const message = envelope.message;
    if (envelope['content-digest'] !== `sha-256=:${createHash('sha256').update(message).digest('base64')}:`) return { problem: 'content-digest does not match the message' };
    const headers = Object.fromEntries(['content-digest', 'signature-input', 'signature'].map((name) => [name, String(envelope[name])]));
    const problem = await verifySignature({ method: 'GET', url: `${toolOrigin.replace('https:', 'wss:')}${path}`, headers }, ['@target-uri', 'content-digest']);
    return { problem, message };
  }

  const server: Server = createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      // A new TLS handshake for every request, so a certificate change shows on the next call.
      res.setHeader('connection', 'close');
      if (req.url === '/mcp') {
        void serveMcp(req, res, request.body);
        return;
      }
      res.setHeader('content-type', 'application/json');
      if (req.url === '/manual.json' || req.url === '/open/manual.json') {
        res.end(JSON.stringify(providerManual(toolOrigin, req.url === '/manual.json' ? '' : '/open')));
        return;
      }
      const open = req.url!.startsWith('/open/');
      const path = open ? req.url!.slice('/open'.length) : req.url!;
      if (path === '/plain') {
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      void (open ? Promise.resolve(null) : verify(request)).then((problem) => {
        res.statusCode = problem ? 401 : 200;
        if (!problem && path === '/feed') {
          res.setHeader('content-type', 'text/event-stream');
          res.end(`data: {"verified":${!open}}\n\n`);
          return;
        }
        if (!problem && path === '/tail') {
          res.setHeader('content-type', 'application/x-ndjson');
          res.end(`{"verified":${!open}}\n`);
          return;
        }
        if (!problem && path === '/graphql') {
          // A real GraphQL endpoint: the executor introspects it (signed too), then sends the query.
          const { query, variables } = JSON.parse(request.body) as { query: string; variables?: Record<string, unknown> };
          void graphql({ schema: WHOAMI_SCHEMA, source: query, variableValues: variables, rootValue: { whoami: { verified: !open } } }).then((result) => res.end(JSON.stringify(result)));
          return;
        }
        res.end(JSON.stringify(problem ? { error: problem } : { verified: !open, body: request.body }));
      });
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = req.url!;
    const signed = path === '/ws';
    void (signed ? verify({ method: req.method!, path, headers: req.headers, body: '' }, toolOrigin.replace('https:', 'wss:')) : Promise.resolve(null)).then((problem) => {
      upgrades.push({ path, headers: req.headers, problem });
      if (problem) {
        socket.end(`HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: ${problem.length}\r\n\r\n${problem}`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => {
          const text = data.toString();
          wsMessages.push(text);
          void (signed ? verifyEnvelope(path, text) : Promise.resolve({ problem: null, message: text })).then(({ problem, message }) =>
            ws.send(JSON.stringify(problem ? { error: problem } : { heard: message!.length })),
          );
        });
      });
    });
  });
  return {
    received,
    wsMessages,
    upgrades,
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
/** The registry's request-signing key, given to it here, so the test can open a WebSocket the peer accepts. */
let registryKey: RequestSigner;

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

interface ProviderState {
  status: string;
  lastError: string | null;
  tlsPinFailure: { at: string; host: string } | null;
}
/** The pinned provider as the API shows it. */
async function providerState(): Promise<ProviderState> {
  const res = await gql<{ provider: ProviderState }>('query($id: ID!) { provider(id: $id) { status lastError tlsPinFailure { at host } } }', { id: providerId });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.provider;
}

interface AuditNode {
  targetId: string | null;
  outcome: string;
  details: Record<string, unknown>;
}
/** The newest `provider.tls_pin_mismatch` entries, newest first. */
async function pinAudit(): Promise<AuditNode[]> {
  const res = await gql<{ auditLog: { edges: { node: AuditNode }[] } }>(
    '{ auditLog(first: 5, filter: { action: "provider.tls_pin_mismatch" }) { edges { node { targetId outcome details } } } }',
  );
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.auditLog.edges.map((edge) => edge.node);
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
  const requestSigningKeys = JSON.stringify([generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })]);
  registryKey = await RequestSigner.create({ jwks: requestSigningKeys, masterKey: randomBytes(32) });
  provider = startProvider(certA, () => `${registry.url}/.well-known/request-signing-keys.json`);
  origin = await provider.listen();
  db = await createTestDatabase();
  const database: Record<string, string> =
    db.config.kind === 'postgresql'
      ? { DATABASE_URL: db.config.url, REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]), REGISTRY_MASTER_KEY: randomBytes(32).toString('base64') }
      : {};
  registry = await spawnRegistry(process.execPath, ['dist/src/main.js'], {
    ...database,
    REGISTRY_CA_FILE: join(dir, 'ca.pem'),
    REGISTRY_REQUEST_SIGNING_KEYS: requestSigningKeys,
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

describe('TLS pinning and signed tool calls', () => {
  it('registers a pinned, signing provider over HTTPS, discovering through the pin, and shows both on Provider', async () => {
    const res = await gql<{ registerProvider: { provider: { id: string; tlsPins: string[]; requestSigning: string; tlsPinFailure: unknown }; created: string[]; userErrors: unknown[] } }>(
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id tlsPins requestSigning tlsPinFailure { host } } created userErrors { code message } } }`,
      { input: { name: 'pinned', callTemplate: { call_template_type: 'http', url: `${origin}/manual.json`, http_method: 'GET' }, tlsPins: [certA.pin], requestSigning: 'SIGN' } },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.created.sort()).toEqual(['pinned.echo', 'pinned.feed', 'pinned.plain', 'pinned.say', 'pinned.tail', 'pinned.web_search', 'pinned.whoami']);
    expect(res.data!.registerProvider.provider).toMatchObject({ tlsPins: [certA.pin], requestSigning: 'SIGN', tlsPinFailure: null });
    providerId = res.data!.registerProvider.provider.id;
  });

  it('refuses a registration whose discovery meets a chain holding no pinned key: TLS_PIN_MISMATCH, audited, nothing sent', async () => {
    const before = provider.received.length;
    const res = await gql<{ registerProvider: { provider: unknown; userErrors: { code: string; message: string }[] } }>(
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { code message } } }`,
      { input: { name: 'wrongpin', callTemplate: { call_template_type: 'http', url: `${origin}/manual.json`, http_method: 'GET' }, tlsPins: [certB.pin] } },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.registerProvider.provider).toBeNull();
    expect(res.data!.registerProvider.userErrors).toEqual([expect.objectContaining({ code: 'TLS_PIN_MISMATCH' })]);
    expect(provider.received.length).toBe(before);
    // Nothing was stored: the refusal is audited without a target, naming the provider and the host.
    const entry = (await pinAudit()).find((node) => node.details.provider === 'wrongpin');
    expect(entry).toMatchObject({ targetId: null, outcome: 'FAILURE', details: { provider: 'wrongpin', discovery: 'register', host: '127.0.0.1' } });
    expect(JSON.stringify(entry)).not.toContain(origin);
  });

  it('refuses the discovery of mcp, websocket and graphql providers through a wrong pin the same way, before any byte', async () => {
    const before = { received: provider.received.length, upgrades: provider.upgrades.length };
    const templates = {
      wrong_mcp: { call_template_type: 'mcp', config: { mcpServers: { web: { url: `${origin}/mcp` } } } },
      wrong_ws: { call_template_type: 'websocket', url: `${origin.replace('https:', 'wss:')}/ws` },
      wrong_graphql: { call_template_type: 'graphql', url: `${origin}/graphql`, operation_type: 'query' },
    };
    for (const [name, callTemplate] of Object.entries(templates)) {
      const res = await gql<{ registerProvider: { provider: unknown; userErrors: { code: string; message: string }[] } }>(
        `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { code message } } }`,
        { input: { name, callTemplate, tlsPins: [certB.pin] } },
      );
      expect(res.data!.registerProvider, name).toMatchObject({ provider: null, userErrors: [expect.objectContaining({ code: 'TLS_PIN_MISMATCH' })] });
      expect((await pinAudit())[0], name).toMatchObject({ targetId: null, details: { provider: name, discovery: 'register', host: '127.0.0.1' } });
    }
    expect(provider.received.length).toBe(before.received);
    expect(provider.upgrades.length).toBe(before.upgrades);
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
      expect(JSON.stringify(execution.result)).toContain('"verified":true');
      // Every request of the call (for graphql: the introspection and the query) was signed and verified.
      const sent = provider.received.filter((r) => r.path === path && r.method !== 'OPTIONS');
      expect(sent.length).toBeGreaterThan(0);
      for (const r of sent) expect(r.headers['signature-input']).toMatch(/^registry=/);
      expect(sent.at(-1)!.headers['signature-input']).toMatch(/^registry=\("@method" "@target-uri" "content-digest" "date"\)/);
    }
  });

  it('sends no Signature, Signature-Input or Content-Digest for a provider with request signing off, on any transport', async () => {
    const res = await gql<{ registerProvider: { provider: { requestSigning: string }; userErrors: unknown[] } }>(
      `mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { requestSigning } userErrors { code message } } }`,
      { input: { name: 'unsigned', callTemplate: { call_template_type: 'http', url: `${origin}/open/manual.json`, http_method: 'GET' } } },
    );
    expect(res.data!.registerProvider).toMatchObject({ provider: { requestSigning: 'OFF' }, userErrors: [] });
    const before = { received: provider.received.length, upgrades: provider.upgrades.length, messages: provider.wsMessages.length };
    for (const [tool, args] of [['unsigned.echo', { text: 'hello' }], ['unsigned.feed', {}], ['unsigned.tail', {}], ['unsigned.whoami', {}], ['unsigned.say', { text: 'hi' }]] as const) {
      const execution = await call(tool, args);
      expect(execution, `${tool}: ${JSON.stringify(execution.error)}`).toMatchObject({ status: 'SUCCEEDED' });
    }
    const sent = provider.received.slice(before.received);
    expect(sent.map((r) => r.path)).toEqual(expect.arrayContaining(['/open/echo', '/open/feed', '/open/tail', '/open/graphql']));
    const upgrades = provider.upgrades.slice(before.upgrades);
    expect(upgrades.map((u) => u.path)).toEqual(['/open/ws']);
    for (const headers of [...sent.map((r) => r.headers), ...upgrades.map((u) => u.headers)]) {
      expect(Object.keys(headers)).not.toContain('signature');
      expect(Object.keys(headers)).not.toContain('signature-input');
      expect(Object.keys(headers)).not.toContain('content-digest');
    }
    // The WebSocket message goes as it is, in no envelope.
    expect(provider.wsMessages.slice(before.messages)).toEqual([JSON.stringify({ text: 'hi' })]);
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
    // A call's refusal leaves the provider's discovery status as it was; tlsPinFailure shows it.
    const state = await providerState();
    expect(state).toMatchObject({ status: 'ACTIVE', tlsPinFailure: { host: '127.0.0.1' } });
    expect(Date.parse(state.tlsPinFailure!.at)).not.toBeNaN();
    expect((await pinAudit())[0]).toMatchObject({
      targetId: providerId,
      outcome: 'FAILURE',
      details: { provider: 'pinned', tool: 'pinned.plain', host: '127.0.0.1' },
    });
  });

  it('the same refusal applies to sse, streamable_http, graphql and MCP (streamable HTTP) calls, each audited', async () => {
    const before = provider.received.length;
    for (const tool of ['pinned.feed', 'pinned.tail', 'pinned.whoami', 'pinned.web_search']) {
      const execution = await call(tool, tool === 'pinned.web_search' ? { query: 'q' } : {});
      expect(execution.error, tool).toMatchObject({ code: 'TLS_PIN_MISMATCH', details: { host: '127.0.0.1' } });
      expect((await pinAudit())[0], tool).toMatchObject({ targetId: providerId, details: { provider: 'pinned', tool, host: '127.0.0.1' } });
    }
    expect(provider.received.length).toBe(before);
  });

  it('refuses a refresh whose discovery meets the wrong key: TLS_PIN_MISMATCH, provider in ERROR with tlsPinFailure, audited, nothing sent', async () => {
    const before = provider.received.length;
    const res = await gql<{ refreshProvider: { provider: { status: string }; userErrors: { code: string }[] } }>(
      'mutation($input: ProviderIdInput!) { refreshProvider(input: $input) { provider { status } userErrors { code message } } }',
      { input: { id: providerId } },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.refreshProvider.userErrors).toEqual([expect.objectContaining({ code: 'TLS_PIN_MISMATCH' })]);
    expect(provider.received.length).toBe(before);
    const state = await providerState();
    expect(state).toMatchObject({ status: 'ERROR', tlsPinFailure: { host: '127.0.0.1' } });
    expect(state.lastError).toMatch(/pinned keys/);
    expect((await pinAudit())[0]).toMatchObject({ targetId: providerId, outcome: 'FAILURE', details: { provider: 'pinned', discovery: 'refresh', host: '127.0.0.1' } });
  });

  it('the same refusal applies to WebSocket calls of the provider', async () => {
    const before = { messages: provider.wsMessages.length, upgrades: provider.upgrades.length };
    const execution = await call('pinned.say', { text: 'hi' });
    expect(execution.error?.code).toBe('TLS_PIN_MISMATCH');
    expect(provider.wsMessages.length).toBe(before.messages);
    expect(provider.upgrades.length).toBe(before.upgrades);
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

  it('accepts a pin of the issuing CA for any certificate it issues, for calls (MCP too) and discovery', async () => {
    await setPins([ca.pin]);
    expect((await call('pinned.plain')).status).toBe('SUCCEEDED');
    expect(await call('pinned.web_search', { query: 'through the pin' })).toMatchObject({ status: 'SUCCEEDED', result: 'through the pin' });
    const res = await gql<{ refreshProvider: { userErrors: unknown[] } }>('mutation($input: ProviderIdInput!) { refreshProvider(input: $input) { userErrors { code message } } }', {
      input: { id: providerId },
    });
    expect(res.data!.refreshProvider.userErrors).toEqual([]);
    expect(await providerState()).toMatchObject({ status: 'ACTIVE', tlsPinFailure: null });
  });

  it('signs WebSocket messages in an envelope the peer verifies per RFC 9421’s signature base', async () => {
    const execution = await call('pinned.say', { text: 'hi' });
    // The peer accepted the signed upgrade and verified the envelope (else it answers { error }).
    expect(execution, JSON.stringify(execution.error)).toMatchObject({ status: 'SUCCEEDED', result: { heard: JSON.stringify({ text: 'hi' }).length } });
    const upgrade = provider.upgrades.at(-1)!;
    expect(upgrade).toMatchObject({ path: '/ws', problem: null });
    expect(upgrade.headers['signature-input']).toMatch(/^registry=\("@method" "@target-uri" "content-digest" "date"\);created=\d+;keyid="[^"]+";alg="ed25519";nonce="[A-Za-z0-9_-]{22}"$/);
    expect(upgrade.headers['content-digest']).toBe(`sha-256=:${createHash('sha256').update('').digest('base64')}:`);
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

  it('the verifying WebSocket peer refuses a replayed upgrade, an unsigned one, and a replayed or altered message envelope', async () => {
    const url = new URL(`${origin.replace('https:', 'wss:')}/ws`);
    const upgrade = provider.upgrades.at(-1)!;
    const envelope = provider.wsMessages.at(-1)!;
    /** Opens a WebSocket to the peer with `headers`: the refusal's status, or the open socket. */
    const open = (headers: Record<string, string>) =>
      new Promise<{ status: number } | { socket: WebSocket }>((resolve, reject) => {
        const socket = new WebSocket(url, { headers, ca: ca.pem });
        socket.once('unexpected-response', (_req, res) => {
          resolve({ status: res.statusCode! });
          res.resume();
        });
        socket.once('open', () => resolve({ socket }));
        socket.once('error', reject);
      });
    const exchange = (socket: WebSocket, text: string) =>
      new Promise<unknown>((resolve) => {
        socket.once('message', (data) => resolve(JSON.parse(data.toString())));
        socket.send(text);
      });

    // The registry's own upgrade, sent again: its nonce was seen.
    const replayed = Object.fromEntries(['signature', 'signature-input', 'content-digest', 'date'].map((name) => [name, String(upgrade.headers[name])]));
    expect(await open(replayed)).toEqual({ status: 401 });
    expect(provider.upgrades.at(-1)!.problem).toBe('nonce replayed');
    expect(await open({})).toEqual({ status: 401 });
    expect(provider.upgrades.at(-1)!.problem).toBe('content-digest does not match the body');

    // A freshly signed upgrade (with the registry's key) is accepted, but a replayed envelope on it is not.
    const fresh = new Headers();
    await registryKey.signRequest('GET', url, fresh, undefined);
    const opened = await open(Object.fromEntries(fresh));
    expect(opened).toHaveProperty('socket');
    const { socket } = opened as { socket: WebSocket };
    try {
      expect(await exchange(socket, envelope)).toEqual({ error: 'nonce replayed' });
      const altered = JSON.stringify({ ...(JSON.parse(envelope) as object), message: JSON.stringify({ text: 'HI' }) });
      expect(await exchange(socket, altered)).toEqual({ error: 'content-digest does not match the message' });
      expect(await exchange(socket, JSON.stringify({ text: 'hi' }))).toEqual({ error: 'not a signed envelope' });
      const signedAgain = await registryKey.signWebSocketMessage(url, JSON.stringify({ text: 'again' }));
      expect(await exchange(socket, signedAgain)).toEqual({ heard: JSON.stringify({ text: 'again' }).length });
    } finally {
      socket.terminate();
    }
  });
});
