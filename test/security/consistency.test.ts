import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// What the registry says about itself must be what it does: one issuer in its tokens and its OAuth
// metadata; 401 for a request that needs a token and has none, as the README says; federation
// traces only where they were asked for by configuration and only to authenticated callers.

let dev: TestRegistry;
let production: TestRegistry;
let tracing: TestRegistry;
const PUBLIC_URL = 'https://tools.example.test';

beforeAll(async () => {
  [dev, production, tracing] = await Promise.all([
    startRegistry(),
    startRegistry({ env: { NODE_ENV: 'production' } }),
    startRegistry({ env: { NODE_ENV: 'production', REGISTRY_FEDERATION_TRACES: 'true', REGISTRY_PUBLIC_URL: PUBLIC_URL } }),
  ]);
});
afterAll(() => Promise.all([dev?.close(), production?.close(), tracing?.close()]));

const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>;

describe('the issuer', () => {
  it("is the same in the tokens' iss, the authorization-server metadata and the protected-resource metadata (the listen origin)", async () => {
    const access_token = dev.adminToken;
    const server = await json(`${dev.url}/.well-known/oauth-authorization-server`);
    const resource = await json(`${dev.url}/.well-known/oauth-protected-resource/mcp`);
    expect(server.issuer).toBe(dev.url);
    expect(decodeJwt(access_token).iss).toBe(server.issuer);
    expect(resource.authorization_servers).toEqual([server.issuer]);
    expect(server.token_endpoint).toBe(`${dev.url}/oauth/token`);
  });

  it('is REGISTRY_PUBLIC_URL when set, wherever the request came from', async () => {
    const server = await json(`${tracing.url}/.well-known/oauth-authorization-server`);
    expect(server).toMatchObject({ issuer: PUBLIC_URL, token_endpoint: `${PUBLIC_URL}/oauth/token`, jwks_uri: `${PUBLIC_URL}/.well-known/jwks.json` });
    expect(decodeJwt(tracing.viewerToken).iss).toBe(PUBLIC_URL);
    // A token of the other registry (another issuer) is refused, although both are registries.
    expect((await tracing.graphql('{ me { scopes } }', undefined, { authorization: `Bearer ${dev.viewerToken}` })).status).toBe(401);
  });
});

describe('a /graphql request without a token', () => {
  const send = (registry: TestRegistry, query: string, accept: string) =>
    fetch(`${registry.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify({ query }) });

  for (const accept of ['application/graphql-response+json', 'application/json']) {
    it(`gets 401 with WWW-Authenticate: Bearer when it asks for anything but public fields (Accept: ${accept})`, async () => {
      for (const query of ['{ tools { totalCount } }', '{ me { scopes } }', '{ _service { sdl } tools { totalCount } }', 'mutation { revokeTokens(input: { principalId: "x" }) { revokedAt } }']) {
        const res = await send(dev, query, accept);
        expect(res.status, query).toBe(401);
        expect(res.headers.get('www-authenticate'), query).toBe('Bearer');
        expect(res.headers.get('content-type'), query).toContain(accept);
        const body = (await res.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
        expect(body.data, query).toBeUndefined();
        expect(body.errors.map((e) => e.extensions.code), query).toEqual(['UNAUTHENTICATED']);
      }
    });

    it(`gets 200 for public fields only (Accept: ${accept})`, async () => {
      for (const query of ['{ _service { sdl } }', '{ __typename }', 'query Q { ...F } fragment F on Query { _service { sdl } }']) {
        const res = await send(dev, query, accept);
        expect(res.status, query).toBe(200);
        expect(((await res.json()) as { errors?: unknown }).errors, query).toBeUndefined();
      }
    });
  }

  it('cannot hide a protected field in a fragment', async () => {
    const res = await send(dev, 'query { ...F } fragment F on Query { _service { sdl } ... on Query { tools { totalCount } } }', 'application/json');
    expect(res.status).toBe(401);
  });
});

describe('federation traces (ftv1)', () => {
  const traced = async (registry: TestRegistry, authorization: string) => {
    const res = await registry.graphql('{ _service { sdl } }', undefined, { authorization, 'apollo-federation-include-trace': 'ftv1' });
    expect(res.status).toBe(200);
    return Object.keys(res.extensions ?? {}).includes('ftv1');
  };

  it('are never returned to an unauthenticated caller', async () => {
    expect(await traced(dev, '')).toBe(false);
    expect(await traced(tracing, '')).toBe(false);
  });

  it('are off in production unless REGISTRY_FEDERATION_TRACES=true, and then only for authenticated callers', async () => {
    expect(await traced(production, `Bearer ${production.viewerToken}`)).toBe(false);
    expect(await traced(production, `Bearer ${production.adminToken}`)).toBe(false);
    expect(await traced(tracing, `Bearer ${tracing.viewerToken}`)).toBe(true);
    expect(await traced(dev, `Bearer ${dev.viewerToken}`)).toBe(true);
  });
});

describe('HTML in production', () => {
  it('is the console at /, with a Content-Security-Policy that allows no inline script and no other origin', async () => {
    const res = await fetch(`${production.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    // The landing page of Apollo (a page loading scripts from a CDN) is not served.
    const landing = await fetch(`${production.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(landing.headers.get('content-type') ?? '').not.toContain('text/html');
  });
});
