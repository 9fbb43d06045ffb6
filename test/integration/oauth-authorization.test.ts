import { createHash, randomBytes } from 'node:crypto';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpService } from '../../src/modules/oauth/index.js';
import { Principal } from '../../src/modules/principal/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { formOf, MemoryOAuthProvider } from '../helpers/mcp-oauth-client.js';
import { BOOTSTRAP, startRegistry, type TestClient, type TestRegistry } from '../helpers/registry.js';

// The registry as an OAuth 2.1 authorization server for MCP clients, driven by the MCP SDK's own
// client-side flow: discovery, dynamic registration, the sign-in page followed headlessly, PKCE.

let registry: TestRegistry;
let agent: TestClient;
const clients: Client[] = [];
const REDIRECT = 'http://127.0.0.1:53682/callback';

const post = (cookie: string, form: Record<string, string>) =>
  fetch(`${registry.url}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams(form).toString(),
  });

/** Opens the sign-in page of `authorizationUrl`: its CSRF cookie and form. */
async function openSignIn(authorizationUrl: URL | string) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  expect(page.status).toBe(200);
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  return { page, cookie, form: formOf(await page.text()) };
}

/** Signs in on the page (as a person would), consents, and returns where the registry redirected to. */
async function signInAndConsent(authorizationUrl: URL | string, who: Pick<TestClient, 'clientId' | 'clientSecret'>, totp?: string): Promise<URL> {
  const { cookie, form } = await openSignIn(authorizationUrl);
  const consent = await post(cookie, { ...form, username: who.clientId, password: who.clientSecret, action: 'signin', ...(totp ? { totp } : {}) });
  const consentPage = await consent.text();
  expect(consent.status, consentPage).toBe(200);
  expect(consentPage).toContain('Allow access?');
  const approved = await post(cookie, { ...formOf(consentPage), action: 'approve' });
  expect(approved.status).toBe(303);
  return new URL(approved.headers.get('location')!);
}

/** Registers a public client directly (RFC 7591). */
async function register(metadata: Record<string, unknown>) {
  const res = await fetch(`${registry.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, string> };
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(clientId: string, params: Record<string, string>) {
  const url = new URL(`${registry.url}/oauth/authorize`);
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, state: 'xyz', resource: `${registry.url}/mcp`, ...params })) {
    url.searchParams.set(k, v);
  }
  return url;
}

/** A code for `clientId` obtained through the pages, with its PKCE verifier. */
async function codeFor(clientId: string, params: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const back = await signInAndConsent(authorizeUrl(clientId, { code_challenge: challenge, code_challenge_method: 'S256', ...params }), agent);
  return { code: back.searchParams.get('code')!, verifier, back };
}

const initialize = (token: string, path = '/mcp') =>
  fetch(`${registry.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });

beforeAll(async () => {
  registry = await startRegistry({ env: { REGISTRY_ADMIN_MFA: 'required', REGISTRY_OAUTH_REGISTRATIONS_PER_HOUR: '13' } });
  await new ToolService(registry.db.fork()).importManual(
    'oauthed',
    manual([manualTool({ name: 'hello', inputs: { type: 'object', properties: {} }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"hi"' } })]),
    INLINE_MANUAL,
  );
  agent = await registry.createClient({ roles: ['agent'], name: 'Ada the agent' });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await registry?.close();
});

describe('the MCP SDK client signing in with authorization code and PKCE', () => {
  it('discovers, registers, signs in through the pages, exchanges the code and lists tools; iss and aud agree with the metadata', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT);
    const mcpUrl = new URL(`${registry.url}/mcp`);
    const first = new Client({ name: 'oauth-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.info?.client_id).toMatch(/^mcp_/);
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('resource')).toBe(`${registry.url}/mcp`);

    const { page } = await openSignIn(authorizationUrl);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);

    const back = await signInAndConsent(authorizationUrl, agent);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('iss')).toBe(registry.url);
    await transport.finishAuth(back.searchParams.get('code')!);

    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('oauthed.hello');

    const metadata = (await (await fetch(`${registry.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    const resource = (await (await fetch(`${registry.url}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    const claims = decodeJwt(provider.saved!.access_token);
    expect(claims.iss).toBe(metadata.issuer);
    expect(resource.authorization_servers).toEqual([metadata.issuer]);
    expect(claims.aud).toEqual([resource.resource]);
    expect(claims.sub).toBe(agent.principalId);
    expect(metadata).toMatchObject({ code_challenge_methods_supported: ['S256'], response_types_supported: ['code'], registration_endpoint: `${registry.url}/oauth/register` });

    // The public client refreshes without a secret, keeping the audience.
    const refreshed = await registry.oauth({ grant_type: 'refresh_token', client_id: provider.info!.client_id, refresh_token: provider.saved!.refresh_token! });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(refreshed.body.access_token as string).aud).toEqual([`${registry.url}/mcp`]);
    // Only that client may refresh: not the principal with its secret, not another registered client (nothing is spent).
    const next = refreshed.body.refresh_token as string;
    const other = (await register({ redirect_uris: [REDIRECT] })).body.client_id!;
    expect((await registry.oauth({ grant_type: 'refresh_token', client_id: agent.clientId, client_secret: agent.clientSecret, refresh_token: next })).body.error).toBe('invalid_grant');
    expect((await registry.oauth({ grant_type: 'refresh_token', client_id: other, refresh_token: next })).body.error).toBe('invalid_grant');
    expect((await registry.oauth({ grant_type: 'refresh_token', client_id: provider.info!.client_id, refresh_token: next })).status).toBe(200);
  });

  it("connects with the SDK's ClientCredentialsProvider, and its token is for /mcp only", async () => {
    const provider = new ClientCredentialsProvider({ clientId: agent.clientId, clientSecret: agent.clientSecret, expectedIssuer: registry.url });
    const client = new Client({ name: 'cc-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${registry.url}/mcp`), { authProvider: provider }));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('oauthed.hello');
    const token = provider.tokens()!.access_token;
    expect(decodeJwt(token).aud).toEqual([`${registry.url}/mcp`]);
    expect((await registry.graphql('{ me { scopes } }', undefined, { authorization: `Bearer ${token}` })).status).toBe(401);
  });
});

describe('audiences (RFC 8707)', () => {
  it('refuses at /mcp a token for another resource with 401 naming the resource metadata; a token without resource is for all three', async () => {
    const forUtcp = await registry.oauth({ grant_type: 'client_credentials', client_id: agent.clientId, client_secret: agent.clientSecret, resource: `${registry.url}/utcp` });
    expect(decodeJwt(forUtcp.body.access_token as string).aud).toEqual([`${registry.url}/utcp`]);
    const refused = await initialize(forUtcp.body.access_token as string);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain(`resource_metadata="${registry.url}/.well-known/oauth-protected-resource/mcp"`);
    expect((await fetch(`${registry.url}/utcp`, { headers: { authorization: `Bearer ${forUtcp.body.access_token}` } })).status).toBe(200);
    const graphql = await registry.graphql('{ me { scopes } }', undefined, { authorization: `Bearer ${forUtcp.body.access_token}` });
    expect(graphql.status).toBe(401);
    expect(graphql.headers.get('www-authenticate')).toContain('/.well-known/oauth-protected-resource/graphql');

    const everywhere = await registry.tokenFor(agent);
    expect(decodeJwt(everywhere.access_token).aud).toEqual(['/mcp', '/utcp', '/graphql'].map((p) => `${registry.url}${p}`));
    expect((await initialize(everywhere.access_token)).status).toBe(200);
    // Refreshing keeps the audience; a resource outside it is refused.
    const refreshed = await registry.oauth({ grant_type: 'refresh_token', client_id: agent.clientId, client_secret: agent.clientSecret, refresh_token: forUtcp.body.refresh_token as string });
    expect(decodeJwt(refreshed.body.access_token as string).aud).toEqual([`${registry.url}/utcp`]);
    const widened = await registry.oauth({ grant_type: 'refresh_token', client_id: agent.clientId, client_secret: agent.clientSecret, refresh_token: refreshed.body.refresh_token as string, resource: `${registry.url}/mcp` });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    expect((await registry.oauth({ grant_type: 'client_credentials', client_id: agent.clientId, client_secret: agent.clientSecret, resource: 'https://elsewhere.example/mcp' })).body.error).toBe('invalid_target');
  });
});

describe('the authorization endpoint', () => {
  let clientId: string;
  beforeAll(async () => {
    clientId = (await register({ client_name: 'direct', redirect_uris: [REDIRECT] })).body.client_id!;
  });

  it('refuses PKCE plain and a missing challenge with a redirect carrying invalid_request and the state', async () => {
    for (const params of [{ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, {}] as Record<string, string>[]) {
      const res = await fetch(authorizeUrl(clientId, params), { redirect: 'manual' });
      expect(res.status).toBe(303);
      const location = new URL(res.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('state')).toBe('xyz');
    }
  });

  it('never redirects to an unregistered redirect_uri, accepts another loopback port, and refuses a code at another redirect_uri', async () => {
    const { challenge } = pkce();
    const evil = await fetch(authorizeUrl(clientId, { code_challenge: challenge, code_challenge_method: 'S256', redirect_uri: 'https://evil.example/cb' }), { redirect: 'manual' });
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    const otherPath = await fetch(authorizeUrl(clientId, { code_challenge: challenge, code_challenge_method: 'S256', redirect_uri: 'http://127.0.0.1:53682/other' }), { redirect: 'manual' });
    expect(otherPath.status).toBe(400);

    const otherPort = 'http://127.0.0.1:40001/callback';
    const { code, verifier, back } = await codeFor(clientId, { redirect_uri: otherPort });
    expect(`${back.origin}${back.pathname}`).toBe(otherPort);
    const wrong = await registry.oauth({ grant_type: 'authorization_code', client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('refuses a wrong verifier, and a replayed code, which revokes the tokens the code gave', async () => {
    const bad = await codeFor(clientId);
    const wrongVerifier = await registry.oauth({ grant_type: 'authorization_code', client_id: clientId, code: bad.code, code_verifier: pkce().verifier, redirect_uri: REDIRECT });
    expect(wrongVerifier).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    const { code, verifier } = await codeFor(clientId);
    const exchange = () => registry.oauth({ grant_type: 'authorization_code', client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
    const first = await exchange();
    expect(first.status).toBe(200);
    expect((await initialize(first.body.access_token as string)).status).toBe(200);
    const replay = await exchange();
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await initialize(first.body.access_token as string)).status).toBe(401);
    const refresh = await registry.oauth({ grant_type: 'refresh_token', client_id: clientId, refresh_token: first.body.refresh_token as string });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('refuses a form posted without its CSRF cookie, and wrong credentials', async () => {
    const { challenge } = pkce();
    const { cookie, form } = await openSignIn(authorizeUrl(clientId, { code_challenge: challenge, code_challenge_method: 'S256' }));
    expect((await post('', { ...form, username: agent.clientId, password: agent.clientSecret, action: 'signin' })).status).toBe(403);
    expect((await post('oauth_csrf=forged', { ...form, username: agent.clientId, password: agent.clientSecret, action: 'signin' })).status).toBe(403);
    const wrong = await post(cookie, { ...form, username: agent.clientId, password: 'not-the-secret', action: 'signin' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain('not-the-secret');
  });

  it('asks an admin for a TOTP code when REGISTRY_ADMIN_MFA=required, and accepts each code once', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl(clientId, { code_challenge: challenge, code_challenge_method: 'S256' });
    const signIn = async (totp?: string) => {
      const { cookie, form } = await openSignIn(url);
      return post(cookie, { ...form, username: BOOTSTRAP.clientId, password: BOOTSTRAP.clientSecret, action: 'signin', ...(totp ? { totp } : {}) });
    };
    const unenrolled = await signIn();
    expect(unenrolled.status).toBe(403);
    expect(await unenrolled.text()).toContain('admin:mfa');

    const em = registry.db.fork();
    const admin = await em.findOneOrFail(Principal, { clientId: BOOTSTRAP.clientId });
    const { secret } = await new TotpService(em, registry.security.vault).enrol(admin);
    expect((await signIn()).status).toBe(401);
    expect((await signIn('000000')).status).toBe(401);
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate();
    const accepted = await signIn(code);
    expect(accepted.status).toBe(200);
    expect(await accepted.text()).toContain('Allow access?');
    expect((await signIn(code)).status).toBe(401);
  });
});

describe('dynamic client registration (RFC 7591)', () => {
  it('registers public clients only, within bounds, and limits registrations per address', async () => {
    expect((await register({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' })).body.error).toBe('invalid_client_metadata');
    expect((await register({ redirect_uris: ['http://evil.example/cb'] })).body.error).toBe('invalid_redirect_uri');
    expect((await register({ redirect_uris: Array.from({ length: 6 }, (_, i) => `https://app.example/${i}`) })).body.error).toBe('invalid_redirect_uri');
    expect((await register({ redirect_uris: [REDIRECT], client_name: 'x'.repeat(201) })).body.error).toBe('invalid_client_metadata');
    const ok = await register({ redirect_uris: ['https://app.example/cb', 'com.example.app:/cb'], client_name: 'fine' });
    expect(ok).toMatchObject({ status: 201, body: { token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb', 'com.example.app:/cb'] } });

    let limited;
    for (let i = 0; i < 13 && !limited; i++) {
      const res = await register({ redirect_uris: [REDIRECT] });
      if (res.status === 429) limited = res;
    }
    expect(limited?.body.error).toBe('slow_down');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
