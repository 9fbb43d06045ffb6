import { buildSubgraphSchema, type GraphQLResolverMap, printSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { type GraphQLSchema, parse } from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
import { type RegistryContext } from './context.js';
import { ExecutionNode } from './modules/execution/index.js';
import { ProviderConnectionResolver, ProviderResolver } from './modules/provider/index.js';
import { ToolConnectionResolver, ToolResolver } from './modules/tool/index.js';

/** The Federation 2 features the subgraph uses. */
const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable", "@inaccessible"])';

/** Every resolver class of the API, registered explicitly. */
const resolvers = [ToolResolver, ToolConnectionResolver, ProviderResolver, ProviderConnectionResolver] as const;

/** Types no root field returns yet but a supergraph may join on. */
const orphanedTypes = [ExecutionNode];

/** The served subgraph schema, and the type-graphql schema it was printed from. */
export interface RegistrySchema {
  /** What Apollo serves: the subgraph schema with `_service` and `_entities`. */
  schema: GraphQLSchema;
  /** type-graphql's own schema, which keeps field extensions (for query-cost analysis). */
  typeSchema: GraphQLSchema;
}

type Reference = { id: string };

/** Entity lookups for `_entities`; each goes through its domain service, which authorizes it. */
const referenceResolvers = {
  Tool: { __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.tools.findById(ref.id) },
  Provider: { __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.providers.load(ref.id) },
  Execution: {
    __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.executions.findVisible(ref.id, ctx.viewer),
  },
};

/**
 * Builds the API: type-graphql classes → SDL with directives → Apollo subgraph schema.
 * Throws if the resolver classes do not form a valid schema.
 */
export async function buildRegistrySchema(): Promise<RegistrySchema> {
  const typeSchema = await buildSchema({
    resolvers: [...resolvers],
    orphanedTypes,
    validate: false,
    skipCheck: true,
    emitSchemaFile: false,
  });
  const typeDefs = parse(`${FEDERATION_LINK}\n\n${printSchemaWithDirectives(typeSchema)}`);
  const map = createResolversMap(typeSchema) as GraphQLResolverMap<RegistryContext>;
  for (const [typeName, resolver] of Object.entries(referenceResolvers)) {
    map[typeName] = { ...(map[typeName] as object), ...resolver } as GraphQLResolverMap<RegistryContext>[string];
  }
  return { schema: buildSubgraphSchema([{ typeDefs, resolvers: map }]), typeSchema };
}

/** The subgraph SDL as committed in `schema/schema.graphql`. */
export function printRegistrySchema(schema: GraphQLSchema): string {
  return `${printSubgraphSchema(schema).trim()}\n`;
}
