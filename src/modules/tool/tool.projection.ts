import { type FragmentDefinitionNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * The properties of a tool listing's rows that its answer reads: for the tools and for the provider
 * read with each, a set of entity properties, or null for every column. A catalog page that asks for
 * names and descriptions then reads no input schemas, call templates or provider settings: reading
 * and parsing columns nobody asked for cost more than the rest of a cache miss.
 */
export interface Projection {
  tool: ReadonlySet<string> | null;
  provider: ReadonlySet<string> | null;
}

/** Every column of both (internal listings, and any selection this module does not know). */
export const EVERY_COLUMN: Projection = { tool: null, provider: null };

/**
 * What each field of the GraphQL `Tool` type reads of a tool: its properties (plain fields), or
 * what its field resolver reads (tool.resolver.ts). A field not named here (a new one, say) makes
 * the listing read every column: correct, only slower.
 */
export const TOOL_FIELD_READS: Readonly<Record<string, readonly string[]>> = {
  __typename: [],
  id: ['id'],
  name: ['name'],
  description: ['description'],
  inputs: ['inputs'],
  outputs: ['outputs'],
  tags: ['tags'],
  averageResponseSize: ['averageResponseSize'],
  enabled: ['enabled'],
  status: ['status'],
  version: ['version'],
  definitionHash: ['definitionHash'],
  createdAt: ['createdAt'],
  updatedAt: ['updatedAt'],
  callTemplateType: ['callTemplateType'],
  quarantined: ['status'],
  versions: ['id'],
  provider: ['provider'],
};

/**
 * Properties of {@link TOOL_FIELD_READS} that are not columns: the listing selects them computed from
 * one (tool.service.ts), so that a page asking for a call template's type reads no call template.
 */
export const TOOL_DERIVED_READS = ['callTemplateType'] as const;

/** The same for the GraphQL `Provider` type's plain fields; its field resolvers (credential, tools, …) read every column. */
export const PROVIDER_FIELD_READS: Readonly<Record<string, readonly string[]>> = {
  __typename: [],
  id: ['id'],
  name: ['name'],
  callTemplateType: ['callTemplateType'],
  status: ['status'],
  lastDiscoveredAt: ['lastDiscoveredAt'],
  lastError: ['lastError'],
  tlsPins: ['tlsPins'],
  requestSigning: ['requestSigning'],
  createdAt: ['createdAt'],
  updatedAt: ['updatedAt'],
};

/** Read whatever is selected: the id, the name (every cursor of a listing holds it), the provider's id (the join). */
const TOOL_ALWAYS = ['id', 'name', 'provider'];
const PROVIDER_ALWAYS = ['id'];

type Fragments = Readonly<Record<string, FragmentDefinitionNode>>;

/**
 * The fields selected in `sets`, by name, with their selection sets: fragments (inline and named)
 * spread in whatever their type condition, and `@skip`/`@include` not evaluated, so the result may
 * hold more fields than are answered but never fewer.
 */
function selectedFields(sets: readonly (SelectionSetNode | undefined)[], fragments: Fragments): Map<string, SelectionSetNode[]> {
  const fields = new Map<string, SelectionSetNode[]>();
  const spread = new Set<string>();
  const visit = (set: SelectionSetNode | undefined) => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        let subs = fields.get(selection.name.value);
        if (!subs) fields.set(selection.name.value, (subs = []));
        if (selection.selectionSet) subs.push(selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet);
      } else if (!spread.has(selection.name.value)) {
        spread.add(selection.name.value);
        visit(fragments[selection.name.value]?.selectionSet);
      }
    }
  };
  for (const set of sets) visit(set);
  return fields;
}

/** The properties the selected fields read (with `always`), or null when one of them is not in `reads`. */
function propertiesOf(fields: Map<string, unknown>, reads: Readonly<Record<string, readonly string[]>>, always: readonly string[]): Set<string> | null {
  const properties = new Set(always);
  for (const field of fields.keys()) {
    const read = Object.hasOwn(reads, field) ? reads[field] : undefined;
    if (!read) return null;
    for (const property of read) properties.add(property);
  }
  return properties;
}

/**
 * What a field answering a `ToolConnection` (`Query.tools`, `Provider.tools`) reads of its rows, from
 * the selections of `edges { node { … } }`: see {@link Projection}.
 */
export function projectionOf(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): Projection {
  const connection = selectedFields(info.fieldNodes.map((node) => node.selectionSet), info.fragments);
  const edges = selectedFields(connection.get('edges') ?? [], info.fragments);
  const nodes = selectedFields(edges.get('node') ?? [], info.fragments);
  const tool = propertiesOf(nodes, TOOL_FIELD_READS, TOOL_ALWAYS);
  if (!tool) return EVERY_COLUMN;
  const providerFields = nodes.get('provider');
  const provider = providerFields ? propertiesOf(selectedFields(providerFields, info.fragments), PROVIDER_FIELD_READS, PROVIDER_ALWAYS) : new Set(PROVIDER_ALWAYS);
  return { tool, provider };
}
