import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { manual, manualTool } from '../helpers/factories.js';
import { type ScriptedPeer, scriptedPeer, sendJson } from '../helpers/peers/execution-peer.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { certificateDirectory, createTestCa, type Pem } from '../helpers/tls.js';

// Transport rules of the registry's outbound calls: in production, http:// and ws:// are refused
// (PLAINTEXT_EGRESS_REFUSED) unless the host is in REGISTRY_PLAINTEXT_ALLOW, at registration and
// at call time; certificates are always verified, REGISTRY_CA_FILE adding private CAs.

const REGISTER = `mutation($input: RegisterProviderInput!) {
  registerProvider(input: $input) { provider { id status } created userErrors { code message } }
}`;
const SET_VARIABLES = `mutation($input: SetProviderVariablesInput!) { setProviderVariables(input: $input) { userErrors { code message } } }`;
const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { status result error { code message details } } }`;

interface Registered {
  provider: { id: string; status: string } | null;
  created: string[];
  userErrors: { code: string; message: string }[];
}
interface Execution {
  status: string;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
}

interface SecurePeer {
  url: string;
  wsUrl: string;
  /** Paths requested, and `ws` for each WebSocket message. */
  hits: string[];
  close(): Promise<void>;
}

let production: TestRegistry;
let plain: ScriptedPeer;
/** Its certificate was issued by the private CA in REGISTRY_CA_FILE. */
let trusted: SecurePeer;
/** Its certificate was issued by another private CA, which the registry was not given. */
let untrusted: SecurePeer;
let files: Awaited<ReturnType<typeof certificateDirectory>>;
let publisher: string;
let agent: string;

/** An HTTPS and WSS peer serving `pem`: a manual whose tool calls back into it, and a WebSocket echo. */
async function securePeer(pem: Pem): Promise<SecurePeer> {
  const hits: string[] = [];
  const server = createHttpsServer({ cert: pem.cert, key: pem.key }, (req, res) => {
    hits.push(req.url!);
    if (req.url === '/manual.json') sendJson(res, 200, toolAt(`https://${req.headers.host}/lookup`));
    else sendJson(res, 200, { answer: 'secure' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const wsUrl = `wss://127.0.0.1:${port}/`;
  new WebSocketServer({ server }).on('connection', (socket) =>
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      hits.push('ws');
      if (message.type === 'utcp') socket.send(JSON.stringify(manual([manualTool({ name: 'echo', tool_call_template: { call_template_type: 'websocket', url: wsUrl } })])));
      else socket.send(JSON.stringify({ echoed: message }));
    }),
  );
  return {
    url: `https://127.0.0.1:${port}`,
    wsUrl,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function register(name: string, callTemplate: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Registered> {
  const res = await production.graphql<{ registerProvider: Registered }>(REGISTER, { input: { name, callTemplate, ...extra } }, { authorization: `Bearer ${publisher}` });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.registerProvider;
}

async function execute(tool: string): Promise<Execution> {
  const res = await production.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: { q: 'tls' } } }, { authorization: `Bearer ${agent}` });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

/** A manual whose one tool calls `url` with GET. */
const toolAt = (url: string) => manual([manualTool({ name: 'lookup', tool_call_template: { call_template_type: 'http', url, http_method: 'GET' } })]);

beforeAll(async () => {
  // A plain-HTTP peer: its manual's tool points back at itself, on whatever host it was asked by.
  plain = await scriptedPeer({
    '/manual.json': (req, res) => sendJson(res, 200, toolAt(`http://${req.headers.host}/lookup`)),
    '/lookup': (_req, res) => sendJson(res, 200, { answer: 'plain' }),
  });
  // HTTPS/WSS peers whose certificates two private CAs, made here, issued; the registry trusts one.
  const [privateCa, otherCa] = await Promise.all([createTestCa('Private Provider CA'), createTestCa('Unknown CA')]);
  [trusted, untrusted] = await Promise.all([securePeer(await privateCa.server('provider.internal.test')), securePeer(await otherCa.server('provider.internal.test'))]);
  files = await certificateDirectory();
  production = await startRegistry({
    env: {
      NODE_ENV: 'production',
      REGISTRY_EGRESS_ALLOW: '127.0.0.1,localhost',
      REGISTRY_PLAINTEXT_ALLOW: 'localhost',
      REGISTRY_CA_FILE: await files.write('private-ca.pem', privateCa.cert),
    },
  });
  [publisher, agent] = await Promise.all([production.login({ roles: ['publisher'] }), production.login({ roles: ['agent'] })]);
}, 300_000);

afterAll(async () => {
  await production?.close();
  await Promise.all([plain?.close(), trusted?.close(), untrusted?.close()]);
  await files?.remove();
});

describe('plain-text egress in production', () => {
  it('refuses http:// and ws:// providers, plain-text tool URLs and OAuth token URLs at registration, without a request sent', async () => {
    const before = plain.requests.length;
    const refusals = [
      await register('plain_http', { call_template_type: 'http', url: `${plain.url}/manual.json`, http_method: 'GET' }),
      await register('plain_ws', { call_template_type: 'websocket', url: plain.url.replace(/^http/, 'ws') }),
      await register('plain_tool', { call_template_type: 'text', content: JSON.stringify(toolAt(`${plain.url}/lookup`)) }),
      await register(
        'plain_token_url',
        { call_template_type: 'http', url: `${trusted.url}/manual.json`, http_method: 'GET' },
        { credential: { authType: 'oauth2', tokenUrl: `${plain.url}/token`, clientId: 'registry', clientSecret: 'client-secret-0123456789' } },
      ),
    ];
    for (const refused of refusals) {
      expect(refused.provider).toBeNull();
      expect(refused.userErrors).toEqual([
        {
          code: 'PLAINTEXT_EGRESS_REFUSED',
          message: expect.stringContaining('Outbound request to "127.0.0.1" refused: plain-text http:// and ws:// are not allowed in production'),
        },
      ]);
    }
    expect(plain.requests.length).toBe(before);
  });

  it('allows plain text to a host listed in REGISTRY_PLAINTEXT_ALLOW, at registration and call time', async () => {
    const localhost = plain.url.replace('127.0.0.1', 'localhost');
    const registered = await register('allowed_plain', { call_template_type: 'http', url: `${localhost}/manual.json`, http_method: 'GET' });
    expect(registered.userErrors).toEqual([]);
    expect(registered.created).toEqual(['allowed_plain.lookup']);
    const execution = await execute('allowed_plain.lookup');
    expect(execution, JSON.stringify(execution.error)).toMatchObject({ status: 'SUCCEEDED', result: { answer: 'plain' } });
  });

  it('refuses at call time a tool whose URL turns out plain text only once its variable is resolved', async () => {
    const registered = await register('late_plain', { call_template_type: 'text', content: JSON.stringify(toolAt('${TOOL_BASE}/lookup')) });
    expect(registered.userErrors).toEqual([]);
    const set = await production.graphql<{ setProviderVariables: { userErrors: unknown[] } }>(
      SET_VARIABLES,
      { input: { providerId: registered.provider!.id, variables: [{ name: 'TOOL_BASE', value: plain.url, secret: false }] } },
      { authorization: `Bearer ${publisher}` },
    );
    expect(set.data!.setProviderVariables.userErrors).toEqual([]);
    const before = plain.hits('/lookup');
    const execution = await execute('late_plain.lookup');
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toMatchObject({ code: 'PLAINTEXT_EGRESS_REFUSED', details: { host: '127.0.0.1' } });
    expect(plain.hits('/lookup')).toBe(before);
  });
});

describe('certificate validation of outbound TLS', () => {
  it('registers and calls an HTTPS and a WSS provider whose certificate a private CA in REGISTRY_CA_FILE issued', async () => {
    const https = await register('private_https', { call_template_type: 'http', url: `${trusted.url}/manual.json`, http_method: 'GET' });
    expect(https.userErrors).toEqual([]);
    expect(await execute('private_https.lookup')).toMatchObject({ status: 'SUCCEEDED', result: { answer: 'secure' } });

    const wss = await register('private_wss', { call_template_type: 'websocket', url: trusted.wsUrl });
    expect(wss.userErrors).toEqual([]);
    expect(await execute('private_wss.echo')).toMatchObject({ status: 'SUCCEEDED', result: { echoed: { q: 'tls' } } });
  });

  it('refuses HTTPS and WSS providers whose private CA is not in REGISTRY_CA_FILE: the certificate is not trusted, nothing is sent', async () => {
    const https = await register('unknown_ca_https', { call_template_type: 'http', url: `${untrusted.url}/manual.json`, http_method: 'GET' });
    expect(https.userErrors).toEqual([
      { code: 'UPSTREAM_UNAVAILABLE', message: expect.stringMatching(/Could not connect to "127\.0\.0\.1": its TLS certificate is not signed by a trusted authority/) },
    ]);
    const wss = await register('unknown_ca_wss', { call_template_type: 'websocket', url: untrusted.wsUrl });
    expect(wss.provider).toBeNull();
    expect(wss.userErrors[0]!.code).toMatch(/UPSTREAM_UNAVAILABLE|DISCOVERY_FAILED/);
    expect(untrusted.hits).toEqual([]);
  });
});
