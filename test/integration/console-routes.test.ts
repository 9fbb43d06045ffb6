import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../../src/http/console.routes.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

describe('the console routes', () => {
  let registry: TestRegistry;
  let off: TestRegistry;

  beforeAll(async () => {
    [registry, off] = await Promise.all([startRegistry(), startRegistry({ env: { REGISTRY_CONSOLE: 'false' } })]);
  });
  afterAll(async () => {
    await Promise.all([registry?.close(), off?.close()]);
  });

  it('serves index.html at / with a strict Content-Security-Policy, and hashed assets under /assets/', async () => {
    const page = await fetch(`${registry.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://${new URL(registry.url).host}`);
    expect(csp).not.toContain('unsafe');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const script = await fetch(`${registry.url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${registry.url}/assets/missing.js`)).status).toBe(404);
  });

  it('answers index.html with the same headers at every address under /console/, and redirects / there', async () => {
    const root = await fetch(`${registry.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    const bare = await fetch(`${registry.url}/console`, { redirect: 'manual' });
    expect(bare.headers.get('location')).toBe('/console/');
    const index = await (await fetch(`${registry.url}/console/`)).text();
    for (const path of ['/console/tools/weather.get_forecast', '/console/admin/policies', '/console/audit/12', '/console/executions/x?status=FAILED']) {
      const page = await fetch(`${registry.url}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await page.text()).toBe(index);
    }
    // The API is not under /console: a POST there is no page.
    expect((await fetch(`${registry.url}/console/graphql`, { method: 'POST' })).status).toBe(404);
  });

  it('is off with REGISTRY_CONSOLE=false', async () => {
    const response = await fetch(`${off.url}/`);
    expect(response.status).toBe(404);
    expect((await fetch(`${off.url}/console/tools/x`)).status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
  });

  it('answers 404 with a coded error when the console was not built', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'console-missing-'));
    const app = Fastify();
    await consoleRoutes(app, { dir: empty });
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/console/policies/1' })).statusCode).toBe(404);
    expect(response.json()).toMatchObject({ errors: [{ message: expect.stringContaining('npm run build'), extensions: { code: 'NOT_FOUND' } }] });
    await app.close();
    await rm(empty, { recursive: true, force: true });
  });
});
