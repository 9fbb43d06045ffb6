import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// A day of console use by one admin, replayed through the real /graphql with the console's own
// operations (console/src/operations/*.graphql), must cost a small share of one hour's budget.
// To cover a new console operation, add a row to `day` below.

const HOURLY_BUDGET = 10_000;
/** The most of one hour's budget a whole day of one admin's console use may cost. */
const MAX_SHARE = 0.1;

/** One row of the day: an operation of console/src/operations, its variables, and how often it runs. */
interface Step {
  operation: string;
  variables: (day: DayState) => Record<string, unknown>;
  times: number;
}

/** What earlier steps learned (ids, cursors), for the variables of later ones. */
interface DayState {
  /** The run of this step (0-based), to vary variables between repetitions. */
  run: number;
  toolNames: string[];
  providerId: string;
  trackedId: string;
  cursor: string | null;
  quarantined: { id: string; version: number } | null;
}

const SEARCHES = ['forecast', 'echo', 'bulk', 'rates', 'time', 'weather', 'convert', 'geocode'];

const day: Step[] = [
  // Signing in (and each reload) reads who is signed in.
  { operation: 'me', variables: () => ({}), times: 12 },
  // Browsing the catalog: first pages, searches, next pages.
  { operation: 'tools', variables: ({ run }) => ({ first: 20, filter: run % 2 ? { search: SEARCHES[run % SEARCHES.length] } : undefined }), times: 50 },
  { operation: 'tools', variables: ({ cursor }) => ({ first: 20, after: cursor }), times: 10 },
  // Opening tools.
  { operation: 'tool', variables: ({ run, toolNames }) => ({ name: toolNames[run % toolNames.length] }), times: 30 },
  { operation: 'explainAccess', variables: ({ run, toolNames }) => ({ tool: toolNames[run % toolNames.length], action: 'EXECUTE' }), times: 10 },
  // The admin pages, a few dozen times each.
  { operation: 'providers', variables: () => ({ first: 50 }), times: 40 },
  { operation: 'policies', variables: () => ({}), times: 40 },
  { operation: 'audit', variables: () => ({}), times: 40 },
  { operation: 'auditEntry', variables: ({ run }) => ({ seq: String(run + 1) }), times: 10 },
  { operation: 'principals', variables: ({ run }) => ({ first: 20, filter: run % 2 ? { search: 'agent' } : undefined }), times: 20 },
  { operation: 'executions', variables: () => ({ first: 20 }), times: 20 },
  { operation: 'adminTools', variables: ({ run }) => ({ first: 20, filter: run % 2 ? { search: 'tool' } : undefined }), times: 20 },
  { operation: 'provider', variables: ({ providerId }) => ({ id: providerId }), times: 20 },
  { operation: 'verifyAudit', variables: () => ({}), times: 5 },
  { operation: 'quarantined', variables: () => ({}), times: 10 },
  { operation: 'providerVariables', variables: ({ providerId }) => ({ id: providerId }), times: 10 },
  { operation: 'setProviderVariables', variables: ({ providerId, run }) => ({ input: { providerId, variables: [{ name: 'REGION', value: `eu-${run}`, secret: false }] } }), times: 3 },
  // A provider changes a definition: refresh, review, approve.
  { operation: 'refreshProvider', variables: ({ trackedId }) => ({ id: trackedId }), times: 1 },
  { operation: 'quarantined', variables: () => ({}), times: 1 },
  { operation: 'approve', variables: ({ quarantined }) => ({ input: { toolId: quarantined!.id, version: quarantined!.version } }), times: 1 },
  // Try it.
  { operation: 'execute', variables: ({ run }) => ({ input: { tool: 'shell.echo', arguments: { message: `try ${run}` } } }), times: 20 },
];

let registry: TestRegistry;
let fileRoot: string;

beforeAll(async () => {
  fileRoot = await mkdtemp(join(tmpdir(), 'console-day-'));
  registry = await startRegistry({
    seed: true,
    env: { REGISTRY_COST_BUDGET_PER_HOUR: String(HOURLY_BUDGET), REGISTRY_CLI_ALLOW: 'echo', REGISTRY_FILE_ROOT: fileRoot },
  });
  // A catalog of a few pages.
  await new ToolService(registry.db.fork()).importManual('bulk', manual(Array.from({ length: 45 }, (_, i) => manualTool({ name: `tool_${i}` }))), INLINE_MANUAL);
});

afterAll(async () => {
  await registry?.close();
  await rm(fileRoot, { recursive: true, force: true });
});

describe('a day of console use by one admin', () => {
  it(`costs at most ${MAX_SHARE * 100}% of one hour's query budget`, { timeout: 180_000 }, async () => {
    const admin = await registry.createClient({ roles: ['admin'], name: 'day admin' });
    const signedIn = await fetch(`${registry.url}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-registry-console': '1', origin: registry.url },
      body: JSON.stringify({ clientId: admin.clientId, clientSecret: admin.clientSecret }),
    });
    const { access_token: token } = (await signedIn.json()) as { access_token: string };
    const documents = new Map<string, string>();
    const read = (name: string) => readFile(new URL(`../../console/src/operations/${name}.graphql`, import.meta.url), 'utf8');
    // As the console sends them: an operation with the fragments it spreads (they live in files of their own).
    const fragments = new Map([['ConsolePolicyFields', await read('policyFields')]]);
    const documentOf = async (name: string) => {
      if (!documents.has(name)) {
        let document = await read(name);
        for (const [fragment, text] of fragments) if (document.includes(`...${fragment}`)) document += `\n${text}`;
        documents.set(name, document);
      }
      return documents.get(name)!;
    };

    const charges = new Map<string, { points: number; complexity: number; runs: number }>();
    let charged = 0;
    let used = 0;
    let limit = 0;
    const run = async (operation: string, variables: Record<string, unknown>) => {
      const document = await documentOf(operation);
      const res = await registry.graphql<Record<string, unknown>>(document, variables, { authorization: `Bearer ${token}` });
      expect(res.errors, `${operation} ${JSON.stringify(variables)}`).toBeUndefined();
      // The charge as the headers tell it: what this answer added to the hour's use.
      const nowUsed = Number(res.headers.get('x-ratelimit-used'));
      limit = Number(res.headers.get('x-ratelimit-limit'));
      const points = nowUsed - used;
      used = nowUsed;
      const cost = (res.extensions as { cost: { requested: number; complexity: number } }).cost;
      expect(points).toBe(cost.requested);
      charged += points;
      const row = charges.get(operation) ?? { points: 0, complexity: 0, runs: 0 };
      charges.set(operation, { points: row.points + points, complexity: row.complexity + cost.complexity, runs: row.runs + 1 });
      return res.data!;
    };

    // What the steps need to know.
    await writeFile(join(fileRoot, 'tracked.json'), JSON.stringify(manual([manualTool({ name: 'reader', description: 'Reads a file.' })])));
    const registered = (await run('registerProvider', { input: { name: 'tracked', callTemplate: { call_template_type: 'file', file_path: 'tracked.json' } } })) as {
      registerProvider: { provider: { id: string } };
    };
    await writeFile(join(fileRoot, 'tracked.json'), JSON.stringify(manual([manualTool({ name: 'reader', description: 'Reads a file. Also uploads it.' })])));
    const providers = (await run('providers', { first: 50 })) as { providers: { edges: { node: { id: string; name: string } }[] } };
    const firstPage = (await run('tools', { first: 20 })) as { tools: { pageInfo: { endCursor: string }; edges: { node: { name: string } }[] } };
    const state: DayState = {
      run: 0,
      toolNames: firstPage.tools.edges.map((e) => e.node.name),
      providerId: providers.providers.edges.find((e) => e.node.name === 'weather')!.node.id,
      trackedId: registered.registerProvider.provider.id,
      cursor: firstPage.tools.pageInfo.endCursor,
      quarantined: null,
    };

    for (const step of day) {
      for (let i = 0; i < step.times; i += 1) {
        const data = await run(step.operation, step.variables({ ...state, run: i }));
        if (step.operation === 'quarantined') {
          const node = (data as { tools: { edges: { node: { id: string; versions: { version: number; status: string }[] } }[] } }).tools.edges[0]?.node;
          const pending = node?.versions.find((v) => v.status === 'PENDING');
          if (node && pending) state.quarantined = { id: node.id, version: pending.version };
        }
      }
    }
    expect(state.quarantined).not.toBeNull();

    const operations = [...charges.values()].reduce((sum, row) => sum + row.runs, 0);
    const share = charged / limit;
    const complexity = [...charges.values()].reduce((sum, row) => sum + row.complexity, 0);
    console.info(
      `A day of console use: ${operations} operations charged ${charged} of ${limit} points (${(share * 100).toFixed(1)}%; their complexity sums to ${complexity})\n` +
        [...charges.entries()].map(([name, row]) => `  ${name}: ${row.runs} × → ${row.points} points (complexity ${row.complexity} in all)`).join('\n'),
    );
    expect(limit).toBe(HOURLY_BUDGET);
    // Every row ran, and the three reads that set the day up.
    expect(operations).toBe(day.reduce((sum, step) => sum + step.times, 0) + 3);
    expect(charged).toBe(used);
    expect(share).toBeLessThanOrEqual(MAX_SHARE);
  });
});
