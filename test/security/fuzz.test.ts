import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../src/modules/audit/index.js';
import { ToolService } from '../../src/modules/tool/index.js';
import { buildRegistrySchema } from '../../src/schema.js';
import { INLINE_MANUAL, manual, manualTool, echoCliTool } from '../helpers/factories.js';
import { type GraphQLResponse } from '../helpers/registry.js';
import { randomOperation, type ValuePools, valueFor } from './helpers/documents.js';
import { EXECUTE, type ExecutionView, type Watch, watchedRegistry } from './helpers/watch.js';

// Property-based tests: documents and variables drawn from the served schema, and random
// `arguments` for tool calls, sent with every kind of token. Whatever comes in, the registry
// answers below 500, with coded errors and no stack trace, never an unexpected (internal) error;
// afterwards the audit chain verifies, every call has its audit entry, and no planted canary
// credential came back out anywhere.
//
// TEST_FUZZ_RUNS scales the iteration counts; TEST_FUZZ_SEED replays a run.

const SCALE = Number(process.env.TEST_FUZZ_RUNS ?? 1);
const DOCUMENT_RUNS = Math.round(300 * SCALE);
const ARGUMENT_RUNS = Math.round(150 * SCALE);
const seed = process.env.TEST_FUZZ_SEED ? Number(process.env.TEST_FUZZ_SEED) : Date.now() % 2 ** 31;
const { schema } = await buildRegistrySchema();

let watch: Watch;
let tokens: Record<string, string>;
let pools: ValuePools;
const outcomes = new Map<string, number>();

/** The invariants every answer holds, whatever was sent. */
function checkAnswer(res: GraphQLResponse<unknown>, sent: unknown): void {
  const text = JSON.stringify({ data: res.data, errors: res.errors, extensions: res.extensions });
  const where = `for ${JSON.stringify(sent).slice(0, 600)}\n→ ${res.status} ${text.slice(0, 600)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(text, where).not.toMatch(/stacktrace|\n\s+at [\w.<]+ \(|node_modules|\.ts:\d+/);
  const codes = (res.errors ?? []).map((e) => e.extensions?.code);
  expect(codes, where).not.toContain('INTERNAL_SERVER_ERROR');
  for (const code of codes) {
    expect(code, where).toEqual(expect.any(String));
    outcomes.set(code!, (outcomes.get(code!) ?? 0) + 1);
  }
  if (!codes.length) outcomes.set(`HTTP ${res.status}`, (outcomes.get(`HTTP ${res.status}`) ?? 0) + 1);
}

beforeAll(async () => {
  watch = await watchedRegistry({ env: { REGISTRY_CLI_ALLOW: 'echo' } });
  const { registry } = watch;
  await new ToolService(registry.db.fork()).importManual(
    'local',
    manual([
      manualTool({ name: 'text', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '{"ok": true}' } }),
      echoCliTool(),
      manualTool({
        name: 'strict',
        inputs: {
          type: 'object',
          additionalProperties: false,
          required: ['n'],
          properties: { n: { type: 'integer', maximum: 10 }, s: { type: 'string', pattern: '^[a-z]+$' }, p: { type: 'string', format: 'password' } },
        },
        outputs: {},
        tool_call_template: { call_template_type: 'text', content: 'done' },
      }),
    ]),
    INLINE_MANUAL,
  );
  const agent = await registry.login({ roles: ['agent'] });
  // Calls of the planted tools with real credentials, before anything else.
  await watch.exercise(agent);

  const [publisher, policyAdmin, auditor] = await Promise.all([
    registry.login({ roles: ['publisher'] }),
    registry.login({ roles: ['policy_admin'] }),
    registry.login({ scopes: ['audit:read'] }),
  ]);
  tokens = { none: '', viewer: registry.viewerToken, agent, publisher, policyAdmin, auditor, admin: registry.adminToken, garbage: 'not.a.token' };

  // Real ids, names and cursors, so generated arguments reach past "not found".
  const em = registry.db.fork();
  const ids = (table: string) => em.execute<{ id: string }[]>(`select id from ${table} limit 20`).then((rows) => rows.map((r) => r.id));
  const names = await em.execute<{ name: string }[]>('select name from tool').then((rows) => rows.map((r) => r.name));
  const page = await watch.gql<{ tools: { edges: { cursor: string }[] } }>('{ tools(first: 3) { edges { cursor } } }');
  pools = {
    ids: [...(await ids('tool')), ...(await ids('provider')), ...(await ids('execution')), ...(await ids('policy'))],
    names: [...names, 'nope.tool', 'canary_key', 'weather.*'],
    cursors: page.data!.tools.edges.map((e) => e.cursor),
  };
  console.info(`fuzz: seed ${seed}, ${DOCUMENT_RUNS} documents, ${ARGUMENT_RUNS} tool calls`);
});

afterAll(async () => {
  console.info(`fuzz outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`);
  await watch?.close();
});

describe('fuzzing the GraphQL API', () => {
  it(`answers ${DOCUMENT_RUNS} random documents from the schema below 500, coded, with no internal error`, { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.gen(), fc.constantFrom(...Object.keys(tokens)), async (g, who) => {
        const { query, variables } = randomOperation(g, schema, pools);
        const res = await watch.gql(query, variables, tokens[who]!);
        checkAnswer(res, { who, query, variables });
      }),
      { numRuns: DOCUMENT_RUNS, seed, endOnFailure: true },
    );
  });

  it(`runs ${ARGUMENT_RUNS} tool calls with random arguments as executions or coded refusals`, { timeout: 300_000 }, async () => {
    const tools = [...watch.plantedTools, 'local.text', 'local.echo', 'local.strict', 'nope.tool'];
    const inputs = schema.getMutationType()!.getFields().executeTool!.args[0]!.type;
    await fc.assert(
      fc.asyncProperty(
        fc.gen(),
        fc.constantFrom(...tools),
        fc.oneof(
          { weight: 4, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('q', 'msg', 'n', 's', 'p', 'body'), fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 }) },
          { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
        ),
        fc.constantFrom('agent', 'agent', 'agent', 'viewer', 'admin'),
        async (g, tool, args, who) => {
          // The other fields of the input (mode, timeout, idempotency key) random as well, the tool and arguments as drawn.
          const rest = valueFor(g, inputs, pools, false) as Record<string, unknown>;
          const input: Record<string, unknown> = { ...rest, tool, arguments: args };
          if (typeof input.timeoutMs === 'number') input.timeoutMs = Math.min(Math.abs(input.timeoutMs as number), 5_000) || 1;
          const res = await watch.gql<{ executeTool: ExecutionView }>(EXECUTE, { input }, tokens[who]!);
          checkAnswer(res, { who, input });
          const execution = res.data?.executeTool;
          if (execution) expect(['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DENIED', 'TIMED_OUT']).toContain(execution.status);
        },
      ),
      { numRuns: ARGUMENT_RUNS, seed, endOnFailure: true },
    );
  });

  it('leaves a verifiable audit chain with an entry for every call, and no canary anywhere', { timeout: 60_000 }, async () => {
    const em = () => watch.registry.db.fork();
    // ASYNC calls end on their own.
    await expect
      .poll(async () => Number((await em().execute<{ n: string }[]>(`select count(*) as n from execution where status in ('queued', 'running')`))[0]!.n), { timeout: 30_000 })
      .toBe(0);
    const verification = await new AuditService(em()).verify();
    expect(verification).toMatchObject({ valid: true, firstBrokenSeq: null });
    const unaudited = await em().execute(
      `select e.id from execution e where not exists (select 1 from audit_entry a where a.action = 'tool.execute' and a.details->>'executionId' = e.id::text)`,
    );
    expect(unaudited).toEqual([]);
    expect(verification.checked).toBeGreaterThan(DOCUMENT_RUNS / 10);
    await watch.expectNoLeaks();
  });
});
