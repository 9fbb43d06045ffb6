import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearOAuthTokenCache } from '../../src/executors/http.request.js';
import { httpPeer, type Peer } from '../helpers/peers/index.js';
import { type GraphQLResponse, startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * Upstreams that echo what the registry sent them, encoded (issue 16, item 3): the request URL (a
 * query key URL-encoded), the credential headers as base64 / base64url (at each of the 3 byte
 * alignments), hex and URL-encoded JSON, in a result or in a failure body. No form of a secret
 * injected into the call may come back, nor reach a stored row, an audit entry or a log line.
 */

const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { id status result error { code message details } } }`;

interface Execution {
  id: string;
  status: string;
  result: unknown;
  error: { code: string; message: string; details: unknown } | null;
}

/** A secret with characters that every encoding changes (`+`, `/`, `=`, space, `~`). */
const secret = (label: string) => `${label}-${randomBytes(12).toString('base64')}+/= ~${randomBytes(6).toString('hex')}`;

const SECRETS = {
  header: secret('hdr'),
  inline: secret('inl'),
  query: secret('qry'),
  cookie: secret('cky'),
  user: `user${randomBytes(4).toString('hex')}`,
  password: secret('pwd'),
  clientSecret: secret('cls'),
  token: randomBytes(32).toString('base64url'),
};

let registry: TestRegistry;
let peer: Peer;
let agent: string;
let logged = '';
const responses: string[] = [];

/** Encodes the peer's echo as the `enc` argument asks, after `pad` filler bytes (to move base64 alignment). */
function encode(payload: string, enc: string, pad: number): string {
  const bytes = Buffer.from(`${'#'.repeat(pad)}${payload}`, 'utf8');
  switch (enc) {
    case 'b64':
      return bytes.toString('base64');
    case 'b64url':
      return bytes.toString('base64url');
    case 'hex':
      return bytes.toString('hex');
    case 'HEX':
      return bytes.toString('hex').toUpperCase();
    case 'urljson':
      return encodeURIComponent(bytes.toString('utf8'));
    default:
      return bytes.toString('utf8');
  }
}

/**
 * Every way `text` could still carry `value`: as is, URL- or form-decoded, JSON-unescaped, and
 * inside any base64, base64url or hex run decoded at every alignment.
 */
function carries(text: string, value: string): boolean {
  let views = new Set<string>([text]);
  // Two rounds, for combinations (a URL-encoded key inside base64).
  for (let round = 0; round < 2; round++) {
    const next = new Set(views);
    for (const view of views) {
      for (const decode of [(s: string) => decodeURIComponent(s), (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))]) {
        try {
          next.add(decode(view));
        } catch {
          // not URL-encoded text
        }
      }
      next.add(view.replace(/\\(["\\/])/g, '$1'));
      for (const run of view.match(/[A-Za-z0-9+/_=-]{6,}/g) ?? []) {
        const standard = run.replace(/-/g, '+').replace(/_/g, '/').replace(/=/g, '');
        for (let offset = 0; offset < 4; offset++) next.add(Buffer.from(standard.slice(offset), 'base64').toString('latin1'));
      }
      for (const run of view.match(/[0-9a-fA-F]{8,}/g) ?? []) {
        for (let offset = 0; offset < 2; offset++) next.add(Buffer.from(run.slice(offset).slice(0, (run.length - offset) & ~1), 'hex').toString('latin1'));
      }
    }
    views = next;
  }
  return [...views].some((view) => view.includes(value));
}

/** The secrets of `SECRETS` (and the Basic credential) that `text` carries in any form. */
function leaked(text: string): string[] {
  const basic = Buffer.from(`${SECRETS.user}:${SECRETS.password}`).toString('base64');
  return Object.entries({ ...SECRETS, basic }).filter(([, value]) => carries(text, value)).map(([name]) => name);
}

async function execute(tool: string, args: Record<string, unknown>): Promise<Execution> {
  const res: GraphQLResponse<{ executeTool: Execution }> = await registry.graphql(EXECUTE, { input: { tool, arguments: args } }, { authorization: `Bearer ${agent}` });
  responses.push(JSON.stringify({ data: res.data, errors: res.errors }));
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

const dumpTool = {
  name: 'dump',
  description: 'Echoes the credentials it was sent, encoded.',
  inputs: {
    type: 'object',
    properties: { enc: { type: 'string' }, pad: { type: 'integer' }, fail: { type: 'boolean' }, guess: { type: 'string' } },
    required: ['enc'],
  },
};

beforeAll(async () => {
  peer = await httpPeer((req, res, body) => {
    const url = new URL(req.url!, 'http://peer');
    if (url.pathname === '/token') {
      const form = new URLSearchParams(body);
      if (form.get('client_secret') !== SECRETS.clientSecret) return res.writeHead(401).end();
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: SECRETS.token, token_type: 'Bearer', expires_in: 3600 }));
    }
    if (url.pathname === '/manual') {
      const manual = { utcp_version: '1.1.0', manual_version: '1.0.0', tools: [{ ...dumpTool, tool_call_template: { call_template_type: 'http', url: `${peerUrl()}/dump`, http_method: 'GET' } }] };
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manual));
    }
    // /dump: only what carries credentials, so a failure's 500-character excerpt still holds them.
    const echoed = { u: req.url, a: req.headers.authorization, k: req.headers['x-api-key'], c: req.headers.cookie };
    const enc = url.searchParams.get('enc') ?? 'raw';
    const text = encode(JSON.stringify(echoed), enc, Number(url.searchParams.get('pad') ?? 0));
    if (url.searchParams.get('fail') === 'true') return res.writeHead(500, { 'content-type': 'text/plain' }).end(text);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(enc === 'raw' ? echoed : { dump: text }));
  });
  const peerUrl = () => peer.url;
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  registry = await startRegistry({ logStream, env: { LOG_LEVEL: 'trace', REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  agent = await registry.login({ roles: ['agent'] });
  const publisher = await registry.login({ roles: ['publisher'] });
  const manualTemplate = { call_template_type: 'http', url: `${peer.url}/manual`, http_method: 'GET' };
  const register = async (name: string, extra: Record<string, unknown>) => {
    const res = await registry.graphql<{ registerProvider: { created: string[]; userErrors: unknown[] } }>(
      'mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { created userErrors { field message code } } }',
      { input: { name, callTemplate: manualTemplate, ...extra } },
      { authorization: `Bearer ${publisher}` },
    );
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    expect(res.data!.registerProvider.userErrors).toEqual([]);
    expect(res.data!.registerProvider.created).toEqual([`${name}.dump`]);
  };
  await register('hdr', { credential: { authType: 'api_key', apiKey: SECRETS.header, varName: 'X-Api-Key', location: 'header' } });
  await register('inl', { callTemplate: { ...manualTemplate, auth: { auth_type: 'api_key', api_key: SECRETS.inline, var_name: 'X-Api-Key', location: 'header' } } });
  await register('qry', { credential: { authType: 'api_key', apiKey: SECRETS.query, varName: 'api_key', location: 'query' } });
  await register('cky', { credential: { authType: 'api_key', apiKey: SECRETS.cookie, varName: 'session', location: 'cookie' } });
  await register('bas', { credential: { authType: 'basic', username: SECRETS.user, password: SECRETS.password } });
  await register('oau', { credential: { authType: 'oauth2', tokenUrl: `${peer.url}/token`, clientId: 'client-1', clientSecret: SECRETS.clientSecret } });
  await register('plain', {});
});

afterAll(async () => {
  clearOAuthTokenCache();
  await registry?.close();
  await peer?.close();
});

const PROVIDERS = ['hdr', 'inl', 'qry', 'cky', 'bas', 'oau'];
const ENCODINGS: Array<[string, number]> = [
  ['raw', 0],
  ['b64', 0],
  ['b64', 1],
  ['b64', 2],
  ['b64url', 0],
  ['b64url', 1],
  ['b64url', 2],
  ['hex', 0],
  ['HEX', 0],
  ['urljson', 0],
];

describe('secrets an upstream echoes encoded', () => {
  it('come back in no form in results or EXECUTION_FAILED messages, for api keys in a header, inline, in the query and in a cookie, basic auth and a fetched OAuth token', async () => {
    const failures: string[] = [];
    for (const provider of PROVIDERS) {
      for (const [enc, pad] of ENCODINGS) {
        const ok = await execute(`${provider}.dump`, { enc, pad });
        expect(ok.status, `${provider} ${enc}/${pad}`).toBe('SUCCEEDED');
        // The echo held the credential: something was scrubbed.
        expect(JSON.stringify(ok.result), `${provider} ${enc}/${pad}`).toContain('[REDACTED]');
        for (const name of leaked(JSON.stringify(ok.result))) failures.push(`${provider} ${enc}/${pad} result: ${name}`);

        const failed = await execute(`${provider}.dump`, { enc, pad, fail: true });
        expect(failed.status).toBe('FAILED');
        expect(failed.error!.code).toBe('EXECUTION_FAILED');
        expect(failed.error!.message.toLowerCase(), `${provider} ${enc}/${pad}`).toContain('[redacted]');
        for (const name of leaked(JSON.stringify(failed.error))) failures.push(`${provider} ${enc}/${pad} error: ${name}`);
      }
    }
    // The peer did get the real credentials.
    const seen = peer.requests.map((r) => JSON.stringify({ url: r.url, headers: r.headers }));
    expect(seen.some((s) => s.includes(SECRETS.header))).toBe(true);
    expect(seen.some((s) => s.includes(SECRETS.token))).toBe(true);
    expect(failures).toEqual([]);
  });

  it('leave no form in the stored executions, the audit log, the responses or the log', async () => {
    const em = registry.db.fork();
    const rows = JSON.stringify([
      await em.execute(`select arguments, result, error from execution where tool_name <> 'plain.dump'`),
      await em.execute('select details from audit_entry'),
    ]);
    expect(rows).toContain('[REDACTED]');
    // Each call that had a secret scrubbed says so in its audit entry.
    const flagged = await em.execute(`select count(*)::int as n from audit_entry where action = 'tool.execute' and details->>'secretsScrubbed' = 'true'`);
    expect(flagged[0]!.n).toBe(PROVIDERS.length * ENCODINGS.length * 2);
    expect(logged.length).toBeGreaterThan(1000);
    expect({ rows: leaked(rows), responses: leaked(responses.join('\n')), log: leaked(logged) }).toEqual({ rows: [], responses: [], log: [] });
  });

  it('give no oracle: an argument equal to another provider’s secret comes back unchanged', async () => {
    for (const value of [SECRETS.header, SECRETS.inline, SECRETS.password, SECRETS.token]) {
      const plain = await execute('plain.dump', { enc: 'raw', guess: value });
      expect(plain.status).toBe('SUCCEEDED');
      const url = new URL((plain.result as { u: string }).u, 'http://peer');
      expect(url.searchParams.get('guess')).toBe(value);
      // Nor when the call carries a credential of its own (another provider's).
      const other = await execute('cky.dump', { enc: 'raw', guess: value });
      expect(new URL((other.result as { u: string }).u, 'http://peer').searchParams.get('guess')).toBe(value);
    }
  });
});
