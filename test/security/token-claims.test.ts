import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type CryptoKey, decodeJwt, exportJWK, generateKeyPair, importJWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { startRegistry, type TestClient, type TestRegistry } from '../helpers/registry.js';

// Tokens signed with the registry's own key (configured through REGISTRY_SIGNING_KEYS, as an
// operator would) but carrying claims the registry never issues: no `exp`, an `iat` in the future,
// a lifetime longer than the configured one, a made-up family. None of them may authenticate, and
// no claim may step around a revocation.

let registry: TestRegistry;
let signingKey: { kid: string; privateKey: CryptoKey };
const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** `me`'s answer with this token: the HTTP status and the principal id, if any. */
async function me(token: string): Promise<{ status: number; id?: string; code?: string }> {
  const res = await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', undefined, bearer(token));
  return { status: res.status, id: res.data?.me?.principal.id, code: res.errors?.[0]?.extensions?.code };
}

/** A token signed with the registry's key; `claims` replace (or, as undefined, remove) the usual ones. */
async function forge(template: string, claims: Record<string, unknown>): Promise<string> {
  const payload: JWTPayload = { ...decodeJwt(template), ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: signingKey.kid, typ: 'at+jwt' }).sign(signingKey.privateKey);
}

async function revoke(principalId: string): Promise<void> {
  const res = await registry.graphql<{ revokeTokens: { userErrors: unknown[] } }>(
    'mutation($id: ID!) { revokeTokens(input: { principalId: $id }) { userErrors { code } } }',
    { id: principalId },
    bearer(registry.adminToken),
  );
  expect(res.data!.revokeTokens.userErrors).toEqual([]);
}

beforeAll(async () => {
  const jwk = await generateSigningJwk();
  signingKey = { kid: jwk.kid!, privateKey: (await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey };
  registry = await startRegistry({ env: { REGISTRY_SIGNING_KEYS: JSON.stringify([jwk]) } });
});
afterAll(() => registry?.close());

describe("claims of the registry's own tokens", () => {
  let client: TestClient;
  let issued: string;

  beforeAll(async () => {
    client = await registry.createClient({ roles: ['viewer'] });
    issued = (await registry.tokenFor(client)).access_token;
  });

  it('are what the registry signs: a forged copy with the same claims is accepted (the key is right)', async () => {
    expect(await me(await forge(issued, {}))).toMatchObject({ status: 200, id: client.principalId });
  });

  it('must include exp: a token without one is refused with 401', async () => {
    const res = await me(await forge(issued, { exp: undefined }));
    expect(res).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('must include iat: a token without one is refused with 401', async () => {
    expect(await me(await forge(issued, { iat: undefined }))).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('may not be issued in the future beyond the clock skew (iat, nbf)', async () => {
    const t = now();
    expect(await me(await forge(issued, { iat: t + 3600, exp: t + 3600 + 900 }))).toMatchObject({ status: 401 });
    expect(await me(await forge(issued, { iat: t + 120, exp: t + 900 }))).toMatchObject({ status: 401 });
    expect(await me(await forge(issued, { nbf: t + 3600 }))).toMatchObject({ status: 401 });
    // Within the skew (60 s) a replica's clock running ahead is tolerated.
    expect(await me(await forge(issued, { iat: t + 20, exp: t + 800 }))).toMatchObject({ status: 200 });
  });

  it('may not live longer than the configured access-token lifetime', async () => {
    const t = now();
    expect(await me(await forge(issued, { iat: t, exp: t + 30 * 86_400 }))).toMatchObject({ status: 401 });
    expect(await me(await forge(issued, { iat: t - 10 * 86_400, exp: t + 300 }))).toMatchObject({ status: 401 });
  });

  it('must name a token family (sid) of the principal that exists', async () => {
    expect(decodeJwt(issued).sid).toEqual(expect.any(String));
    expect(await me(await forge(issued, { sid: undefined }))).toMatchObject({ status: 401 });
    expect(await me(await forge(issued, { sid: crypto.randomUUID() }))).toMatchObject({ status: 401 });
    const other = await registry.createClient({ roles: ['viewer'] });
    const othersFamily = decodeJwt((await registry.tokenFor(other)).access_token).sid;
    expect(await me(await forge(issued, { sid: othersFamily }))).toMatchObject({ status: 401 });
  });
});

describe('revocation', () => {
  it('refuses every token issued before revokeTokens, whatever its iat says', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const issued = (await registry.tokenFor(client)).access_token;
    const t = now();
    const aheadOfTime = await forge(issued, { iat: t + 50, exp: t + 800 });
    expect(await me(aheadOfTime)).toMatchObject({ status: 200 });
    await revoke(client.principalId);
    expect(await me(issued)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await me(aheadOfTime)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('of a family by refresh-token reuse refuses the access tokens minted from that family, and only those', async () => {
    const client = await registry.createClient({ roles: ['viewer'] });
    const auth = { client_id: client.clientId, client_secret: client.clientSecret };
    const first = await registry.tokenFor(client);
    const unrelated = await registry.tokenFor(client);
    const second = await registry.oauth({ grant_type: 'refresh_token', refresh_token: first.refresh_token, ...auth });
    expect(second.status).toBe(200);
    const secondAccess = String(second.body.access_token);
    expect(decodeJwt(secondAccess).sid).toBe(decodeJwt(first.access_token).sid);
    expect(await me(first.access_token)).toMatchObject({ status: 200 });
    expect(await me(secondAccess)).toMatchObject({ status: 200 });

    const reuse = await registry.oauth({ grant_type: 'refresh_token', refresh_token: first.refresh_token, ...auth });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    expect(await me(first.access_token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await me(secondAccess)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    // The principal's other session is not the stolen one.
    expect(await me(unrelated.access_token)).toMatchObject({ status: 200, id: client.principalId });
  });
});

describe("an external identity provider's tokens", () => {
  let idp: Server;
  let external: TestRegistry;
  let sign: (claims: JWTPayload) => Promise<string>;
  const issuer = 'https://idp.example.test';

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' };
    idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;
    external = await startRegistry({ env: { OIDC_ISSUER: issuer, OIDC_JWKS_URL: jwksUrl } });
    sign = (claims) => new SignJWT({ iss: issuer, sub: 'bob@example.test', scope: 'tools:read', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'idp-1' }).sign(privateKey);
  });
  afterAll(async () => {
    await external?.close();
    idp?.close();
  });

  const status = async (token: string) => (await external.graphql('{ me { scopes } }', undefined, bearer(token))).status;

  it('follow the same rules: exp and iat required, iat not in the future', async () => {
    const t = now();
    expect(await status(await sign({ iat: t, exp: t + 300 }))).toBe(200);
    expect(await status(await sign({ iat: t }))).toBe(401);
    expect(await status(await sign({ exp: t + 300 }))).toBe(401);
    expect(await status(await sign({ iat: t + 3600, exp: t + 3900 }))).toBe(401);
  });
});
