import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP, startRegistry, type TestClient, type TestRegistry } from '../helpers/registry.js';

// The console's session endpoints: client credentials in, a short-lived access token out, the
// refresh token only in an HttpOnly, SameSite=Strict cookie scoped to /console/session.

let registry: TestRegistry;
let admin: TestClient;

beforeAll(async () => {
  registry = await startRegistry();
  admin = await registry.createClient({ roles: ['admin'], name: 'console admin' });
});
afterAll(() => registry?.close());

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
  /** The refresh cookie's value set by this answer ('' when cleared), or undefined when none was set. */
  cookie: string | undefined;
}

/** The session request a console page of `origin` sends: the custom header, its Origin, same-origin fetch metadata. */
function pageHeaders(origin = registry.url): Record<string, string> {
  return { 'x-registry-console': '1', origin, 'sec-fetch-site': 'same-origin' };
}

async function post(path: string, options: { body?: unknown; cookie?: string; headers?: Record<string, string>; on?: TestRegistry } = {}): Promise<Answer> {
  const target = options.on ?? registry;
  const headers: Record<string, string> = { ...pageHeaders(target.url), ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.cookie !== undefined) headers.cookie = `registry_console_refresh=${options.cookie}`;
  const response = await fetch(`${target.url}${path}`, { method: 'POST', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  const setCookie = response.headers.get('set-cookie');
  const cookie = setCookie ? /^registry_console_refresh=([^;]*)/.exec(setCookie)?.[1] : undefined;
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text, headers: response.headers, cookie };
}

const signIn = (client: Pick<TestClient, 'clientId' | 'clientSecret'> = admin, options: Parameters<typeof post>[1] = {}) =>
  post('/console/session', { body: { clientId: client.clientId, clientSecret: client.clientSecret }, ...options });

async function me(token: string): Promise<string | undefined> {
  const res = await registry.graphql<{ me: { principal: { name: string } } }>('{ me { principal { name } } }', undefined, { authorization: `Bearer ${token}` });
  return res.data?.me.principal.name ?? (res.errors?.[0]?.extensions?.code as string);
}

describe('the console session endpoints', () => {
  it('sign in answers only the access token and whose it is in the body, and sets the refresh token as an HttpOnly, SameSite=Strict cookie scoped to /console/session', async () => {
    const answer = await signIn();
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body).sort()).toEqual(['access_token', 'expires_in', 'principal', 'scope', 'token_type']);
    expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: registry.config.auth.accessTokenTtlSeconds });
    // Whose session it is, so the console shows it without a query (which a spent budget would refuse).
    expect(answer.body.principal).toEqual({ name: 'console admin', roles: ['admin'] });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const setCookie = answer.headers.get('set-cookie')!;
    const attributes = setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=strict', 'path=/console/session', `max-age=${registry.config.auth.refreshTokenTtlSeconds}`]));
    // Reached over plain http: not Secure (the browser would drop it); see the https case below.
    expect(attributes).not.toContain('secure');
    expect(answer.cookie).toMatch(/^rt_/);
    expect(answer.text).not.toContain(answer.cookie!);
    expect(await me(answer.body.access_token as string)).toBe('console admin');
  });

  it('refresh rotates the cookie and answers a new access token; presenting an old cookie again revokes the whole session', async () => {
    const first = await signIn();
    const second = await post('/console/session/refresh', { cookie: first.cookie });
    expect(second.status).toBe(200);
    expect(Object.keys(second.body).sort()).toEqual(['access_token', 'expires_in', 'principal', 'scope', 'token_type']);
    expect(second.body.principal).toEqual({ name: 'console admin', roles: ['admin'] });
    expect(second.cookie).toMatch(/^rt_/);
    expect(second.cookie).not.toBe(first.cookie);
    expect(second.text).not.toContain(second.cookie!);
    expect(await me(second.body.access_token as string)).toBe('console admin');
    const third = await post('/console/session/refresh', { cookie: second.cookie });
    expect(third.status).toBe(200);

    // The first cookie again: reuse. The family is revoked, with its newest cookie and access tokens.
    const replay = await post('/console/session/refresh', { cookie: first.cookie });
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: 'invalid_grant' });
    expect(replay.cookie).toBe('');
    expect((await post('/console/session/refresh', { cookie: third.cookie })).status).toBe(401);
    expect(await me(third.body.access_token as string)).toBe('UNAUTHENTICATED');
  });

  it('answers a refresh without a cookie 204 (no session), and refuses an unknown cookie, clearing it', async () => {
    const none = await post('/console/session/refresh');
    expect(none.status).toBe(204);
    expect(none.text).toBe('');
    const unknown = await post('/console/session/refresh', { cookie: 'rt_unknown' });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toMatchObject({ error: 'invalid_grant' });
    expect(unknown.headers.get('set-cookie')).toMatch(/Max-Age=0/);
  });

  it('sign out revokes the session (refresh token and access tokens) and clears the cookie', async () => {
    const session = await signIn();
    const out = await post('/console/session/sign-out', { cookie: session.cookie });
    expect(out.status).toBe(204);
    expect(out.text).toBe('');
    expect(out.cookie).toBe('');
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await post('/console/session/refresh', { cookie: session.cookie })).status).toBe(401);
    expect(await me(session.body.access_token as string)).toBe('UNAUTHENTICATED');
    // Signing out without a session is harmless.
    expect((await post('/console/session/sign-out')).status).toBe(204);
  });

  it('refuses requests that may be cross-site with 403 csrf_refused, on every endpoint, and changes nothing', async () => {
    const session = await signIn();
    const forged: Record<string, string>[] = [
      { 'x-registry-console': '' },
      { origin: 'https://evil.example' },
      { origin: registry.url.replace('127.0.0.1', 'localhost') },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of forged) {
      for (const path of ['/console/session', '/console/session/refresh', '/console/session/sign-out']) {
        const answer = await post(path, { cookie: session.cookie, headers, body: path === '/console/session' ? { clientId: admin.clientId, clientSecret: admin.clientSecret } : undefined });
        expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
        expect(answer.body).toMatchObject({ error: 'csrf_refused' });
        expect(answer.cookie).toBeUndefined();
      }
    }
    // Without an Origin header at all.
    const response = await fetch(`${registry.url}/console/session/refresh`, {
      method: 'POST',
      headers: { 'x-registry-console': '1', cookie: `registry_console_refresh=${session.cookie}` },
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'csrf_refused' });
    // The session is untouched by all of this.
    expect((await post('/console/session/refresh', { cookie: session.cookie })).status).toBe(200);
  });

  it('refuses wrong or missing credentials without a cookie, as the token endpoint does', async () => {
    const wrong = await signIn({ clientId: admin.clientId, clientSecret: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: 'invalid_client' });
    expect(wrong.cookie).toBeUndefined();
    const missing = await post('/console/session', { body: { clientId: admin.clientId } });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: 'invalid_request' });
  });

  it('keeps the console’s refresh tokens out of the token endpoint', async () => {
    const session = await signIn({ clientId: BOOTSTRAP.clientId, clientSecret: BOOTSTRAP.clientSecret });
    const res = await registry.oauth({ grant_type: 'refresh_token', refresh_token: session.cookie!, client_id: BOOTSTRAP.clientId, client_secret: BOOTSTRAP.clientSecret });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_grant' });
    expect((await post('/console/session/refresh', { cookie: session.cookie })).status).toBe(200);
  });

  it('marks the cookie Secure when the registry is reached over https', async () => {
    const proxied = await startRegistry({ env: { REGISTRY_PUBLIC_URL: 'https://registry.example.test' } });
    try {
      const client = await proxied.createClient({ roles: ['viewer'] });
      const headers = pageHeaders('https://registry.example.test');
      const answer = await post('/console/session', { on: proxied, headers, body: { clientId: client.clientId, clientSecret: client.clientSecret } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('set-cookie')!.split(';').map((a) => a.trim())).toContain('Secure');
      // The page's origin must be the public one.
      expect((await post('/console/session/refresh', { on: proxied, cookie: answer.cookie })).status).toBe(403);
    } finally {
      await proxied.close();
    }
  });
});
