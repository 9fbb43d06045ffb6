import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { type TestRegistry } from './registry.js';

/** Where the console e2e tests find Chromium; they skip (with a warning) when it is missing. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** The two widths every console page is tested at: a laptop and a phone. */
export const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

/** Headless Chromium as the console tests drive it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A fresh page at `path` of the console (default `/console/`) that records, in `problems`, any
 * request leaving the registry's origin and any console error (a CSP violation is one).
 */
export async function openConsole(
  browser: Browser,
  registry: TestRegistry,
  options: { viewport?: { width: number; height: number }; path?: string } = {},
): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(registry.url) && !url.startsWith(registry.url.replace('http', 'ws')) && !url.startsWith('data:')) problems.push(`request to ${url}`);
  });
  page.on('console', (message) => {
    // A failed response is reported below with what was asked and answered.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() < 400) return;
    const asked = response.request().postData()?.slice(0, 200) ?? '';
    void response.text().then(
      (body) => problems.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname} ${asked} → ${body.slice(0, 300)}`),
      () => problems.push(`${response.status()} ${response.url()}`),
    );
  });
  await page.goto(`${registry.url}${options.path ?? '/console/'}`);
  return { page, problems };
}

/**
 * Signs in to the console on `page` (at any console address) with client credentials, from the
 * keyboard as a person would, and waits until the console shows who is signed in. The one place
 * tests sign in: when sign-in changes, only this changes.
 */
export async function signInToConsole(page: Page, registry: TestRegistry, clientId: string, clientSecret: string): Promise<void> {
  await submitConsoleSignIn(page, registry, clientId, clientSecret);
  await page.getByText('Signed in as').waitFor();
}

/** Submits the console's sign-in with these credentials without waiting for the outcome (to test a refusal). */
export async function submitConsoleSignIn(page: Page, _registry: TestRegistry, clientId: string, clientSecret: string): Promise<void> {
  await page.getByLabel('Client id').fill(clientId);
  await page.getByLabel('Client secret').fill(clientSecret);
  // From the keyboard: Enter in the form submits it.
  await page.getByLabel('Client secret').press('Enter');
}

/** The path and query of the page's address (`/console/tools/x?q=y`). */
export function addressOf(page: Page): string {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

/**
 * After a reload or a deep link: signs in when the console asks for it (today it always does; a
 * console that keeps its session across reloads does not), then waits for the signed-in console.
 */
export async function signInIfAsked(page: Page, registry: TestRegistry, clientId: string, clientSecret: string): Promise<void> {
  const signedIn = page.getByText('Signed in as');
  const asked = page.getByLabel('Client id');
  await signedIn.or(asked).first().waitFor();
  if (await asked.isVisible()) await signInToConsole(page, registry, clientId, clientSecret);
  else await signedIn.waitFor();
}
