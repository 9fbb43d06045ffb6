import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEntry } from '../../src/modules/audit/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { formOf, MemoryOAuthProvider } from '../helpers/mcp-oauth-client.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// Signing in through the external OIDC provider: the MCP SDK's client, driven headlessly, goes
// registry sign-in page → "Sign in with <idp>" → the provider's login form → /oauth/callback →
// consent → code → token → /mcp. The provider is a small OpenID provider started here (discovery,
// authorization code with PKCE S256, single-use codes, client_secret_basic, RS256 id_tokens).

const REDIRECT = 'http://127.0.0.1:53683/callback';
const CLIENT_ID = 'tool-registry';
const CLIENT_SECRET = 'idp-secret-for-the-registry';

let registry: TestRegistry;
let idp: Server;
let idpUrl: string;
/** What the next id_token is made of, for the refusal tests. */
const idTokenOverrides: { aud?: string } = {};
const clients: Client[] = [];
/** Every code and id_token the provider handed out: none may show up in a log line, page or audit entry. */
const secrets: string[] = [CLIENT_SECRET];
const logLines: string[] = [];

interface PendingCode {
  sub: string;
  nonce: string;
  challenge: string;
  redirectUri: string;
  used: boolean;
}

async function bodyOf(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

async function startProvider() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, PendingCode>();
  idp = createServer(async (req, res) => {
    const url = new URL(req.url!, idpUrl);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: idpUrl, authorization_endpoint: `${idpUrl}/authorize`, token_endpoint: `${idpUrl}/token`, jwks_uri: `${idpUrl}/jwks`, response_types_supported: ['code'], code_challenge_methods_supported: ['S256'] });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize' && req.method === 'GET') {
      // The login form carries the request on; a person would type a name here.
      const p = url.searchParams;
      const ok = p.get('client_id') === CLIENT_ID && p.get('response_type') === 'code' && p.get('code_challenge_method') === 'S256' && p.get('nonce') && p.get('state') && p.get('scope')?.split(' ').includes('openid');
      if (!ok) return json(400, { error: 'invalid_request' });
      const hidden = [...p].map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
      return res.writeHead(200, { 'content-type': 'text/html' }).end(`<form method="post" action="/authorize">${hidden}<input name="login"></form>`);
    }
    if (url.pathname === '/authorize' && req.method === 'POST') {
      const form = await bodyOf(req);
      const code = randomBytes(16).toString('hex');
      secrets.push(code);
      codes.set(code, { sub: form.get('login')!, nonce: form.get('nonce')!, challenge: form.get('code_challenge')!, redirectUri: form.get('redirect_uri')!, used: false });
      const back = new URL(form.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', form.get('state')!);
      return res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = await bodyOf(req);
      const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
      if (id !== CLIENT_ID || secret !== CLIENT_SECRET) return json(401, { error: 'invalid_client' });
      const pending = codes.get(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      if (!pending || pending.used || pending.redirectUri !== form.get('redirect_uri') || createHash('sha256').update(verifier).digest('base64url') !== pending.challenge) {
        return json(400, { error: 'invalid_grant' });
      }
      pending.used = true;
      const idToken = await new SignJWT({ nonce: pending.nonce, ...(pending.sub.startsWith('admin') ? { scp: 'admin tools:read tools:execute', amr: pending.sub.endsWith('-mfa') ? ['pwd', 'otp'] : ['pwd'] } : pending.sub.startsWith('plain') ? {} : { scp: ['tools:read', 'tools:execute'] }) })
        .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
        .setIssuer(idpUrl)
        .setSubject(pending.sub)
        .setAudience(idTokenOverrides.aud ?? CLIENT_ID)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      secrets.push(idToken);
      return json(200, { access_token: 'opaque', token_type: 'Bearer', id_token: idToken });
    }
    return json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
}


const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;
const postForm = (url: string, form: Record<string, string>, cookie?: string) =>
  fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(form).toString() });

/**
 * From the registry's sign-in page through the provider back to /oauth/callback: returns the
 * callback URL and the cookies (the page's CSRF cookie, the login round's), not yet followed.
 */
async function throughProvider(authorizationUrl: URL, login: string) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  expect(html).toContain('Sign in with 127.0.0.1');
  expect(page.headers.get('content-security-policy')).toContain(idpUrl);
  const csrf = cookieOf(page);
  const toIdp = await postForm(`${registry.url}/oauth/authorize`, { ...formOf(html), action: 'oidc' }, csrf);
  expect(toIdp.status).toBe(303);
  const loginCookie = cookieOf(toIdp);
  expect(toIdp.headers.get('set-cookie')).toMatch(/Path=\/oauth\/callback; HttpOnly; SameSite=Lax/);
  const atIdp = new URL(toIdp.headers.get('location')!);
  expect(atIdp.searchParams.get('redirect_uri')).toBe(`${registry.url}/oauth/callback`);
  expect(atIdp.searchParams.get('code_challenge_method')).toBe('S256');
  const idpPage = await fetch(atIdp);
  const back = await postForm(`${idpUrl}/authorize`, { ...formOf(await idpPage.text()), login });
  expect(back.status).toBe(302);
  return { callback: back.headers.get('location')!, csrf, loginCookie };
}

beforeAll(async () => {
  await startProvider();
  registry = await startRegistry({
    logStream: new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
    env: { LOG_LEVEL: 'info', OIDC_ISSUER: idpUrl, OIDC_JWKS_URL: `${idpUrl}/jwks`, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET, OIDC_SCOPE_CLAIM: 'scp', REGISTRY_ADMIN_MFA: 'required' },
  });
  await new ToolService(registry.db.fork()).importManual(
    'idp',
    manual([manualTool({ name: 'hello', inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"hi"' } })]),
    INLINE_MANUAL,
  );
  // External principals hold no roles, so the default policies let them read but not execute.
  const allowed = await registry.graphql<{ createPolicy: { userErrors: unknown[] } }>(
    `mutation($input: PolicyInput!) { createPolicy(input: $input) { userErrors { message } } }`,
    { input: { name: 'idp-execute', effect: 'ALLOW', priority: 10, actions: ['EXECUTE'], resources: { tools: ['idp.*'] } } },
    { authorization: `Bearer ${registry.adminToken}` },
  );
  expect(allowed.data!.createPolicy.userErrors).toEqual([]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await registry?.close();
  await new Promise((resolve) => idp?.close(resolve));
});

/** An MCP SDK client that has been sent to the registry's sign-in page. */
async function sdkClient() {
  const provider = new MemoryOAuthProvider(REDIRECT, 'Headless MCP client');
  const transport = new StreamableHTTPClientTransport(new URL(`${registry.url}/mcp`), { authProvider: provider });
  await expect(new Client({ name: 'oidc-test', version: '1.0.0' }).connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  return { provider, transport };
}

describe('signing in through the external OIDC provider', () => {
  it('takes the MCP SDK client from the sign-in page through the provider and consent to tools/list on /mcp', async () => {
    const { provider, transport } = await sdkClient();
    const { callback, csrf, loginCookie } = await throughProvider(provider.authorizationUrl!, 'grace');
    const consent = await fetch(callback, { redirect: 'manual', headers: { cookie: loginCookie } });
    const consentHtml = await consent.text();
    expect(consent.status, consentHtml).toBe(200);
    expect(consentHtml).toContain('Allow access?');
    expect(consentHtml).toContain('grace');
    const approved = await postForm(`${registry.url}/oauth/authorize`, { ...formOf(consentHtml), action: 'approve' }, csrf);
    expect(approved.status).toBe(303);
    const back = new URL(approved.headers.get('location')!);
    await transport.finishAuth(back.searchParams.get('code')!);

    const client = new Client({ name: 'oidc-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${registry.url}/mcp`), { authProvider: provider }));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('idp.hello');

    // A replayed callback is refused (before its code is sent anywhere).
    const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: loginCookie } });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('oidc_callback_replayed');
  });

  it('refuses a forged state, an id_token for another audience, and an admin without a second factor; a sign-in without a scope claim holds a viewer’s scopes; audited, nothing secret shown', async () => {
    const forged = await throughProvider((await sdkClient()).provider.authorizationUrl!, 'mallory');
    const url = new URL(forged.callback);
    url.searchParams.set('state', randomBytes(32).toString('base64url'));
    const refused = await fetch(url, { redirect: 'manual', headers: { cookie: forged.loginCookie } });
    const refusedHtml = await refused.text();
    expect(refused.status).toBe(400);
    expect(refusedHtml).toContain('oidc_state_mismatch');
    expect(refusedHtml).not.toContain(url.searchParams.get('code')!);

    const other = await throughProvider((await sdkClient()).provider.authorizationUrl!, 'grace');
    idTokenOverrides.aud = 'someone-else';
    try {
      const wrongAudience = await fetch(other.callback, { redirect: 'manual', headers: { cookie: other.loginCookie } });
      expect(wrongAudience.status).toBe(400);
      expect(await wrongAudience.text()).toContain('oidc_id_token_invalid');
    } finally {
      delete idTokenOverrides.aud;
    }

    const admin = await throughProvider((await sdkClient()).provider.authorizationUrl!, 'admin-ann');
    const noMfa = await fetch(admin.callback, { redirect: 'manual', headers: { cookie: admin.loginCookie } });
    expect(noMfa.status).toBe(403);
    expect(await noMfa.text()).toContain('oidc_mfa_required');

    // An admin whose provider reports a second factor (amr) gets to the consent step.
    const adminMfa = await throughProvider((await sdkClient()).provider.authorizationUrl!, 'admin-bea-mfa');
    const consent = await fetch(adminMfa.callback, { redirect: 'manual', headers: { cookie: adminMfa.loginCookie } });
    expect(consent.status).toBe(200);
    expect(await consent.text()).toContain('Allow access?');

    // Without the scope claim, a person holds what a viewer does.
    const plain = await throughProvider((await sdkClient()).provider.authorizationUrl!, 'plain-pat');
    const viewerConsent = await (await fetch(plain.callback, { redirect: 'manual', headers: { cookie: plain.loginCookie } })).text();
    expect(viewerConsent).toContain('<code>tools:read</code>');
    expect(viewerConsent).not.toContain('tools:execute');

    const noCookie = await fetch(admin.callback, { redirect: 'manual' });
    expect(await noCookie.text()).toContain('oidc_login_expired');

    const reasons = (await registry.db.fork().find(AuditEntry, { action: 'oauth.signin.oidc' })).map((e) => (e.details as { reason?: string }).reason);
    const stored = JSON.stringify(await registry.db.fork().find(AuditEntry, {}));
    for (const secret of secrets) {
      expect(stored).not.toContain(secret);
      expect(logLines.join('\n')).not.toContain(secret);
    }
    expect(logLines.length).toBeGreaterThan(0);
    expect(reasons).toEqual(expect.arrayContaining(['oidc_state_mismatch', 'oidc_id_token_invalid', 'oidc_mfa_required', 'oidc_login_expired', 'oidc_callback_replayed']));
  });
});
