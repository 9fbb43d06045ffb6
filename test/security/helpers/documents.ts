/**
 * Random GraphQL operations drawn from the served schema, for property-based tests: root fields of
 * Query and Mutation with arguments as literals or variables (values of the right type, edge
 * values, and now and then values of the wrong type), aliases, nested selections with their own
 * arguments, inline fragments on unions, and `@include`/`@skip`.
 */
import fc, { type GeneratorValue } from 'fast-check';
import {
  astFromValue,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  print,
} from 'graphql';

/** Values the generator mixes in where strings and ids are expected: real names and ids, and hostile text. */
export interface ValuePools {
  ids: string[];
  names: string[];
  cursors: string[];
}

export const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff x',
  "'; drop table tool; --",
  '" or 1=1 --',
  '${auth_api_key}',
  '$API_KEY',
  'UTCP_ARG_q_UTCP_END',
  '../../../../etc/passwd',
  '%00%ff',
  '*',
  '%',
  '_',
  '\\',
  '<script>alert(1)</script>',
  '{"__proto__": {"admin": true}}',
  'constructor',
  '__proto__',
  '😀🚀 ünïcödé',
  '\u202e\u0301',
  'x'.repeat(300),
  '00000000-0000-4000-8000-000000000000',
  'not-a-uuid',
  'tool.name.with.dots',
  '2026-01-01T00:00:00Z',
  '-1',
  '1e309',
];

const int = () => fc.oneof(fc.integer({ min: -3, max: 120 }), fc.constantFrom(0, 1, 100, 101, 2 ** 31 - 1, -(2 ** 31), 5000));

function stringArb(pools: ValuePools) {
  const picks = [...pools.ids, ...pools.names, ...pools.cursors];
  return fc.oneof(
    { weight: 3, arbitrary: picks.length ? fc.constantFrom(...picks) : fc.constant('x') },
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  );
}

/** A representation for `_entities`: a known or unknown type name, a real or made-up id. */
function representation(pools: ValuePools) {
  return fc.record({
    __typename: fc.constantFrom('Tool', 'Provider', 'Execution', 'Principal', 'Policy', 'Nope', ''),
    id: fc.oneof(stringArb(pools), fc.integer(), fc.constant(null)),
  });
}

/** A JS value for an input `type` (JSON as variables carry it); `wrong` allows values of another type. */
export function valueFor(g: GeneratorValue, type: GraphQLInputType, pools: ValuePools, wrong = true): unknown {
  if (wrong && g(fc.integer, { min: 1, max: 40 }) === 1) return g(fc.jsonValue, { maxDepth: 2 });
  if (isNonNullType(type)) return valueFor(g, type.ofType, pools, wrong);
  if (g(fc.integer, { min: 1, max: 12 }) === 1) return null;
  if (isListType(type)) {
    const length = g(fc.integer, { min: 0, max: 3 });
    return Array.from({ length }, () => valueFor(g, type.ofType, pools, wrong));
  }
  if (isEnumType(type)) return g(fc.constantFrom, ...type.getValues().map((v) => v.name));
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      if (isNonNullType(field.type) || g(fc.boolean)) value[field.name] = valueFor(g, field.type, pools, wrong);
    }
    return value;
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'Int':
        return g(int);
      case 'Float':
        return g(fc.double, { noNaN: true, noDefaultInfinity: true });
      case 'Boolean':
        return g(fc.boolean);
      case 'JSON':
        return g(() =>
          fc.oneof(
            fc.jsonValue({ maxDepth: 3 }),
            fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('q', 'body', 'type', 'properties', '__proto__')), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
          ),
        );
      case '_Any':
        return g(() => representation(pools));
      case 'DateTimeISO':
        return g(() => fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), stringArb(pools)));
      default:
        return g(() => stringArb(pools));
    }
  }
  return null;
}

/** A scalar type whose values cannot be written as a GraphQL literal from JSON (any JSON shape). */
const jsonLike = (type: GraphQLInputType) => ['JSON', '_Any'].includes(getNamedType(type).name);

class Builder {
  private readonly declarations: string[] = [];
  readonly variables: Record<string, unknown> = {};
  private count = 0;
  directives = 0;

  constructor(
    private readonly g: GeneratorValue,
    private readonly schema: GraphQLSchema,
    private readonly pools: ValuePools,
  ) {}

  header(): string {
    return this.declarations.length ? `(${this.declarations.join(', ')})` : '';
  }

  private argument(arg: GraphQLArgument): string | undefined {
    const { g } = this;
    if (!isNonNullType(arg.type) && !g(fc.boolean)) return undefined;
    const value = valueFor(g, arg.type, this.pools);
    const asVariable = jsonLike(arg.type) || g(fc.boolean);
    if (!asVariable) {
      try {
        const ast = astFromValue(value, arg.type);
        if (ast) return `${arg.name}: ${print(ast)}`;
      } catch {
        // not writable as a literal of this type: send it as a variable
      }
    }
    const name = `v${this.count++}`;
    this.declarations.push(`$${name}: ${String(arg.type)}`);
    this.variables[name] = value;
    return `${arg.name}: $${name}`;
  }

  private directive(): string {
    if (this.g(fc.integer, { min: 1, max: 8 }) !== 1) return '';
    this.directives += 1;
    return this.g(fc.constantFrom, ' @include(if: true)', ' @skip(if: false)', ' @skip(if: true)');
  }

  field(field: GraphQLField<unknown, unknown>, depth: number): string {
    const { g } = this;
    const args = field.args.map((a) => this.argument(a)).filter((a): a is string => a !== undefined);
    const alias = g(fc.integer, { min: 1, max: 5 }) === 1 ? `a${this.count++}: ` : '';
    const selection = this.selection(field.type, depth + 1);
    return `${alias}${field.name}${args.length ? `(${args.join(', ')})` : ''}${this.directive()}${selection}`;
  }

  selection(type: GraphQLOutputType, depth: number): string {
    const { g } = this;
    const named: GraphQLNamedType = getNamedType(type);
    if (isLeafType(named)) return '';
    if (isUnionType(named)) {
      const parts = ['__typename'];
      const members = named.getTypes().map((t) => t.name);
      for (const member of g(fc.subarray, members, { minLength: 0, maxLength: Math.min(2, members.length) })) {
        parts.push(`... on ${member}${this.selection(this.schema.getType(member) as GraphQLOutputType, depth)}`);
      }
      return ` { ${parts.join(' ')} }`;
    }
    if (!isObjectType(named)) return ' { __typename }';
    const fields = Object.values(named.getFields());
    // Deep enough: leaves only, so documents stay near the limits instead of always beyond them.
    const candidates = depth >= 4 ? fields.filter((f) => isLeafType(getNamedType(f.type))) : fields;
    if (!candidates.length) return ' { __typename }';
    const chosen = g(fc.subarray, candidates.map((f) => f.name), { minLength: 1, maxLength: Math.min(3, candidates.length) });
    return ` { ${chosen.map((name) => this.field(named.getFields()[name]!, depth)).join(' ')} }`;
  }
}

/** One random operation on `schema`: its text and variables. */
export function randomOperation(g: GeneratorValue, schema: GraphQLSchema, pools: ValuePools): { query: string; variables: Record<string, unknown> } {
  const kind = g(fc.constantFrom, 'query', 'query', 'mutation');
  const root = kind === 'query' ? schema.getQueryType()! : schema.getMutationType()!;
  const builder = new Builder(g, schema, pools);
  const fields = g(fc.subarray, Object.keys(root.getFields()), { minLength: 1, maxLength: 2 });
  const body = fields.map((name) => builder.field(root.getFields()[name]!, 1)).join(' ');
  return { query: `${kind} Fuzz${builder.header()} { ${body} }`, variables: builder.variables };
}
