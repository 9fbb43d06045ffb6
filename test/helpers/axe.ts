import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';

/** The axe-core impacts that fail a scan. */
const FAILING = new Set(['serious', 'critical']);

/** One rule an axe-core scan found broken, with the elements (CSS selectors) that break it. */
export interface AxeFinding {
  rule: string;
  impact: string;
  help: string;
  targets: string[];
}

/**
 * Scans the page as it is now with axe-core (WCAG 2.x A and AA rules and axe's best practices) and
 * returns the serious and critical violations; `exclude` leaves out regions by CSS selector.
 *
 * axe runs in the page itself (`axe.run`, AxeBuilder's legacy mode) rather than in per-frame parts
 * merged in a new blank page, which halves a scan's time: that mode exists for cross-origin frames,
 * and the console can have none (its CSP, `default-src 'none'`, allows no frame).
 */
export async function axeFindings(page: Page, options: { exclude?: string[] } = {}): Promise<AxeFinding[]> {
  let builder = new AxeBuilder({ page })
    .setLegacyMode()
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']);
  for (const selector of options.exclude ?? []) builder = builder.exclude(selector);
  const results = await builder.analyze();
  return results.violations
    .filter((v) => FAILING.has(v.impact ?? ''))
    .map((v) => ({ rule: v.id, impact: v.impact ?? '', help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(' ')) }));
}

/** One line per finding: `rule (impact): help at selector, selector`. */
export function formatFindings(findings: AxeFinding[]): string {
  return findings.map((f) => `${f.rule} (${f.impact}): ${f.help} at ${f.targets.slice(0, 5).join(', ')}${f.targets.length > 5 ? ` and ${f.targets.length - 5} more` : ''}`).join('\n');
}

/** Fails with the rule ids and targets when axe-core finds a serious or critical violation on the page. */
export async function expectNoSeriousViolations(page: Page, label: string, options: { exclude?: string[] } = {}): Promise<void> {
  const findings = await axeFindings(page, options);
  if (findings.length) throw new Error(`axe-core found serious or critical violations on ${label}:\n${formatFindings(findings)}`);
}
