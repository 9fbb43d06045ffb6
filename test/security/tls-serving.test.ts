import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { connect, type ConnectionOptions } from 'node:tls';
import { createClient } from 'graphql-ws';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type RegistryProcess, run, spawnRegistry } from '../helpers/process.js';
import { certificateDirectory, createTestCa, type Pem, type TestCa } from '../helpers/tls.js';

// Serving TLS (TLS_CERT_FILE / TLS_KEY_FILE / TLS_CA_FILE / TLS_MIN_VERSION): the built registry
// as its own process (SIGHUP matters), certificates from a CA generated here, real TLS clients.

const MAIN = 'dist/src/main.js';
const ADMIN = { clientId: 'tls-admin', clientSecret: randomBytes(24).toString('base64url') };
const ADMIN_ENV = { REGISTRY_BOOTSTRAP_CLIENT_ID: ADMIN.clientId, REGISTRY_BOOTSTRAP_CLIENT_SECRET: ADMIN.clientSecret };

interface Handshake {
  protocol: string | null;
  cipher: string;
  /** The CN of the certificate the server presented. */
  subject: string;
}

/** One TLS handshake with the registry; resolves with what was negotiated, rejects with the TLS error. */
function handshake(url: string, options: ConnectionOptions): Promise<Handshake> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), servername: 'localhost', ...options });
    socket.once('secureConnect', () => {
      const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name, subject: String(socket.getPeerCertificate().subject.CN) };
      socket.end();
      resolve(result);
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

/** fetch trusting `ca` (and presenting `client`, when given). */
function tlsFetch(ca: string, client?: Pem) {
  const dispatcher = new Agent({ connect: { ca, ...(client ? { cert: client.cert, key: client.key } : {}) } });
  return (url: string, init: Parameters<typeof fetch>[1] = {}) => fetch(url, { ...init, dispatcher });
}

async function tokenFor(fetchTls: ReturnType<typeof tlsFetch>, url: string): Promise<string> {
  const response = await fetchTls(`${url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ADMIN.clientId}:${ADMIN.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function graphql<T>(fetchTls: ReturnType<typeof tlsFetch>, url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetchTls(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return { response, data: body.data! };
}

/** Log lines (JSON) of a registry process whose message starts with `prefix`. */
function logLines(registry: RegistryProcess, prefix: string): Record<string, unknown>[] {
  return registry
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => typeof line.msg === 'string' && line.msg.startsWith(prefix));
}

async function stop(registry: RegistryProcess | undefined): Promise<void> {
  if (!registry || registry.child.exitCode !== null) return;
  process.kill(-registry.child.pid!, 'SIGTERM');
  await registry.exited;
}

describe('serving TLS with the defaults (TLS 1.3 minimum)', () => {
  let ca: TestCa;
  let files: Awaited<ReturnType<typeof certificateDirectory>>;
  let registry: RegistryProcess;
  let fetchTls: ReturnType<typeof tlsFetch>;
  let token: string;

  /** Writes a new certificate and key for the registry, each file replaced in one step (as a renewal tool does). */
  async function install(pem: Pem): Promise<void> {
    await files.write('cert.next', pem.cert);
    await files.write('key.next', pem.key);
    await rename(files.path('cert.next'), files.path('cert.pem'));
    await rename(files.path('key.next'), files.path('key.pem'));
  }

  beforeAll(async () => {
    ca = await createTestCa();
    files = await certificateDirectory();
    await install(await ca.server('first.registry.test'));
    registry = await spawnRegistry(process.execPath, [MAIN], {
      ...ADMIN_ENV,
      TLS_CERT_FILE: files.path('cert.pem'),
      TLS_KEY_FILE: files.path('key.pem'),
    }, 170_000);
    fetchTls = tlsFetch(ca.cert);
    token = await tokenFor(fetchTls, registry.url);
  }, 300_000);

  afterAll(async () => {
    await stop(registry);
    await files?.remove();
  });

  it('announces an https:// address and token issuer, negotiates TLS 1.3, and answers GraphQL over HTTPS with HSTS on every response', async () => {
    expect(registry.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const negotiated = await handshake(registry.url, { ca: ca.cert });
    expect(negotiated).toMatchObject({ protocol: 'TLSv1.3', subject: 'first.registry.test' });
    expect(negotiated.cipher).toMatch(/^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/);

    const { response, data } = await graphql<{ me: { scopes: string[] } }>(fetchTls, registry.url, token, '{ me { scopes } }');
    expect(data.me.scopes).toContain('admin');
    expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const missing = await fetchTls(`${registry.url}/no-such-route`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const metadata = (await (await fetchTls(`${registry.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
    expect(metadata.issuer).toBe(registry.url);
  });

  it('refuses TLS 1.2 and TLS 1.1 clients at the handshake', async () => {
    await expect(handshake(registry.url, { ca: ca.cert, maxVersion: 'TLSv1.2' })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/),
    });
    // The client is allowed TLS 1.1 (OpenSSL's security level 0), so the refusal is the server's.
    await expect(handshake(registry.url, { ca: ca.cert, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/),
    });
  });

  it('keeps a WSS subscription open across a SIGHUP that serves new certificate files to new connections, and keeps them when the new pair is bad', async () => {
    const { data } = await graphql<{ tools: { edges: { node: { id: string; name: string } }[] } }>(fetchTls, registry.url, token, '{ tools(first: 1) { edges { node { id name } } } }');
    const tool = data.tools.edges[0]!.node;

    // A subscription over wss:// on the same port, trusting the test CA.
    const trustedCa = ca.cert;
    class TrustingWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { ca: trustedCa });
      }
    }
    const events: { toolName: string }[] = [];
    let connected!: () => void;
    const opened = new Promise<void>((resolve) => (connected = resolve));
    let closed = false;
    const client = createClient({
      url: `${registry.url.replace(/^https/, 'wss')}/graphql`,
      webSocketImpl: TrustingWebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => connected(), closed: () => (closed = true) },
      onNonLazyError: () => {},
    });
    const unsubscribe = client.subscribe<{ catalogChanged: { toolName: string } }>(
      { query: 'subscription { catalogChanged { toolName } }' },
      { next: (value) => events.push(value.data!.catalogChanged), error: () => {}, complete: () => {} },
    );
    try {
      await opened;
      const setEnabled = (enabled: boolean) =>
        graphql(fetchTls, registry.url, token, 'mutation($input: SetToolEnabledInput!) { setToolEnabled(input: $input) { userErrors { code } } }', {
          input: { toolId: tool.id, enabled },
        });
      // The subscription is live before the reload (its first event arrives).
      await setEnabled(false);
      await expect.poll(() => events.length, { timeout: 10_000 }).toBe(1);

      await install(await ca.server('second.registry.test'));
      process.kill(registry.child.pid!, 'SIGHUP');
      await expect.poll(async () => (await handshake(registry.url, { ca: ca.cert })).subject, { timeout: 10_000 }).toBe('second.registry.test');
      expect(logLines(registry, 'TLS certificate reloaded')).toHaveLength(1);

      // The connection opened before the reload is still up and still delivers.
      await setEnabled(true);
      await expect.poll(() => events.length, { timeout: 10_000 }).toBe(2);
      expect(events.map((e) => e.toolName)).toEqual([tool.name, tool.name]);
      expect(closed).toBe(false);

      // A certificate with another certificate's key: not applied, one clear line, the previous pair still served.
      const other = await ca.server('third.registry.test');
      const unrelated = await ca.server('unrelated.registry.test');
      await install({ cert: other.cert, key: unrelated.key });
      process.kill(registry.child.pid!, 'SIGHUP');
      await expect.poll(() => logLines(registry, 'TLS certificate reload failed').length, { timeout: 10_000 }).toBe(1);
      const [failure] = logLines(registry, 'TLS certificate reload failed');
      expect(failure!.msg).toMatch(/still serving the previous certificate: TLS_CERT_FILE \/ TLS_KEY_FILE: .* are not a usable certificate and key/);
      expect(JSON.stringify(failure)).not.toContain('PRIVATE KEY');
      expect((await handshake(registry.url, { ca: ca.cert })).subject).toBe('second.registry.test');
      expect(registry.child.exitCode).toBeNull();
    } finally {
      unsubscribe();
      await client.dispose();
    }
  });
});

describe('serving TLS with TLS_MIN_VERSION=TLSv1.2 and client certificates (TLS_CA_FILE)', () => {
  let ca: TestCa;
  let clientCa: TestCa;
  let files: Awaited<ReturnType<typeof certificateDirectory>>;
  let registry: RegistryProcess;

  beforeAll(async () => {
    [ca, clientCa] = await Promise.all([createTestCa('Server CA'), createTestCa('Client CA')]);
    files = await certificateDirectory();
    const server = await ca.server();
    registry = await spawnRegistry(process.execPath, [MAIN], {
      ...ADMIN_ENV,
      REGISTRY_SEED: 'none',
      TLS_CERT_FILE: await files.write('cert.pem', server.cert),
      TLS_KEY_FILE: await files.write('key.pem', server.key),
      TLS_CA_FILE: await files.write('clients.pem', clientCa.cert),
      TLS_MIN_VERSION: 'TLSv1.2',
    }, 170_000);
  }, 300_000);

  afterAll(async () => {
    await stop(registry);
    await files?.remove();
  });

  it('accepts TLS 1.2 with an ECDHE AEAD suite, still refuses TLS 1.1, and serves a client whose certificate the CA issued', async () => {
    const agent = await clientCa.client('agent-7');
    const tls12 = await handshake(registry.url, { ca: ca.cert, cert: agent.cert, key: agent.key, maxVersion: 'TLSv1.2' });
    expect(tls12.protocol).toBe('TLSv1.2');
    expect(tls12.cipher).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    // A client offering only CBC suites finds nothing in common.
    await expect(
      handshake(registry.url, { ca: ca.cert, cert: agent.cert, key: agent.key, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/HANDSHAKE_FAILURE|NO_SHARED_CIPHER|NO_CIPHERS/) });
    await expect(handshake(registry.url, { ca: ca.cert, cert: agent.cert, key: agent.key, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/),
    });
    const health = await tlsFetch(ca.cert, agent)(`${registry.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('refuses a client without a certificate, and one whose certificate another CA issued', async () => {
    await expect(tlsFetch(ca.cert)(`${registry.url}/healthz`)).rejects.toThrow();
    const stranger = await ca.client('stranger');
    await expect(tlsFetch(ca.cert, stranger)(`${registry.url}/healthz`)).rejects.toThrow();
    // Over TLS 1.2 the refusal is the handshake's own.
    await expect(handshake(registry.url, { ca: ca.cert, maxVersion: 'TLSv1.2' })).rejects.toMatchObject({ code: expect.stringMatching(/ALERT_HANDSHAKE_FAILURE|CERTIFICATE_REQUIRED|ECONNRESET/) });
  });
});

describe('TLS configuration errors', () => {
  // The messages of invalid TLS settings are shown in unit/config.test.ts; here, files that cannot be used.
  it('refuses to start when the certificate files cannot be read, naming the variable, before opening the database', async () => {
    const missing = await run(process.execPath, [MAIN], { REGISTRY_SEED: 'none', TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' });
    expect(missing.code).toBe(1);
    expect(missing.output).toContain('TLS_CERT_FILE: cannot read /nonexistent/cert.pem (ENOENT)');
    expect(missing.output).not.toContain('ready at');
  });
});

const SHARED = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe.runIf(SHARED)('serving TLS with REGISTRY_WORKERS=2', () => {
  let database: TestDatabase;
  let files: Awaited<ReturnType<typeof certificateDirectory>>;
  let registry: RegistryProcess | undefined;

  afterAll(async () => {
    await stop(registry);
    await files?.remove();
    await database?.drop();
  });

  it('forwards SIGHUP from the primary to every worker: each serves the new certificate', { timeout: 300_000 }, async () => {
    database = await createTestDatabase(process.env.TEST_DATABASE_URL);
    const ca = await createTestCa();
    files = await certificateDirectory();
    const first = await ca.server('first.registry.test');
    await files.write('cert.pem', first.cert);
    await files.write('key.pem', first.key);
    registry = await spawnRegistry(process.execPath, [MAIN], {
      ...ADMIN_ENV,
      DATABASE_URL: (database.config as { url: string }).url,
      REDIS_URL: process.env.TEST_REDIS_URL!,
      REGISTRY_WORKERS: '2',
      REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
      REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
      TLS_CERT_FILE: files.path('cert.pem'),
      TLS_KEY_FILE: files.path('key.pem'),
    }, 170_000);
    const second = await ca.server('second.registry.test');
    await files.write('cert.pem', second.cert);
    await files.write('key.pem', second.key);
    process.kill(registry.child.pid!, 'SIGHUP');
    await expect.poll(() => logLines(registry!, 'TLS certificate reloaded').length, { timeout: 30_000 }).toBe(2);
    // New connections go to the workers in turn: every one of several shows the new certificate.
    const subjects = [];
    for (let i = 0; i < 6; i += 1) subjects.push((await handshake(registry.url, { ca: ca.cert })).subject);
    expect(new Set(subjects)).toEqual(new Set(['second.registry.test']));
    expect(registry.child.exitCode).toBeNull();
  });
});
