import { type GraphQLSchema, parse } from 'graphql';
import * as complexity from 'graphql-query-complexity';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildRegistrySchema } from '../../src/schema.js';
import { operationCost } from '../../src/security/cost.js';

// The estimator library, counted: a remembered measure does not run it again.
vi.mock('graphql-query-complexity', async (original) => {
  const actual = await original<typeof complexity>();
  return { ...actual, getComplexity: vi.fn(actual.getComplexity) };
});

let schema: GraphQLSchema;
beforeAll(async () => {
  ({ schema } = await buildRegistrySchema());
});

describe('the remembered measure of a repeated document', () => {
  it('measures a search document once for every search text, and again for another page size', () => {
    const measured = vi.mocked(complexity.getComplexity);
    const document = parse('query ($q: String!, $n: Int) { tools(first: $n, filter: { search: $q }) { edges { node { name } } } }');
    measured.mockClear();
    for (const q of ['weather', 'report storage', 'shipment dashboard', 'reort']) expect(operationCost(schema, document, { q, n: 5 })).toBe(1 + 5 * 3);
    expect(measured).toHaveBeenCalledTimes(1);
    expect(operationCost(schema, document, { q: 'weather', n: 6 })).toBe(1 + 6 * 3);
    expect(measured).toHaveBeenCalledTimes(2);
    // A value coercion refuses is measured (and refused) every time.
    expect(() => operationCost(schema, document, { q: null, n: 5 })).toThrow(/non-null|null/i);
    expect(() => operationCost(schema, document, { q: null, n: 5 })).toThrow(/non-null|null/i);
    expect(measured).toHaveBeenCalledTimes(4);
  });
});
