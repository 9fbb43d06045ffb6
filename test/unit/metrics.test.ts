import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeLabel, CONSOLE_OPERATIONS, RegistryMetrics } from '../../src/observability/metrics.js';

describe('metric labels', () => {
  it('knows exactly the console’s operation names, and counts any other name as other', () => {
    const names = readdirSync('console/src/operations')
      .filter((file) => file.endsWith('.graphql'))
      .flatMap((file) => [...readFileSync(`console/src/operations/${file}`, 'utf8').matchAll(/^(?:query|mutation|subscription) (\w+)/gm)].map((m) => m[1]!));
    expect([...CONSOLE_OPERATIONS].sort()).toEqual(names.sort());
    const metrics = new RegistryMetrics();
    metrics.configure({ operations: ['Dashboard'], maxToolLabels: 2 });
    expect(metrics.operationLabel('ConsoleTools')).toBe('ConsoleTools');
    expect(metrics.operationLabel('Dashboard')).toBe('Dashboard');
    expect(metrics.operationLabel('Anything')).toBe('other');
    expect(metrics.operationLabel(undefined)).toBe('other');
  });

  it('caps distinct tool labels, and keeps error codes to the registry’s own', () => {
    const metrics = new RegistryMetrics();
    metrics.configure({ operations: [], maxToolLabels: 2 });
    expect(['a.one', 'a.two', 'a.three', 'a.one'].map((t) => metrics.toolLabel(t))).toEqual(['a.one', 'a.two', 'other', 'a.one']);
    expect(codeLabel('POLICY_DENIED')).toBe('POLICY_DENIED');
    expect(codeLabel('made up')).toBe('other');
  });
});

describe('deploy/grafana/tool-registry.json', () => {
  it('queries only metrics the registry exposes', async () => {
    const dashboard = readFileSync('deploy/grafana/tool-registry.json', 'utf8');
    const used = new Set([...dashboard.matchAll(/\b(registry_\w+|nodejs_\w+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')));
    const exposed = new Set((await new RegistryMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exposed, name).toContain(name);
  });
});
