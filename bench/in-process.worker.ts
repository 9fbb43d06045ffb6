import 'reflect-metadata';
import { execute, type GraphQLSchema, parse, specifiedRules, validate } from 'graphql';
import { median } from './lib/stats.ts';

/**
 * In-process measurements on the built registry (`dist/`), in a process of its own:
 * - `shield`: the catalog query executed through the guarded and the unguarded subgraph schema;
 * - `reject`: parsing, validating and costing hostile documents up to their refusal.
 */

type Modules = {
  app: typeof import('../src/http/app.js');
  config: typeof import('../src/config.js');
  context: typeof import('../src/context.js');
  database: typeof import('../src/db/database.js');
  logger: typeof import('../src/logger.js');
  schema: typeof import('../src/schema.js');
  budgets: typeof import('../src/security/budgets.js');
  security: typeof import('../src/security/index.js');
  limits: typeof import('../src/security/limits.js');
  cost: typeof import('../src/security/cost.js');
};

const dist = (path: string) => import(new URL(`../dist/src/${path}`, import.meta.url).href);

async function load(): Promise<Modules> {
  return {
    app: await dist('http/app.js'),
    config: await dist('config.js'),
    context: await dist('context.js'),
    database: await dist('db/database.js'),
    logger: await dist('logger.js'),
    schema: await dist('schema.js'),
    budgets: await dist('security/budgets.js'),
    security: await dist('security/index.js'),
    limits: await dist('security/limits.js'),
    cost: await dist('security/cost.js'),
  };
}

export interface ShieldTask {
  task: 'shield';
  /** The registry's environment (database and keys). */
  env: Record<string, string>;
  query: string;
  principal: { id: string; roles: string[]; scopes: string[] };
  rounds: number;
  batch: number;
}

export interface ShieldAnswer {
  withoutShieldMs: number;
  withShieldMs: number;
  /** Median of the per-round ratios, minus one. */
  overhead: number;
  rounds: { without: number; with: number }[];
}

export interface RejectTask {
  task: 'reject';
  documents: Record<string, string>;
  iterations: number;
}

export type RejectAnswer = Record<string, { ms: number; refusedBy: string }>;

async function shieldCost(m: Modules, task: ShieldTask): Promise<ShieldAnswer> {
  const { REDIS_URL: _redis, ...env } = task.env;
  const config = m.config.loadConfig({ ...env, LOG_LEVEL: 'silent' });
  const logger = m.logger.createLogger('silent');
  const db = await m.database.openDatabase(config.database);
  const security = await m.security.createSecurity(config, logger);
  try {
    const { schema: guarded, unguarded } = await m.schema.buildRegistrySchema();
    const document = parse(task.query);
    const deps = {
      db,
      budgets: new m.budgets.CostBudgets(),
      defaultBudgetPerHour: Number.MAX_SAFE_INTEGER,
      logger,
      registration: m.app.registrationDependencies(security),
      runtime: m.app.createExecutionRuntime(config, db, security, logger),
      auditSigner: m.app.auditCheckpointSigner(config, security, logger),
      securityMonitor: m.app.createSecurityMonitor(config, db, security, logger),
    };
    const viewer = {
      principalId: task.principal.id,
      scopes: new Set(task.principal.scopes),
      roles: task.principal.roles,
      isAdmin: false,
      costBudgetPerHour: null,
    };
    const run = async (schema: GraphQLSchema) => {
      const contextValue = m.context.createContext(deps, { requestId: 'bench', sourceIp: '127.0.0.1', origin: 'http://127.0.0.1', viewer });
      const result = await execute({ schema, document, contextValue });
      if (result.errors) throw result.errors[0];
    };
    /** Mean milliseconds per query over `n` queries. */
    const batch = async (schema: GraphQLSchema, n: number) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i += 1) await run(schema);
      return Number(process.hrtime.bigint() - start) / 1e6 / n;
    };
    await batch(unguarded, task.batch * 4);
    await batch(guarded, task.batch * 4);
    const rounds: ShieldAnswer['rounds'] = [];
    const ratios: number[] = [];
    // ABBA rounds: drift of the machine's speed hits both sides alike.
    for (let round = 0; round < task.rounds; round += 1) {
      const a1 = await batch(unguarded, task.batch);
      const b1 = await batch(guarded, task.batch);
      const b2 = await batch(guarded, task.batch);
      const a2 = await batch(unguarded, task.batch);
      rounds.push({ without: (a1 + a2) / 2, with: (b1 + b2) / 2 });
      ratios.push((b1 + b2) / (a1 + a2));
    }
    return {
      withoutShieldMs: median(rounds.map((r) => r.without)),
      withShieldMs: median(rounds.map((r) => r.with)),
      overhead: median(ratios) - 1,
      rounds,
    };
  } finally {
    await security.close();
    await db.close();
  }
}

/**
 * What the registry does with a document up to the refusal, in process: count tokens, parse with
 * the token limit, validate with graphql's and the registry's limit rules, and cost the operation
 * when it validates. Apollo's own request pipeline around it is not included.
 */
async function rejectCost(m: Modules, task: RejectTask): Promise<RejectAnswer> {
  const config = m.config.loadConfig({ LOG_LEVEL: 'silent' });
  const limits = config.limits;
  const { schema } = await m.schema.buildRegistrySchema();
  const rules = [...specifiedRules, ...m.limits.limitValidationRules(limits)];
  const cap = Math.max(m.cost.DEFAULT_MAX_SELECTIONS, 2 * limits.maxCost);
  const refuse = (source: string): string => {
    if (m.limits.countTokens(source, limits.maxTokens) > limits.maxTokens) return 'tokens';
    const document = parse(source, m.limits.limitParseOptions(limits));
    const errors = validate(schema, document, rules);
    if (errors.length) return String(errors[0]!.extensions?.code ?? errors[0]!.message);
    const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
    if (!operation || operation.kind !== 'OperationDefinition') return 'no operation';
    const cost = m.cost.costOfOperation(schema, document, operation, {}, cap);
    return cost > limits.maxCost ? 'QUERY_TOO_COMPLEX' : 'accepted';
  };
  const answer: RejectAnswer = {};
  for (const [kind, source] of Object.entries(task.documents)) {
    const refusedBy = refuse(source);
    for (let i = 0; i < 50; i += 1) refuse(source);
    const times: number[] = [];
    for (let i = 0; i < task.iterations; i += 1) {
      const start = process.hrtime.bigint();
      refuse(source);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    answer[kind] = { ms: median(times), refusedBy };
  }
  return answer;
}

process.once('message', (task: ShieldTask | RejectTask) => {
  load()
    .then((m): Promise<ShieldAnswer | RejectAnswer> => (task.task === 'shield' ? shieldCost(m, task) : rejectCost(m, task)))
    .then(
      (answer) => process.send!(answer),
      (error: unknown) => process.send!({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    )
    .finally(() => process.disconnect());
});
process.send!({ ready: true });
