import { buildSubgraphSchema, type GraphQLResolverMap, printSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { type GraphQLSchema, parse } from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
import { type RegistryContext } from './context.js';
import { AuditEntryConnectionResolver, AuditResolver } from './modules/audit/index.js';
import { ExecutionNode } from './modules/execution/index.js';
import { PrincipalResolver } from './modules/principal/index.js';
import { ProviderConnectionResolver, ProviderResolver } from './modules/provider/index.js';
import { ToolConnectionResolver, ToolResolver } from './modules/tool/index.js';
import { applyRuleTree } from './security/rule-tree.js';

/** The Federation 2 features the subgraph uses. */
const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable", "@inaccessible"])';

/** Every resolver class of the API, registered explicitly. */
const resolvers = [
  ToolResolver,
  ToolConnectionResolver,
  ProviderResolver,
  ProviderConnectionResolver,
  PrincipalResolver,
  AuditResolver,
  AuditEntryConnectionResolver,
] as const;

/** Types no root field returns yet but a supergraph may join on. */
const orphanedTypes = [ExecutionNode];

/** The served subgraph schema, and the type-graphql schema it was printed from. */
export interface RegistrySchema {
  /** What Apollo serves: the subgraph schema with `_service` and `_entities`, guarded by the rule tree. */
  schema: GraphQLSchema;
  /** The same subgraph schema without the rule tree (printing, and measuring the rule tree's cost). */
  unguarded: GraphQLSchema;
  /** type-graphql's own schema, which keeps field extensions (for query-cost analysis). */
  typeSchema: GraphQLSchema;
}

type Reference = { id: string };

/** Entity lookups for `_entities`; each goes through its domain service, which authorizes it. */
const referenceResolvers = {
  Tool: { __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.tools.findVisibleById(ref.id, ctx.viewer) },
  Provider: {
    __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.providers.loadVisible(ref.id, ctx.viewer),
  },
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
  const unguarded = buildSubgraphSchema([{ typeDefs, resolvers: map }]);
  return { schema: applyRuleTree(unguarded), unguarded, typeSchema };
}

/** The subgraph SDL as committed in `schema/schema.graphql`. */
export function printRegistrySchema(schema: GraphQLSchema): string {
  return `${printSubgraphSchema(schema).trim()}\n`;
}
