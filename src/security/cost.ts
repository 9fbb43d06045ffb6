import {
  type DocumentNode,
  type FragmentDefinitionNode,
  getOperationAST,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type TypeNode,
} from 'graphql';
import { type ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../common/pagination.js';
import { ErrorCode, RegistryError } from '../errors.js';

/** Selections an operation may expand to (fragments spread out) before its cost is not worth computing. */
export const DEFAULT_MAX_SELECTIONS = 10_000;

/**
 * Counts the selections (fields, inline fragments, fragment spreads) of each operation of
 * `document` with every fragment spread expanded, the way Apollo's `maxRecursiveSelections` counts
 * them. Each fragment is counted once, so the work is linear in the document even when fragments
 * fan out. Returns NaN for an operation that spreads an unknown or cyclic fragment (graphql's own
 * validation rules report those).
 */
export function selectionCounter(document: DocumentNode): (operation: OperationDefinitionNode) => number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const counted = new Map<string, number>();
  const counting = new Set<string>();

  const fragment = (name: string): number => {
    const known = counted.get(name);
    if (known !== undefined) return known;
    const definition = fragments.get(name);
    if (!definition || counting.has(name)) return Number.NaN;
    counting.add(name);
    const count = selections(definition.selectionSet);
    counting.delete(name);
    counted.set(name, count);
    return count;
  };

  const selections = (set: SelectionSetNode): number => {
    let count = 0;
    for (const selection of set.selections) {
      count += 1;
      if (selection.kind === Kind.FRAGMENT_SPREAD) count += fragment(selection.name.value);
      else if (selection.selectionSet) count += selections(selection.selectionSet);
    }
    return count;
  };

  return (operation) => selections(operation.selectionSet);
}

/**
 * Each field costs 1 plus the cost of its selection; a field with a `first` argument (a Relay
 * connection) multiplies its selection by the page size it asks for (its default when absent;
 * 0 when negative, which the resolver refuses), and `_entities` by its number of representations.
 * A page size above MAX_PAGE_SIZE anywhere in the operation is refused with PAGE_SIZE_EXCEEDED
 * (HTTP 400) before anything runs.
 */
/**
 * The page size a connection field asks for (its default when absent). Above MAX_PAGE_SIZE it is
 * refused here, before anything runs, rather than by a resolver that may never be reached.
 */
function pageSizeOf(args: Record<string, unknown>): number {
  const first = typeof args.first === 'number' ? args.first : DEFAULT_PAGE_SIZE;
  if (first > MAX_PAGE_SIZE) {
    throw new RegistryError(ErrorCode.PAGE_SIZE_EXCEEDED, `\`first\` may be at most ${MAX_PAGE_SIZE}, got ${first}`, {
      argument: 'first',
      maximum: MAX_PAGE_SIZE,
      http: { status: 400 },
    });
  }
  return first;
}

const registryEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (field.name === '_entities') {
    const representations: unknown = args.representations;
    return 1 + childComplexity * (Array.isArray(representations) ? representations.length : 1);
  }
  if (field.args.some((arg) => arg.name === 'first')) {
    const first = pageSizeOf(args);
    return 1 + childComplexity * Math.max(0, first);
  }
  return 1 + childComplexity;
};

/** Longest key of declared variable values under which a measure is remembered. */
const MAX_MEASURE_KEY = 4096;
/** Most measures remembered per operation (distinct values of its declared variables); then it starts over. */
const MAX_MEASURES_PER_OPERATION = 256;

/** Measures by schema, operation node and measure kind + selection cap + declared variable values. */
const measures = new WeakMap<GraphQLSchema, WeakMap<OperationDefinitionNode, Map<string, number>>>();

/**
 * What a measure of `operation` depends on besides the document: the values of the variables it
 * declares (present or absent, as sent; undeclared ones cannot change it), or null when that is too
 * long to remember.
 */
function declaredValuesKey(operation: OperationDefinitionNode, variables: Record<string, unknown>): string | null {
  let key = '';
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    const value = variables[name];
    // An absent variable (its default applies) is '', which no JSON text is. A value too long to
    // remember is not written out whole first (an executeTool call may carry megabytes of arguments).
    // A string declared String or ID is only '"': no estimator reads such a value (they read page
    // sizes, representations and the Boolean of @include/@skip), and a string is a valid value of
    // either, so every search text shares one measure. Any other value of it (null, a number) is
    // written out and measured, so what coercion refuses is still refused here.
    const json = !Object.hasOwn(variables, name) ? '' : typeof value === 'string' && isStringLike(definition.type) ? '"' : boundedJson(value, MAX_MEASURE_KEY - key.length);
    if (json === null) return null;
    key += `\u0000${json}`;
    if (key.length > MAX_MEASURE_KEY) return null;
  }
  return key;
}

/** Whether a variable's declared type is String or ID (non-null or not, not a list). */
function isStringLike(type: TypeNode): boolean {
  const named = type.kind === Kind.NON_NULL_TYPE ? type.type : type;
  return named.kind === Kind.NAMED_TYPE && (named.name.value === 'String' || named.name.value === 'ID');
}

/** `value` as JSON (undefined as `undefined`) when that takes at most `budget` characters, else null, without writing out the rest. */
function boundedJson(value: unknown, budget: number): string | null {
  if (value === null || typeof value !== 'object') {
    const json = JSON.stringify(value) ?? 'undefined';
    return json.length <= budget ? json : null;
  }
  const list = Array.isArray(value);
  let json = '';
  for (const [name, item] of list ? value.map((item) => ['', item] as const) : Object.entries(value)) {
    if (item === undefined && !list) continue;
    const member = item === undefined ? 'null' : boundedJson(item, budget - json.length);
    if (member === null) return null;
    json += `${json ? ',' : ''}${list ? '' : `${JSON.stringify(name)}:`}${member}`;
    if (json.length + 2 > budget) return null;
  }
  return list ? `[${json}]` : `{${json}}`;
}

/**
 * {@link measureUncached}, remembered per operation node (Apollo and the limit gate keep parsed
 * documents, so a repeated document is the same node) and the values of its declared variables.
 * Only measures are remembered; a refusal is computed again each time.
 */
function measure(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  maxSelections: number,
  estimator: ComplexityEstimator,
  kind: 'cost' | 'charge',
): number {
  const values = declaredValuesKey(operation, variables);
  if (values === null) return measureUncached(schema, document, operation, variables, maxSelections, estimator);
  let byOperation = measures.get(schema);
  if (!byOperation) {
    byOperation = new WeakMap();
    measures.set(schema, byOperation);
  }
  let known = byOperation.get(operation);
  if (!known) {
    known = new Map();
    byOperation.set(operation, known);
  }
  const key = `${kind}\u0000${maxSelections}${values}`;
  let value = known.get(key);
  if (value === undefined) {
    value = measureUncached(schema, document, operation, variables, maxSelections, estimator);
    if (known.size >= MAX_MEASURES_PER_OPERATION) known.clear();
    known.set(key, value);
  }
  return value;
}

/** Runs `estimator` over `operation` and its fragments, with the refusals of {@link costOfOperation}. */
function measureUncached(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  maxSelections: number,
  estimator: ComplexityEstimator,
): number {
  const selections = selectionCounter(document)(operation);
  if (Number.isNaN(selections)) {
    throw new RegistryError(ErrorCode.BAD_USER_INPUT, 'The operation spreads an unknown or cyclic fragment', { http: { status: 400 } });
  }
  if (selections > maxSelections) throw selectionsExceeded(selections, maxSelections);
  // Only this operation and the fragments: graphql-query-complexity otherwise sums every operation.
  const query: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [operation, ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)],
  };
  try {
    return getComplexity({ schema, query, variables, estimators: [estimator], maxQueryNodes: maxSelections + 1 });
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    // What remains are variable coercion errors, reported as execution would report them.
    if (error instanceof GraphQLError) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, error.message, { http: { status: 400 } });
    }
    throw error;
  }
}

/**
 * The cost of `operation` (one operation of `document`) with `variables` as the client sent them.
 * Throws a RegistryError: BAD_USER_INPUT when the variables do not fit the operation or it spreads
 * an unknown or cyclic fragment; QUERY_TOO_COMPLEX when it expands to more than `maxSelections`
 * selections (its cost would then be expensive to compute and far above any sensible limit);
 * PAGE_SIZE_EXCEEDED when it asks for a page of more than MAX_PAGE_SIZE.
 */
export function costOfOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  maxSelections: number,
): number {
  return measure(schema, document, operation, variables, maxSelections, registryEstimator, 'cost');
}

/** Requests one budget point stands for (GitHub's divisor). */
export const REQUESTS_PER_POINT = 100;
/** Budget points a mutation field costs (GitHub charges its mutations 5 points too). */
export const MUTATION_POINTS = 5;
/**
 * Budget points `executeTool` costs: a call runs a tool upstream, stores an execution and holds a
 * worker for up to the tool's timeout, and without a policy rate limit this budget is the only
 * per-principal bound on calls.
 */
export const EXECUTE_TOOL_POINTS = 10;

/** Requests a page of `size` items implies when one request answers at most MAX_PAGE_SIZE of them. */
const pageRequests = (size: number): number => Math.ceil(Math.max(0, size) / MAX_PAGE_SIZE);

/**
 * GitHub-style request counting, bottom-up: a connection (a field with `first`) of page size n
 * implies ceil(n / MAX_PAGE_SIZE) requests of its own plus, for each of its n items, the requests
 * of the connections selected inside them (so nested connections multiply); `_entities` likewise
 * with its number of representations. A mutation field counts as {@link MUTATION_POINTS} points'
 * worth of requests ({@link EXECUTE_TOOL_POINTS} for `executeTool`) plus the connections its payload
 * selects. Any other field implies only what its selection implies.
 */
function requestEstimator(mutationType: string | undefined): ComplexityEstimator {
  return ({ type, field, args, childComplexity }) => {
    if (type.name === mutationType) {
      const points = field.name === 'executeTool' ? EXECUTE_TOOL_POINTS : MUTATION_POINTS;
      return points * REQUESTS_PER_POINT + childComplexity;
    }
    if (field.name === '_entities') {
      const representations: unknown = args.representations;
      const count = Array.isArray(representations) ? representations.length : 1;
      return pageRequests(count) + count * childComplexity;
    }
    if (field.args.some((arg) => arg.name === 'first')) {
      const first = pageSizeOf(args);
      return pageRequests(first) + Math.max(0, first) * childComplexity;
    }
    return childComplexity;
  };
}

/** Budget points for `requests` implied requests: divided by REQUESTS_PER_POINT, rounded, at least 1. */
export const pointsForRequests = (requests: number): number => Math.max(1, Math.round(requests / REQUESTS_PER_POINT));

/**
 * What `operation` charges to the caller's hourly budget, in points: the requests it implies
 * (see {@link requestEstimator}) divided by {@link REQUESTS_PER_POINT} and rounded, at least 1.
 * Throws as {@link costOfOperation} does.
 */
export function chargeOfOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  maxSelections: number,
): number {
  const requests = measure(schema, document, operation, variables, maxSelections, requestEstimator(schema.getMutationType()?.name), 'charge');
  return pointsForRequests(requests);
}

/**
 * The budget charge of one operation of `document` (see {@link chargeOfOperation}); throws as
 * {@link operationCost} does.
 */
export function operationCharge(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  operationName?: string | null,
  maxSelections: number = DEFAULT_MAX_SELECTIONS,
): number {
  return chargeOfOperation(schema, document, selectOperation(document, operationName), variables, maxSelections);
}

/** The operation `operationName` selects; BAD_USER_INPUT when it selects none. */
function selectOperation(document: DocumentNode, operationName?: string | null): OperationDefinitionNode {
  const operation = getOperationAST(document, operationName);
  if (!operation) {
    throw new RegistryError(
      ErrorCode.BAD_USER_INPUT,
      operationName ? `The document has no operation named "${operationName}"` : 'The document must contain exactly one operation or name one',
      { http: { status: 400 } },
    );
  }
  return operation;
}

/**
 * The cost of one operation of `document` against `schema` (the served subgraph schema), reading
 * `first` and `representations` from literals and `variables` alike. Throws a RegistryError:
 * BAD_USER_INPUT when `operationName` does not select one operation or the variables do not fit
 * it, QUERY_TOO_COMPLEX when it expands to more than `maxSelections` selections, PAGE_SIZE_EXCEEDED
 * when it asks for a page of more than MAX_PAGE_SIZE.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  operationName?: string | null,
  maxSelections: number = DEFAULT_MAX_SELECTIONS,
): number {
  return costOfOperation(schema, document, selectOperation(document, operationName), variables, maxSelections);
}

/** The refusal for an operation whose fragments expand to more selections than allowed. */
export function selectionsExceeded(actual: number, limit: number): RegistryError {
  return new RegistryError(
    ErrorCode.QUERY_TOO_COMPLEX,
    `Query expands to ${actual} selections once fragments are spread, more than the limit of ${limit}`,
    { limit, actual, http: { status: 400 } },
  );
}
