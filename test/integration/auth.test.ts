import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEntry } from '../../src/modules/audit/index.js';
import { Principal, PrincipalStatus } from '../../src/modules/principal/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const code = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  registry = await startRegistry({ seed: true });
});
afterAll(() => registry?.close());

describe('the OAuth token endpoint', () => {
  it('issues a bearer token for client credentials sent with HTTP Basic or in the body', async () => {
    const client = await registry.createClient({ roles: ['agent'] });
    const basic = Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64');
    const viaBasic = await registry.oauth({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` });
    expect(viaBasic.status).toBe(200);
    expect(viaBasic.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'tools:execute tools:read' });
    expect(viaBasic.body.refresh_token).toMatch(/^rt_/);

    const token = (await registry.tokenFor(client)).access_token;
    const me = await registry.graphql<{ me: { principal: { id: string; roles: string[] }; scopes: string[] } }>(
      '{ me { principal { id roles } scopes } }',
      undefined,
      bearer(token),
    );
    expect(me.data!.me).toEqual({ principal: { id: client.principalId, roles: ['agent'] }, scopes: ['tools:execute', 'tools:read'] });
  });

  it('signs tokens with a key published at /.well-known/jwks.json, carrying sub, scope and jti', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const { access_token } = await registry.tokenFor(client);
    const jwks = await (await fetch(`${registry.url}/.well-known/jwks.json`)).json();
    const { payload, protectedHeader } = await jwtVerify(access_token, createLocalJWKSet(jwks as never));
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ sub: client.principalId, scope: 'tools:read' });
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(JSON.stringify(jwks)).not.toContain('"d"');
  });

  it('narrows a token to the requested scopes and refuses scopes the client lacks', async () => {
    const client = await registry.createClient({ roles: ['agent'] });
    const narrow = await registry.tokenFor(client, 'tools:read');
    expect(narrow.scope).toBe('tools:read');
    const tooMuch = await registry.oauth({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, scope: 'admin' });
    expect(tooMuch).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('answers bad requests with the RFC 6749 error codes', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    expect(await registry.oauth({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'wrong' })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await registry.oauth({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await registry.oauth({ grant_type: 'password', username: 'a', password: 'b' })).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    expect(await registry.oauth({})).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await registry.oauth({ grant_type: 'client_credentials' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('rotates refresh tokens, and a reused one revokes its whole family', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const first = await registry.tokenFor(client);
    const auth = { client_id: client.clientId, client_secret: client.clientSecret };
    const second = await registry.oauth({ grant_type: 'refresh_token', refresh_token: first.refresh_token, ...auth });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);

    const reuse = await registry.oauth({ grant_type: 'refresh_token', refresh_token: first.refresh_token, ...auth });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The thief's reuse also cut off the legitimate holder of the newest token.
    const afterReuse = await registry.oauth({ grant_type: 'refresh_token', refresh_token: String(second.body.refresh_token), ...auth });
    expect(afterReuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const reuseAudit = await registry.db.fork().find(AuditEntry, { action: 'token.refresh.reuse', actorId: client.principalId });
    expect(reuseAudit).toHaveLength(1);
  });

  it('lets exactly one of two concurrent exchanges of a refresh token win', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const { refresh_token } = await registry.tokenFor(client);
    const form = { grant_type: 'refresh_token', refresh_token, client_id: client.clientId, client_secret: client.clientSecret };
    const results = await Promise.all([registry.oauth(form), registry.oauth(form)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
  });

  it("refuses another client's refresh token without spending it", async () => {
    const owner = await registry.createClient({ roles: ['viewer'] });
    const other = await registry.createClient({ roles: ['viewer'] });
    const { refresh_token } = await registry.tokenFor(owner);
    const res = await registry.oauth({ grant_type: 'refresh_token', refresh_token, client_id: other.clientId, client_secret: other.clientSecret });
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The attempt did not burn the owner's token.
    const owners = await registry.oauth({ grant_type: 'refresh_token', refresh_token, client_id: owner.clientId, client_secret: owner.clientSecret });
    expect(owners.status).toBe(200);
  });
});

describe('authentication of GraphQL requests', () => {
  it('refuses every field but _service without a token', async () => {
    const anonymous = { authorization: '' };
    expect(code(await registry.graphql('{ tools { totalCount } }', undefined, anonymous))).toBe('UNAUTHENTICATED');
    expect(code(await registry.graphql('{ me { scopes } }', undefined, anonymous))).toBe('UNAUTHENTICATED');
    const sdl = await registry.graphql<{ _service: { sdl: string } }>('{ _service { sdl } }', undefined, anonymous);
    expect(sdl.errors).toBeUndefined();
    expect(sdl.data!._service.sdl).toContain('type Tool');
  });

  it('answers a bad, foreign, expired or malformed token with 401', async () => {
    const { privateKey } = await generateKeyPair('EdDSA');
    const foreign = await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setSubject('00000000-0000-4000-8000-000000000000')
      .setIssuer(registry.security.tokens.issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const key = registry.security.keys.current;
    // Complete but for its time: every claim a registry token must carry, expired a minute ago.
    const expired = await new SignJWT({ scope: 'tools:read', sid: '00000000-0000-4000-8000-000000000001' })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setSubject('00000000-0000-4000-8000-000000000000')
      .setIssuer(registry.security.tokens.issuer)
      .setJti('00000000-0000-4000-8000-000000000002')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 900)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key.privateKey);
    for (const authorization of [`Bearer ${foreign}`, `Bearer ${expired}`, 'Bearer not.a.jwt', 'Basic abc', 'Bearer']) {
      const res = await registry.graphql('{ tools { totalCount } }', undefined, { authorization });
      expect(res.status, authorization.slice(0, 12)).toBe(401);
      expect(code(res)).toBe('UNAUTHENTICATED');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    const res = await registry.graphql('{ tools { totalCount } }', undefined, { authorization: `Bearer ${expired}` });
    expect(res.errors![0]!.message).toMatch(/expired/);
  });

  it('refuses a field when the token lacks its scope', async () => {
    const token = await registry.login({ scopes: ['tools:execute'] });
    const res = await registry.graphql('{ tools { totalCount } }', undefined, bearer(token));
    expect(code(res)).toBe('FORBIDDEN');
    expect(res.errors![0]!.extensions).toMatchObject({ scope: 'tools:read' });
  });

  it('shuts a principal out at once when its tokens are revoked, and lets it back in with a new token', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const { access_token, refresh_token } = await registry.tokenFor(client);
    expect(code(await registry.graphql('{ me { scopes } }', undefined, bearer(access_token)))).toBeUndefined();

    const revoke = await registry.graphql<{ revokeTokens: { revokedAt: string; userErrors: unknown[] } }>(
      'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { revokedAt userErrors { code } } }',
      { id: client.principalId },
      bearer(registry.adminToken),
    );
    expect(revoke.data!.revokeTokens.userErrors).toEqual([]);
    const after = await registry.graphql('{ me { scopes } }', undefined, bearer(access_token));
    expect(after.status).toBe(401);
    expect(code(after)).toBe('UNAUTHENTICATED');
    const refresh = await registry.oauth({ grant_type: 'refresh_token', refresh_token, client_id: client.clientId, client_secret: client.clientSecret });
    expect(refresh.body.error).toBe('invalid_grant');

    await sleep(1100); // tokens carry whole seconds; one from the second of the revocation is refused too
    const fresh = await registry.tokenFor(client);
    expect(code(await registry.graphql('{ me { scopes } }', undefined, bearer(fresh.access_token)))).toBeUndefined();
  });

  it('lets a principal revoke its own tokens but not those of others', async () => {
    const me = await registry.createClient({ roles: ['viewer'] });
    const other = await registry.createClient({ roles: ['viewer'] });
    const token = (await registry.tokenFor(me)).access_token;
    const forbidden = await registry.graphql(
      'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { revokedAt } }',
      { id: other.principalId },
      bearer(token),
    );
    expect(code(forbidden)).toBe('FORBIDDEN');
    const own = await registry.graphql<{ revokeTokens: { revokedAt: string } }>(
      'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { revokedAt } }',
      { id: me.principalId },
      bearer(token),
    );
    expect(own.data!.revokeTokens.revokedAt).toEqual(expect.any(String));
  });

  it('refuses tokens of a disabled principal', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const { access_token } = await registry.tokenFor(client);
    const em = registry.db.fork();
    await em.nativeUpdate(Principal, { id: client.principalId }, { status: PrincipalStatus.DISABLED });
    expect((await registry.graphql('{ me { scopes } }', undefined, bearer(access_token))).status).toBe(401);
    expect((await registry.oauth({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })).status).toBe(401);
  });
});

describe('principals through the API', () => {
  it('lets an admin create a principal whose secret is shown once and rotate it', async () => {
    const created = await registry.graphql<{ createPrincipal: { principal: { id: string; clientId: string; roles: string[] }; clientSecret: string; userErrors: unknown[] } }>(
      'mutation { createPrincipal(input: { name: "ci bot", kind: SERVICE, roles: ["publisher"] }) { principal { id clientId roles } clientSecret userErrors { code } } }',
      undefined,
      bearer(registry.adminToken),
    );
    const { principal, clientSecret } = created.data!.createPrincipal;
    expect(principal.roles).toEqual(['publisher']);
    const token = await registry.tokenFor({ clientId: principal.clientId, clientSecret });
    expect(token.scope).toBe('providers:write tools:read');

    const rotated = await registry.graphql<{ rotatePrincipalSecret: { clientSecret: string } }>(
      'mutation($id: ID!) { rotatePrincipalSecret(input: { principalId: $id }) { clientSecret } }',
      { id: principal.id },
      bearer(registry.adminToken),
    );
    const newSecret = rotated.data!.rotatePrincipalSecret.clientSecret;
    expect(newSecret).not.toBe(clientSecret);
    expect((await registry.oauth({ grant_type: 'client_credentials', client_id: principal.clientId, client_secret: clientSecret })).status).toBe(401);
    await registry.tokenFor({ clientId: principal.clientId, clientSecret: newSecret });
  });

  it('reports unknown roles as user errors and refuses non-admins', async () => {
    const bad = await registry.graphql<{ createPrincipal: { principal: null; userErrors: { code: string; message: string }[] } }>(
      'mutation { createPrincipal(input: { name: "x", kind: AGENT, roles: ["overlord"] }) { principal { id } userErrors { code message } } }',
      undefined,
      bearer(registry.adminToken),
    );
    expect(bad.data!.createPrincipal).toMatchObject({ principal: null, userErrors: [{ code: 'BAD_USER_INPUT' }] });
    const viewer = await registry.graphql('mutation { createPrincipal(input: { name: "x", kind: AGENT }) { principal { id } } }');
    expect(code(viewer)).toBe('FORBIDDEN');
  });
});

describe('the audit log through the API', () => {
  it('records issuance and denials, is readable with audit:read and verifiable by an admin', async () => {
    await registry.graphql('{ tools { totalCount } }', undefined, { authorization: '' });
    const auditor = await registry.login({ roles: ['policy_admin'] });
    const log = await registry.graphql<{ auditLog: { edges: { node: { action: string; outcome: string } }[] } }>(
      '{ auditLog(first: 100) { edges { node { action outcome } } } }',
      undefined,
      bearer(auditor),
    );
    const actions = log.data!.auditLog.edges.map((e) => `${e.node.action}:${e.node.outcome}`);
    expect(actions).toEqual(expect.arrayContaining(['token.issue:SUCCESS', 'authorization.denied:DENIED', 'principal.create:SUCCESS']));
    const denied = await registry.graphql<{ auditLog: { edges: { node: { targetId: string; details: { code: string } } }[] } }>(
      '{ auditLog(first: 5, filter: { action: "authorization.denied" }) { edges { node { targetId details } } } }',
      undefined,
      bearer(auditor),
    );
    expect(denied.data!.auditLog.edges.map((e) => e.node.targetId)).toContain('Query.tools');

    expect(code(await registry.graphql('{ verifyAuditLog { valid } }', undefined, bearer(auditor)))).toBe('FORBIDDEN');
    const verified = await registry.graphql<{ verifyAuditLog: { valid: boolean; checked: number } }>(
      '{ verifyAuditLog { valid checked firstBrokenSeq } }',
      undefined,
      bearer(registry.adminToken),
    );
    expect(verified.data!.verifyAuditLog.valid).toBe(true);
    expect(verified.data!.verifyAuditLog.checked).toBeGreaterThan(10);
  });
});

describe('query-cost budgets', () => {
  it('reports the charge and the budget on every answer, and refuses with RATE_LIMITED, 429 and Retry-After once the hour’s budget is spent', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    await registry.db.fork().nativeUpdate(Principal, { id: client.principalId }, { costBudgetPerHour: 3 });
    const token = (await registry.tokenFor(client)).access_token;
    const first = await registry.graphql('{ me { scopes } }', undefined, bearer(token));
    expect(first.extensions).toMatchObject({ cost: { limit: 3, requested: 1, remaining: 2, used: 1 } });
    expect(first.headers.get('x-ratelimit-limit')).toBe('3');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(first.headers.get('x-ratelimit-used')).toBe('1');
    const reset = Number(first.headers.get('x-ratelimit-reset'));
    expect(reset * 1000).toBeGreaterThan(Date.now());
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    // A page of 100 providers with 40 tools each: 1 + 100 requests, one point (complexity 4,301).
    const nested = await registry.graphql('{ providers(first: 100) { edges { node { tools(first: 40) { totalCount } } } } }', undefined, bearer(token));
    expect(nested.errors).toBeUndefined();
    expect(nested.extensions).toMatchObject({ cost: { requested: 1, complexity: 4301, remaining: 1 } });
    let res = nested;
    for (let i = 0; i < 5 && !code(res); i += 1) res = await registry.graphql('{ me { scopes } }', undefined, bearer(token));
    expect(code(res)).toBe('RATE_LIMITED');
    expect(res.status).toBe(429);
    expect(res.data).toBeUndefined();
    const refusal = res.errors![0]!.extensions as { limit: number; resetAt: string; retryAfter: number };
    expect(refusal).toMatchObject({ limit: 3, remaining: 0, resetAt: expect.any(String), retryAfter: expect.any(Number) });
    expect(Number(res.headers.get('retry-after'))).toBe(refusal.retryAfter);
    expect(refusal.retryAfter).toBeGreaterThan(0);
    expect(refusal.retryAfter).toBeLessThanOrEqual(3600);
    expect(Math.abs(Date.parse(refusal.resetAt) / 1000 - reset)).toBeLessThanOrEqual(2);
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(res.headers.get('x-ratelimit-used')).toBe('3');
    // An answer that charged nothing (refused before the charge) still reports the budget.
    const invalid = await registry.graphql('{ nope }', undefined, bearer(token));
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('answers `rateLimit` with the budget after this operation’s charge, as the headers do', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    await registry.db.fork().nativeUpdate(Principal, { id: client.principalId }, { costBudgetPerHour: 50 });
    const token = (await registry.tokenFor(client)).access_token;
    await registry.graphql('{ me { scopes } }', undefined, bearer(token));
    const res = await registry.graphql<{ rateLimit: { limit: number; cost: number; remaining: number; used: number; resetAt: string } }>(
      '{ rateLimit { limit cost remaining used resetAt } tools(first: 100) { totalCount } }',
      undefined,
      bearer(token),
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.rateLimit).toMatchObject({ limit: 50, cost: 1, remaining: 48, used: 2 });
    expect(Math.abs(Date.parse(res.data!.rateLimit.resetAt) / 1000 - Number(res.headers.get('x-ratelimit-reset')))).toBeLessThanOrEqual(1);
    expect(res.headers.get('x-ratelimit-used')).toBe('2');
    const anonymous = await registry.graphql('{ rateLimit { limit } }', undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
  });
});

describe('tokens from an external identity provider', () => {
  let idp: Server;
  let external: TestRegistry;
  let sign: (claims: Record<string, unknown>, issuer?: string) => Promise<string>;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' };
    idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    const issuer = 'https://idp.example.test';
    const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;
    external = await startRegistry({ seed: true, env: { OIDC_ISSUER: issuer, OIDC_JWKS_URL: jwksUrl, OIDC_SCOPE_CLAIM: 'scp', OIDC_AUDIENCE: 'registry' } });
    sign = (claims, iss = issuer) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
        .setIssuer(iss)
        .setAudience('registry')
        .setSubject('alice@example.test')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
  });
  afterAll(async () => {
    await external?.close();
    idp?.close();
  });

  it('accepts them with scopes mapped from the configured claim, as one principal per subject', async () => {
    const token = await sign({ scp: ['tools:read', 'not-a-scope'] });
    const first = await external.graphql<{ me: { principal: { id: string; name: string; kind: string }; scopes: string[] } }>(
      '{ me { principal { id name kind } scopes } }',
      undefined,
      bearer(token),
    );
    expect(first.errors).toBeUndefined();
    expect(first.data!.me).toMatchObject({ principal: { name: 'alice@example.test', kind: 'USER' }, scopes: ['tools:read'] });
    const again = await external.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', undefined, bearer(await sign({ scp: 'tools:read' })));
    expect(again.data!.me.principal.id).toBe(first.data!.me.principal.id);
    expect(code(await external.graphql('{ tools { totalCount } }', undefined, bearer(token)))).toBeUndefined();
    expect(code(await external.graphql('mutation { createPrincipal(input: { name: "x", kind: AGENT }) { clientSecret } }', undefined, bearer(token)))).toBe(
      'FORBIDDEN',
    );
  });

  it('refuses them from another issuer or with the wrong audience', async () => {
    const otherIssuer = await sign({ scp: 'admin' }, 'https://evil.example.test');
    expect((await external.graphql('{ me { scopes } }', undefined, bearer(otherIssuer))).status).toBe(401);
  });
});
