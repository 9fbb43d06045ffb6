import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, CHROMIUM, hasChromium, launchChromium, openConsole, signInIfAsked, signInToConsole, VIEWPORTS } from '../helpers/console.js';
import { BOOTSTRAP, startRegistry, type TestRegistry } from '../helpers/registry.js';

if (!hasChromium) console.warn(`test/e2e/console-addresses.test.ts skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

/** The focused element as `TAG:id` (or `TAG:text` without an id); evaluated in the page, hence a string. */
const focused = (page: Page) =>
  page.evaluate<string>('`${document.activeElement?.tagName}:${document.activeElement?.id || document.activeElement?.textContent}`');

describe.skipIf(!hasChromium)('console addresses: every view has a URL that survives reload and Back', () => {
  let registry: TestRegistry;
  let browser: Browser;
  let fileRoot: string;
  const admin = () => ({ authorization: `Bearer ${registry.adminToken}` });
  const ids = { provider: '', policy: '', execution: '', auditSeq: '' };

  beforeAll(async () => {
    fileRoot = await mkdtemp(join(tmpdir(), 'console-addresses-'));
    registry = await startRegistry({ seed: true, env: { REGISTRY_CLI_ALLOW: 'echo', REGISTRY_FILE_ROOT: fileRoot } });
    browser = await launchChromium();
    const providers = await registry.graphql<{ providers: { edges: { node: { id: string; name: string } }[] } }>('{ providers(first: 10) { edges { node { id name } } } }', {}, admin());
    ids.provider = providers.data!.providers.edges.find((e) => e.node.name === 'shell')!.node.id;
    const policy = await registry.graphql<{ createPolicy: { policy: { id: string } } }>(
      'mutation { createPolicy(input: { name: "addresses-policy", effect: ALLOW, actions: [READ], resources: { tools: ["weather.*"] } }) { policy { id } userErrors { message } } }',
      {},
      admin(),
    );
    ids.policy = policy.data!.createPolicy.policy.id;
    const executed = await registry.graphql<{ executeTool: { id: string; status: string } }>(
      'mutation { executeTool(input: { tool: "shell.echo", arguments: { message: "addressed" } }) { id status } }',
      {},
      admin(),
    );
    expect(executed.data!.executeTool.status).toBe('SUCCEEDED');
    ids.execution = executed.data!.executeTool.id;
    const audit = await registry.graphql<{ auditLog: { edges: { node: { seq: string; action: string } }[] } }>('{ auditLog(first: 1, filter: { action: "policy.create" }) { edges { node { seq action } } } }', {}, admin());
    ids.auditSeq = audit.data!.auditLog.edges[0]!.node.seq;
  });

  afterAll(async () => {
    await browser?.close();
    await registry?.close();
    await rm(fileRoot, { recursive: true, force: true });
  });

  describe.each(VIEWPORTS)('at $width px', (viewport) => {
    it('keeps the catalog search in the address, opens a tool at its own address, and Back and Forward return', async () => {
      const { page, problems } = await openConsole(browser, registry, { viewport });
      await signInToConsole(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
      await page.getByRole('heading', { name: 'Catalog', level: 1 }).waitFor();

      await page.getByLabel('Search tools').fill('echo');
      await expect.poll(() => addressOf(page)).toBe('/console/?q=echo');
      await page.getByRole('link', { name: 'shell.echo' }).click();
      await page.getByRole('heading', { name: 'shell.echo', level: 1 }).waitFor();
      expect(addressOf(page)).toBe('/console/tools/shell.echo');
      // Focus moved to the new view's heading.
      await expect.poll(() => focused(page)).toBe('H1:tool-title');

      await page.goBack();
      await page.getByRole('heading', { name: 'Catalog', level: 1 }).waitFor();
      expect(addressOf(page)).toBe('/console/?q=echo');
      expect(await page.getByLabel('Search tools').inputValue()).toBe('echo');
      await page.getByRole('link', { name: 'shell.echo' }).waitFor();
      expect(await page.getByRole('link', { name: 'weather.get_forecast' }).count()).toBe(0);

      await page.goForward();
      await page.getByRole('heading', { name: 'shell.echo', level: 1 }).waitFor();

      // A filter chosen from a list adds a history entry; Back removes it again.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
      await page.getByLabel('Call template type').selectOption('CLI');
      await expect.poll(() => addressOf(page)).toBe('/console/?type=CLI');
      await page.goBack();
      await expect.poll(() => addressOf(page)).toBe('/console/');
      expect(await page.getByLabel('Call template type').inputValue()).toBe('');
      expect(problems).toEqual([]);
      await page.context().close();
    });

    it('shows the same view after a reload, for every kind of address', async () => {
      const { page, problems } = await openConsole(browser, registry, { viewport });
      await signInToConsole(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
      const views: [string, string | RegExp][] = [
        ['/console/?q=forecast&tag=weather', 'Catalog'],
        ['/console/tools/weather.get_forecast', 'weather.get_forecast'],
        [`/console/providers/${ids.provider}`, 'Provider shell'],
        [`/console/policies/${ids.policy}`, 'Policy addresses-policy'],
        ['/console/policies/new', 'New policy'],
        [`/console/executions/${ids.execution}`, 'Execution of shell.echo'],
        [`/console/audit/${ids.auditSeq}`, `Audit entry ${ids.auditSeq}`],
        ['/console/admin/providers', 'Providers'],
        ['/console/admin/tools', 'Tools'],
        ['/console/admin/quarantine', 'Quarantine'],
        ['/console/admin/policies', 'Policies'],
        ['/console/admin/principals', 'Principals'],
        ['/console/admin/executions', 'Executions'],
        ['/console/admin/audit', 'Audit log'],
        ['/console/no/such/page', 'Page not found'],
      ];
      for (const [path, heading] of views) {
        await page.goto(`${registry.url}${path}`);
        await signInIfAsked(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
        await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
        expect(addressOf(page)).toBe(path);
        await page.reload();
        await signInIfAsked(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
        await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
        expect(addressOf(page)).toBe(path);
        if (/^\/console\/(providers|policies|executions|audit|admin)\//.test(path)) {
          // Nothing widens these pages past the screen (wide tables scroll in their own box).
          await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
          await page.waitForLoadState('networkidle');
          expect(await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth'), path).toBe(0);
        }
      }
      // The catalog's filters came back from the address.
      await page.goto(`${registry.url}/console/?q=forecast&tag=weather`);
      await signInIfAsked(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
      expect(await page.getByLabel('Search tools').inputValue()).toBe('forecast');
      expect(await page.getByLabel('Tag', { exact: true }).inputValue()).toBe('weather');
      await page.getByRole('link', { name: 'weather.get_forecast' }).waitFor();
      // Details link to each other: the execution's tool, the entry's target.
      await page.goto(`${registry.url}/console/executions/${ids.execution}`);
      await signInIfAsked(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
      expect(await page.getByTestId('execution-detail-status').textContent()).toBe('succeeded');
      expect(await page.getByRole('region', { name: 'Result' }).textContent()).toContain('addressed');
      await page.getByRole('link', { name: 'shell.echo' }).click();
      await page.getByRole('heading', { name: 'shell.echo', level: 1 }).waitFor();
      await page.goBack();
      await page.getByRole('heading', { name: 'Execution of shell.echo', level: 1 }).waitFor();
      expect(problems).toEqual([]);
      await page.context().close();
    });

    it('moves between admin sections by address, and / focuses the search field unless one types', async () => {
      const { page, problems } = await openConsole(browser, registry, { viewport, path: '/console/admin/policies' });
      await signInToConsole(page, registry, BOOTSTRAP.clientId, BOOTSTRAP.clientSecret);
      await page.getByRole('heading', { name: 'Policies', level: 1 }).waitFor();
      await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Principals' }).click();
      await page.getByRole('heading', { name: 'Principals', level: 1 }).waitFor();
      expect(addressOf(page)).toBe('/console/admin/principals');
      await expect.poll(() => focused(page)).toBe('H1:principals-title');
      await page.goBack();
      await page.getByRole('heading', { name: 'Policies', level: 1 }).waitFor();
      await expect.poll(() => focused(page)).toBe('H1:policies-title');

      // Typing a slash into a field is just a slash.
      await page.getByLabel('Tool').fill('');
      await page.getByLabel('Tool').press('/');
      expect(await page.getByLabel('Tool').inputValue()).toBe('/');
      // Elsewhere it goes to the catalog's search field.
      await page.getByRole('heading', { name: 'Policies', level: 1 }).click();
      await page.keyboard.press('/');
      await expect.poll(() => focused(page)).toBe('INPUT:search');
      expect(addressOf(page)).toBe('/console/');
      await page.keyboard.type('weather');
      await expect.poll(() => addressOf(page)).toBe('/console/?q=weather');
      expect(problems).toEqual([]);
      await page.context().close();
    });

    it('tells a non-admin that admin addresses are for admins', async () => {
      const viewer = await registry.createClient({ roles: ['viewer'], name: `viewer ${viewport.width}` });
      const { page } = await openConsole(browser, registry, { viewport, path: `/console/policies/${ids.policy}` });
      await signInToConsole(page, registry, viewer.clientId, viewer.clientSecret);
      await page.getByRole('heading', { name: 'Admins only', level: 1 }).waitFor();
      expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
      await page.context().close();
    });
  });
});
