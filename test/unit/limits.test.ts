import { ApolloServer } from '@apollo/server';
import { getIntrospectionQuery, type GraphQLFormattedError, type GraphQLSchema, parse, specifiedRules, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistrySchema } from '../../src/schema.js';
import {
  countTokens,
  DEFAULT_QUERY_LIMITS,
  limitParseOptions,
  limitValidationRules,
  operationCharge,
  operationCost,
  type QueryLimits,
  queryLimitsPlugin,
} from '../../src/security/limits.js';

/** `queryCost` is what the plugin sets; `probe` survives Apollo's shallow copy of the context. */
interface TestContext {
  queryCost?: number;
  probe?: { cost?: number };
}

interface Outcome {
  status: number | undefined;
  errors: readonly GraphQLFormattedError[];
  cost: number | undefined;
}

let schema: GraphQLSchema;
let defaults: ApolloServer<TestContext>;
const servers: ApolloServer<TestContext>[] = [];
const quiet = { debug() {}, info() {}, warn: console.warn, error: console.error };

beforeAll(async () => {
  ({ schema } = await buildRegistrySchema());
  defaults = await startServer();
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

/** An Apollo server configured like src/app.ts, with the limits wired in. */
async function startServer(overrides: Partial<QueryLimits> = {}, { parseOptions = true } = {}): Promise<ApolloServer<TestContext>> {
  const limits = { ...DEFAULT_QUERY_LIMITS, ...overrides };
  const server = new ApolloServer<TestContext>({
    schema,
    introspection: false,
    hideSchemaDetailsFromClientErrors: true,
    allowBatchedHttpRequests: false,
    maxRecursiveSelections: true,
    includeStacktraceInErrorResponses: false,
    logger: quiet,
    validationRules: limitValidationRules(limits),
    ...(parseOptions ? { parseOptions: limitParseOptions(limits) } : {}),
    plugins: [
      queryLimitsPlugin(schema, limits),
      {
        async requestDidStart() {
          return {
            async willSendResponse({ contextValue }) {
              if (contextValue.probe) contextValue.probe.cost = contextValue.queryCost;
            },
          };
        },
      },
    ],
  });
  await server.start();
  servers.push(server);
  return server;
}

async function run(
  query: string,
  { server = defaults, variables, operationName }: { server?: ApolloServer<TestContext>; variables?: Record<string, unknown>; operationName?: string } = {},
): Promise<Outcome> {
  const probe: { cost?: number } = {};
  const response = await server.executeOperation({ query, variables, operationName }, { contextValue: { probe } });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return { status: response.http.status, errors: response.body.singleResult.errors ?? [], cost: probe.cost };
}

function expectRefusal(outcome: Outcome, code: string, extensions: Record<string, unknown> = {}) {
  expect(outcome.status).toBe(400);
  expect(outcome.errors).toHaveLength(1);
  expect(outcome.errors[0]?.extensions).toMatchObject({ code, ...extensions });
  expect(outcome.cost).toBeUndefined();
}

const typenames = (n: number, alias = false) => Array.from({ length: n }, (_, i) => (alias ? `t${i}: __typename` : '__typename')).join(' ');

/** tools → edges → node → provider → tools …: `levels` connections deep, `name` as the leaf. */
function nested(levels: number, first = 1): string {
  let selection = 'name';
  for (let i = 0; i < levels; i += 1) selection = `provider { tools(first: ${first}) { edges { node { ${selection} } } } }`;
  return `{ tools(first: ${first}) { edges { node { ${selection} } } } }`;
}

/** `levels` fragments, each spreading the one below `fan` times: fan^levels selections once expanded. */
function fanOut(levels: number, fan: number, leaf = '__typename'): string {
  let document = `query FanOut { ...F${levels} }\nfragment F0 on Query { ${leaf} }\n`;
  for (let i = 1; i <= levels; i += 1) document += `fragment F${i} on Query { ${Array(fan).fill(`...F${i - 1}`).join(' ')} }\n`;
  return document;
}

const CATALOG = '{ tools(first: 20) { edges { node { name tags provider { name } } } pageInfo { hasNextPage } } }';
const NESTED_100 = '{ tools(first: 100) { edges { node { name provider { tools(first: 100) { edges { node { name } } } } } } } }';

describe('query depth', () => {
  it('refuses an operation deeper than 10 levels with QUERY_TOO_DEEP, its depth and the limit', async () => {
    const outcome = await run(nested(2)); // tools edges node provider tools edges node provider tools edges node name: 11
    expectRefusal(outcome, 'QUERY_TOO_DEEP', { limit: 10, actual: 11 });
    expect(outcome.errors[0]?.message).toBe('Query depth 11 exceeds the limit of 10');
  });

  it('accepts an operation at the depth limit', () => {
    const document = parse('{ tools { edges { node { provider { tools { edges { node { provider { tools { edges { name: __typename } } } } } } } } } } }');
    expect(validate(schema, document, [...specifiedRules, ...limitValidationRules(DEFAULT_QUERY_LIMITS)])).toEqual([]);
  });

  it('follows a configured limit', async () => {
    const server = await startServer({ maxDepth: 2 });
    expectRefusal(await run('{ tools { edges { node { name } } } }', { server }), 'QUERY_TOO_DEEP', { limit: 2, actual: 3 });
    expect((await run('{ __typename }', { server })).cost).toBe(1);
  });

  it('counts depth through fragments', async () => {
    const outcome = await run(`{ ...Deep } fragment Deep on Query { ${nested(2).slice(2, -2)} }`);
    expectRefusal(outcome, 'QUERY_TOO_DEEP', { actual: 11 });
  });
});

describe('budget charge', () => {
  const charge = (query: string, variables: Record<string, unknown> = {}) => operationCharge(schema, parse(query), variables);

  it('charges one point for a page, whatever its size and fields: it is one request', () => {
    expect(charge(CATALOG)).toBe(1);
    expect(charge('{ tools(first: 100) { edges { node { name description tags provider { name status } } } } }')).toBe(1);
    expect(charge('{ __typename }')).toBe(1);
    expect(charge('{ me { scopes } }')).toBe(1);
  });

  it('multiplies nested connections by the pages above them, then divides the requests by 100, rounded', () => {
    // 1 page of providers + 100 pages of tools (one per provider) = 101 requests → 1 point.
    expect(charge('{ providers(first: 100) { edges { node { tools(first: 100) { totalCount } } } } }')).toBe(1);
    // 1 + 100 + 100 × 100 = 10,101 requests → 101 points (far over the complexity limit, which refuses it first).
    expect(charge('{ providers(first: 100) { edges { node { tools(first: 100) { edges { node { provider { tools(first: 100) { totalCount } } } } } } } } }')).toBe(101);
    // Two sibling connections under 50 parents: 1 + 50 + 50 = 101 requests.
    expect(charge('{ providers(first: 50) { edges { node { a: tools(first: 10) { totalCount } b: tools(first: 10) { totalCount } } } } }')).toBe(1);
    // 1 + 100 × 2 = 201 requests → 2 points; default pages of 20: 1 + 20 = 21 requests → the minimum of 1.
    expect(charge('{ providers(first: 100) { edges { node { a: tools(first: 1) { totalCount } b: tools(first: 1) { totalCount } } } } }')).toBe(2);
    expect(charge('{ providers { edges { node { tools { totalCount } } } } }')).toBe(1);
  });

  it('reads page sizes from variables and refuses pages over the maximum', () => {
    const query = 'query ($n: Int) { providers(first: $n) { edges { node { a: tools(first: $n) { totalCount } b: tools(first: $n) { totalCount } } } } }';
    expect(charge(query, { n: 100 })).toBe(2);
    expect(charge(query, { n: 10 })).toBe(1);
    expect(() => charge(query, { n: 101 })).toThrow(/at most 100/);
  });

  it('charges a mutation field 5 points and executeTool 10, plus the connections its payload selects', () => {
    expect(charge('mutation { setToolEnabled(input: { toolId: "t", enabled: false }) { __typename } }')).toBe(5);
    expect(charge('mutation { a: setToolEnabled(input: { toolId: "t", enabled: false }) { __typename } b: setToolEnabled(input: { toolId: "u", enabled: true }) { __typename } }')).toBe(10);
    expect(charge('mutation { executeTool(input: { tool: "x", arguments: {} }) { __typename } }')).toBe(10);
  });

  it('multiplies connections under `_entities` by the number of representations', () => {
    const query = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Provider { tools(first: 5) { totalCount } } } }';
    const representations = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'Provider', id: `p${i}` }));
    expect(charge(query, { r: representations(3) })).toBe(1);
    expect(charge(query, { r: representations(250) })).toBe(3);
  });
});

describe('query cost', () => {
  it('gives an ordinary catalog page a cost proportional to its page size', async () => {
    // tools: 1 + 20 × (edges 1 + node (1 + name + tags + provider 2) + pageInfo 2) = 1 + 20 × 8
    expect(operationCost(schema, parse(CATALOG), {})).toBe(161);
    expect(validate(schema, parse(CATALOG), [...specifiedRules, ...limitValidationRules(DEFAULT_QUERY_LIMITS)])).toEqual([]);
  });

  it('lets the standard introspection query through', () => {
    const document = parse(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true }));
    expect(validate(schema, document, [...specifiedRules, ...limitValidationRules(DEFAULT_QUERY_LIMITS)])).toEqual([]);
    expect(operationCost(schema, document, {})).toBeLessThan(500);
  });

  it('stores the cost of every operation it lets through on the context', async () => {
    const outcome = await run('{ __typename }');
    expect(outcome.errors).toEqual([]);
    expect(outcome.cost).toBe(1);
  });

  it('refuses nested pages of 100 with QUERY_TOO_COMPLEX, the cost and the limit', async () => {
    const outcome = await run(NESTED_100);
    // inner tools 1 + 100 × 3; node 1 + 1 + provider (1 + 301); outer 1 + 100 × (edges 1 + 304)
    expectRefusal(outcome, 'QUERY_TOO_COMPLEX', { limit: 5000, actual: 30_501 });
    expect(outcome.errors[0]?.message).toBe('Query cost 30501 exceeds the limit of 5000');
  });

  it('reads `first` from variables as it reads literals', async () => {
    const query = 'query ($n: Int) { tools(first: $n) { edges { node { name provider { tools(first: $n) { edges { node { name } } } } } } } }';
    expect(operationCost(schema, parse(query), { n: 100 })).toBe(operationCost(schema, parse(NESTED_100), {}));
    expectRefusal(await run(query, { variables: { n: 100 } }), 'QUERY_TOO_COMPLEX', { actual: 30_501 });
  });

  it('measures a document again for every value of the variables it declares, whatever it measured before', async () => {
    // One parsed document, as Apollo and the limit gate keep it: a remembered measure must never answer other variables.
    const document = parse('query ($n: Int = 5, $m: Int) { a: tools(first: $n) { edges { node { name } } } b: tools(first: $m) { totalCount } }');
    const cost = (variables: Record<string, unknown>) => operationCost(schema, document, variables);
    expect(cost({})).toBe(1 + 5 * 3 + 1 + 20);
    expect(cost({ n: 10 })).toBe(1 + 10 * 3 + 1 + 20);
    expect(cost({ n: null })).toBe(1 + 20 * 3 + 1 + 20);
    expect(cost({ n: 10, m: 2 })).toBe(1 + 10 * 3 + 1 + 2);
    // Variables the operation does not declare change nothing.
    expect(cost({ n: 10, nonce: 'x' })).toBe(cost({ n: 10 }));
    expect(cost({})).toBe(1 + 5 * 3 + 1 + 20);
    expect(() => cost({ n: 101 })).toThrow(/at most 100/);
    expect(() => cost({ n: 'ten' })).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    expect(operationCharge(schema, document, { n: 100, m: 100 })).toBe(1);

    // The same document text through Apollo: the cost follows the variables of each request.
    const query = 'query ($n: Int) { tools(first: $n) { edges { node { name provider { tools(first: $n) { edges { node { name } } } } } } } }';
    expect((await run(query, { variables: { n: 2 } })).cost).toBe(1 + 2 * (1 + 1 + 1 + 1 + (1 + 2 * 3)));
    expectRefusal(await run(query, { variables: { n: 100 } }), 'QUERY_TOO_COMPLEX', { actual: 30_501 });
    expect((await run(query, { variables: { n: 2, other: 1 } })).cost).toBe(1 + 2 * (1 + 1 + 1 + 1 + (1 + 2 * 3)));
  });

  it('measures a search once for every text, and still refuses a value that is not a string', () => {
    // Every search text shares one measure (no estimator reads a String or ID value); anything else
    // sent for such a variable is measured, so coercion still refuses it after a string was measured.
    const document = parse('query ($q: String!, $id: ID, $n: Int) { tools(first: $n, filter: { search: $q }) { edges { node { name } } } }');
    const cost = (variables: Record<string, unknown>) => operationCost(schema, document, variables);
    expect(cost({ q: 'weather', id: 'a', n: 4 })).toBe(1 + 4 * 3);
    expect(cost({ q: 'report storage', id: 'b', n: 4 })).toBe(1 + 4 * 3);
    expect(cost({ q: 'report storage', n: 7 })).toBe(1 + 7 * 3);
    expect(() => cost({ q: null, n: 4 })).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    expect(() => cost({ q: 42, n: 4 })).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    expect(() => cost({ q: 'x', id: { not: 'an id' }, n: 4 })).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    expect(cost({ q: 'x', id: 7, n: 4 })).toBe(1 + 4 * 3);
  });

  it('charges the default page size of 20 when `first` is absent or null', () => {
    const cost = (args: string) => operationCost(schema, parse(`{ tools${args} { edges { node { name } } } }`), {});
    expect(cost('')).toBe(1 + 20 * 3);
    expect(cost('(first: null)')).toBe(1 + 20 * 3);
    expect(cost('(first: 5)')).toBe(1 + 5 * 3);
    expect(cost('(first: -5)')).toBe(1);
    expect(operationCost(schema, parse('{ providers { edges { node { tools(first: 10) { totalCount } } } } }'), {})).toBe(1 + 20 * (1 + 1 + (1 + 10)));
  });

  it('multiplies `_entities` by the number of representations', async () => {
    const query = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Tool { name provider { name } } } }';
    const representations = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'Tool', id: `t${i}` }));
    expect(operationCost(schema, parse(query), { r: representations(3) })).toBe(1 + 3 * 3);
    const literal = '{ _entities(representations: [{__typename: "Tool", id: "a"}, {__typename: "Tool", id: "b"}]) { ... on Tool { name } } }';
    expect(operationCost(schema, parse(literal), {})).toBe(1 + 2 * 1);
    expectRefusal(await run(query, { variables: { r: representations(2000) } }), 'QUERY_TOO_COMPLEX', { actual: 1 + 2000 * 3 });
  });

  it('follows a configured limit', async () => {
    const server = await startServer({ maxCost: 100 });
    expectRefusal(await run(CATALOG, { server }), 'QUERY_TOO_COMPLEX', { limit: 100, actual: 161 });
  });

  it('costs only the operation that was asked for', async () => {
    const document = `query Cheap { __typename } query Expensive ${NESTED_100}`;
    expect(operationCost(schema, parse(document), {}, 'Cheap')).toBe(1);
    expect((await run(document, { operationName: 'Cheap' })).cost).toBe(1);
    expectRefusal(await run(document, { operationName: 'Expensive' }), 'QUERY_TOO_COMPLEX');
  });

  it('measures a repeated document again for other values of its variables, and not for variables it does not declare', async () => {
    const server = await startServer();
    const query = 'query ($n: Int = 5) { tools(first: $n) { edges { node { name } } } }';
    expect((await run(query, { server, variables: { n: 10 } })).cost).toBe(1 + 10 * 3);
    expect((await run(query, { server, variables: { n: 10, nonce: 1 } })).cost).toBe(1 + 10 * 3);
    expect((await run(query, { server, variables: { n: 30 } })).cost).toBe(1 + 30 * 3);
    // Missing takes the default (5); null overrides it, and a null page size is the default page (20).
    expect((await run(query, { server, variables: {} })).cost).toBe(1 + 5 * 3);
    expect((await run(query, { server, variables: { n: null } })).cost).toBe(1 + 20 * 3);
    expectRefusal(await run(query, { server, variables: { n: 'many' } }), 'BAD_USER_INPUT');
    expectRefusal(await run(query, { server, variables: { n: 101 } }), 'PAGE_SIZE_EXCEEDED');
    expect((await run(query, { server, variables: { n: 10 } })).cost).toBe(1 + 10 * 3);
    // Large values are measured each time rather than kept; the answer is the same.
    const big = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Tool { name } } }';
    const representations = Array.from({ length: 200 }, (_, i) => ({ __typename: 'Tool', id: `tool-${i}`.padEnd(40, 'x') }));
    expect((await run(big, { server, variables: { r: representations } })).cost).toBe(1 + 200);
    expect((await run(big, { server, variables: { r: representations.slice(0, 3) } })).cost).toBe(1 + 3);
    expect((await run(big, { server, variables: { r: representations } })).cost).toBe(1 + 200);
  });

  it('refuses variables that do not fit the operation with BAD_USER_INPUT before executing', async () => {
    expectRefusal(await run('query ($n: Int!) { tools(first: $n) { totalCount } }'), 'BAD_USER_INPUT');
    expect(() => operationCost(schema, parse('query A { __typename } query B { __typename }'), {})).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
    );
  });
});

describe('aliases', () => {
  it('refuses more than 15 aliases with TOO_MANY_ALIASES, counting `__typename` aliases', async () => {
    const outcome = await run(`{ ${typenames(16, true)} }`);
    expectRefusal(outcome, 'TOO_MANY_ALIASES', { limit: 15, actual: 16 });
    expect(outcome.errors[0]?.message).toBe('Query uses 16 aliases, more than the limit of 15');
    expect((await run(`{ ${typenames(15, true)} }`)).cost).toBe(15);
  });

  it('counts aliases inside fragments at every spread', async () => {
    const outcome = await run(`{ ...A ...A a: __typename } fragment A on Query { ${typenames(8, true)} }`);
    expectRefusal(outcome, 'TOO_MANY_ALIASES', { actual: 17 });
  });

  it('follows a configured limit', async () => {
    const server = await startServer({ maxAliases: 2 });
    expectRefusal(await run(`{ ${typenames(3, true)} }`, { server }), 'TOO_MANY_ALIASES', { limit: 2, actual: 3 });
  });
});

describe('directives', () => {
  const included = (n: number) => Array.from({ length: n }, (_, i) => `t${i}: __typename @include(if: true)`).join(' ');

  it('refuses more than 5 directives with TOO_MANY_DIRECTIVES', async () => {
    const outcome = await run(`{ ${included(6)} }`);
    expectRefusal(outcome, 'TOO_MANY_DIRECTIVES', { limit: 5, actual: 6 });
    expect(outcome.errors[0]?.message).toBe('Query uses 6 directives, more than the limit of 5');
    expect((await run(`{ ${included(5)} }`)).cost).toBe(5);
  });

  it('follows a configured limit', async () => {
    const server = await startServer({ maxDirectives: 1 });
    expectRefusal(await run(`{ ${included(2)} }`, { server }), 'TOO_MANY_DIRECTIVES', { limit: 1, actual: 2 });
  });
});

describe('tokens', () => {
  // `{`, n × `__typename`, `}`: n + 2 tokens
  const fields = (n: number) => `{ ${typenames(n)} }`;
  // n × `query Qi { __typename }`: 5n tokens that validate cheaply (unlike n identical fields, which
  // graphql's overlapping-fields rule compares pairwise and gives up on)
  const operations = (n: number) => Array.from({ length: n }, (_, i) => `query Q${i} { __typename }`).join('\n');

  it('refuses a document of more than 2000 tokens with TOO_MANY_TOKENS', async () => {
    const outcome = await run(fields(1999));
    expectRefusal(outcome, 'TOO_MANY_TOKENS', { limit: 2000 });
    expect(outcome.errors[0]?.message).toBe('Query exceeds the limit of 2000 tokens');
    expectRefusal(await run(operations(401), { operationName: 'Q0' }), 'TOO_MANY_TOKENS');
    expect((await run(operations(400), { operationName: 'Q0' })).cost).toBe(1);
  });

  it('stops parsing at the limit, refusing even a document that is invalid further on', async () => {
    expectRefusal(await run(`{ ${typenames(2500)} nope { ${'{'.repeat(10)} `), 'TOO_MANY_TOKENS');
    expectRefusal(await run(`{ ${typenames(2500)} unknownField }`), 'TOO_MANY_TOKENS');
  });

  it('refuses oversized documents also when Apollo does not stop the parse itself', async () => {
    const server = await startServer({}, { parseOptions: false });
    expectRefusal(await run(operations(401), { server, operationName: 'Q0' }), 'TOO_MANY_TOKENS', { limit: 2000 });
  });

  it('follows a configured limit and leaves ordinary syntax errors to the parser', async () => {
    const server = await startServer({ maxTokens: 10 });
    expectRefusal(await run(`{ ${typenames(9)} }`, { server }), 'TOO_MANY_TOKENS', { limit: 10 });
    expect((await run(`{ ${typenames(8)} }`, { server })).cost).toBe(8);
    expectRefusal(await run('{ tools(first: ', { server }), 'GRAPHQL_PARSE_FAILED');
  });

  it('refuses an oversized document every time it is sent, and lets a repeated one through each time', async () => {
    const server = await startServer({ maxTokens: 10 });
    for (let i = 0; i < 3; i += 1) {
      expectRefusal(await run(`{ ${typenames(9)} }`, { server }), 'TOO_MANY_TOKENS', { limit: 10 });
      expect((await run(`{ ${typenames(8)} }`, { server })).cost).toBe(8);
    }
  });

  it('counts like the parser, ignoring comments and stopping just past the limit', () => {
    expect(countTokens('# comment\n{ a(b: "c d") }', 100)).toBe(8);
    expect(countTokens(`{ ${'a '.repeat(1_000_000)}}`, 2000)).toBe(2001);
    expect(countTokens('{ "unterminated }', 100)).toBe(1);
  });
});

describe('fragment cycles and fan-out', () => {
  const cycles = [
    'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
    'query { tools { edges { node { ...T } } } } fragment T on Tool { provider { tools { edges { node { ...T } } } } }',
  ];

  it.each(cycles)('answers a fragment cycle with a 400 from graphql validation, never a 500: %s', async (query) => {
    const outcome = await run(query);
    expect(outcome.status).toBe(400);
    expect(outcome.errors[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(outcome.errors[0]?.message).toMatch(/Cannot spread fragment "\w+" within itself/);
  });

  it.each(cycles)('never throws when validating a cycle in a single pass with graphql rules: %s', (query) => {
    const errors = validate(schema, parse(query), [...specifiedRules, ...limitValidationRules(DEFAULT_QUERY_LIMITS)]);
    expect(errors.map((e) => e.message).join()).toMatch(/within itself/);
  });

  it('never throws on an unknown fragment in a single pass', () => {
    const errors = validate(schema, parse('{ ...Missing }'), [...specifiedRules, ...limitValidationRules(DEFAULT_QUERY_LIMITS)]);
    expect(errors.map((e) => e.message)).toEqual(['Unknown fragment "Missing".']);
  });

  it("answers a fan-out past Apollo's recursive-selection limit with a 400", async () => {
    const outcome = await run(fanOut(8, 10));
    expect(outcome.status).toBe(400);
    expect(outcome.errors[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(outcome.errors[0]?.message).toMatch(/recursively requests too many selections/);
  });

  it('refuses a fan-out Apollo allows but that expands past 10,000 selections before walking it', async () => {
    const started = performance.now();
    const outcome = await run(fanOut(6, 12)); // 6.2 million selections: depth-limit alone spends half a second on it
    expectRefusal(outcome, 'QUERY_TOO_COMPLEX', { limit: 10_000 });
    expect(outcome.errors[0]?.message).toMatch(/^Query expands to \d+ selections once fragments are spread, more than the limit of 10000$/);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('still measures depth and cost through a moderate fan-out', async () => {
    expectRefusal(await run(fanOut(3, 4, nested(2).slice(2, -2))), 'QUERY_TOO_DEEP', { actual: 11 });
    // graphql-query-complexity charges every spread, even of fields execution merges: 4³ × 1
    expect((await run(fanOut(3, 4))).cost).toBe(64);
    expect(operationCost(schema, parse(fanOut(3, 4, 'tools(first: 1) { totalCount }')), {})).toBe(64 * 2);
  });
});
