import { createExecutionRuntime } from '../src/app.js';
import 'reflect-metadata';
import { execute, parse } from 'graphql';
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createContext } from '../src/context.js';
import { openDatabase } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { CallTemplateType } from '../src/modules/provider/index.js';
import { ToolService } from '../src/modules/tool/index.js';
import { buildRegistrySchema } from '../src/schema.js';
import { CostBudgets } from '../src/security/budgets.js';
import { createSecurity } from '../src/security/index.js';
import { Scope } from '../src/security/scopes.js';

/**
 * The cost of the shield rule tree on the catalog query: the same query, executed in process
 * against the same embedded database, through the guarded and the unguarded subgraph schema.
 */
const db = await openDatabase({ kind: 'pglite' });
const tools = new ToolService(db.fork());
for (let p = 0; p < 10; p += 1) {
  const manual = {
    utcp_version: '1.1.0',
    manual_version: '1.0.0',
    tools: Array.from({ length: 10 }, (_, t) => ({
      name: `tool_${t}`,
      description: `Tool ${t} of provider ${p}.`,
      tags: ['bench', `group${t % 3}`],
      tool_call_template: { call_template_type: 'http', url: 'https://api.example.com/x', http_method: 'GET' },
    })),
  };
  await tools.importManual(`provider_${p}`, manual, { call_template_type: CallTemplateType.TEXT });
}
const { schema: guarded, unguarded } = await buildRegistrySchema();
const document = parse('{ tools(first: 50) { edges { node { name description tags provider { name } } } pageInfo { hasNextPage } } }');
const config = loadConfig({ LOG_LEVEL: 'silent' });
const security = await createSecurity(config, createLogger('silent'));
const deps = {
  db,
  budgets: new CostBudgets(),
  defaultBudgetPerHour: Number.MAX_SAFE_INTEGER,
  logger: createLogger('silent'),
  registration: { vault: security.vault, discovery: security.discovery },
  runtime: createExecutionRuntime(config, db, security, createLogger('silent')),
};
const viewer = { principalId: '00000000-0000-4000-8000-000000000000', scopes: new Set([Scope.TOOLS_READ]), roles: [], isAdmin: false, costBudgetPerHour: null };

async function run(schema: typeof guarded): Promise<void> {
  const contextValue = createContext(deps, { requestId: 'bench', sourceIp: '127.0.0.1', viewer });
  const result = await execute({ schema, document, contextValue });
  if (result.errors) throw result.errors[0];
}

afterAll(() => db.close());

/** Mean milliseconds per run over `n` runs. */
async function batch(schema: typeof guarded, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) await run(schema);
  return Number(process.hrtime.bigint() - start) / 1e6 / n;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

it('measures the shield rule tree on the catalog query, side by side', { timeout: 300_000 }, async () => {
  await batch(unguarded, 200);
  await batch(guarded, 200);
  const without: number[] = [];
  const withShield: number[] = [];
  const ratios: number[] = [];
  // Interleaved ABBA rounds, so drift in the machine's speed hits both sides alike; the figure is
  // the median of the per-round ratios.
  for (let round = 0; round < 30; round += 1) {
    const a1 = await batch(unguarded, 40);
    const b1 = await batch(guarded, 40);
    const b2 = await batch(guarded, 40);
    const a2 = await batch(unguarded, 40);
    without.push((a1 + a2) / 2);
    withShield.push((b1 + b2) / 2);
    ratios.push((b1 + b2) / (a1 + a2));
  }
  const result = {
    query: 'tools(first: 50) { edges { node { name description tags provider { name } } } pageInfo { hasNextPage } }',
    catalog: '100 tools, 10 providers, embedded database',
    withoutShieldMs: median(without),
    withShieldMs: median(withShield),
    overhead: median(ratios) - 1,
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/shield.json', `${JSON.stringify(result, null, 2)}\n`);
  const table = [
    '| catalog query (in process) | ms per query (median of 30 rounds) |',
    '|---|---|',
    `| without the shield rule tree | ${result.withoutShieldMs.toFixed(3)} |`,
    `| with the shield rule tree | ${result.withShieldMs.toFixed(3)} |`,
    `| overhead (median of per-round ratios) | ${(result.overhead * 100).toFixed(1)}% |`,
  ].join('\n');
  await writeFile('bench/results/shield.md', `${table}\n`);
  process.stdout.write(`\n${table}\n`);
  expect(result.withShieldMs).toBeGreaterThan(0);
});
