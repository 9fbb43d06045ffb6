import {
  type DocumentNode,
  type FragmentDefinitionNode,
  getOperationAST,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
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
const registryEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (field.name === '_entities') {
    const representations: unknown = args.representations;
    return 1 + childComplexity * (Array.isArray(representations) ? representations.length : 1);
  }
  if (field.args.some((arg) => arg.name === 'first')) {
    const first = typeof args.first === 'number' ? args.first : DEFAULT_PAGE_SIZE;
    // Refused here, before anything runs, rather than by a resolver that may never be reached.
    if (first > MAX_PAGE_SIZE) {
      throw new RegistryError(ErrorCode.PAGE_SIZE_EXCEEDED, `\`first\` may be at most ${MAX_PAGE_SIZE}, got ${first}`, {
        argument: 'first',
        maximum: MAX_PAGE_SIZE,
        http: { status: 400 },
      });
    }
    return 1 + childComplexity * Math.max(0, first);
  }
  return 1 + childComplexity;
};

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
    return getComplexity({ schema, query, variables, estimators: [registryEstimator], maxQueryNodes: maxSelections + 1 });
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
  const operation = getOperationAST(document, operationName);
  if (!operation) {
    throw new RegistryError(
      ErrorCode.BAD_USER_INPUT,
      operationName ? `The document has no operation named "${operationName}"` : 'The document must contain exactly one operation or name one',
      { http: { status: 400 } },
    );
  }
  return costOfOperation(schema, document, operation, variables, maxSelections);
}

/** The refusal for an operation whose fragments expand to more selections than allowed. */
export function selectionsExceeded(actual: number, limit: number): RegistryError {
  return new RegistryError(
    ErrorCode.QUERY_TOO_COMPLEX,
    `Query expands to ${actual} selections once fragments are spread, more than the limit of ${limit}`,
    { limit, actual, http: { status: 400 } },
  );
}
