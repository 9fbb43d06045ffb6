import { buildSubgraphSchema, type GraphQLResolverMap, printSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { type GraphQLSchema, lexicographicSortSchema, parse } from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
import { type RegistryContext } from './context.js';
import { AuditEntryConnectionResolver, AuditResolver } from './modules/audit/index.js';
import { ExecutionConnectionResolver, ExecutionResolver } from './modules/execution/index.js';
import { PolicyConnectionResolver, PolicyResolver } from './modules/policy/index.js';
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
  PolicyResolver,
  ExecutionResolver,
  ExecutionConnectionResolver,
  PolicyConnectionResolver,
  AuditResolver,
  AuditEntryConnectionResolver,
] as const;

/**
 * type-graphql insists on a PubSub when there are subscriptions, but every subscription here has its
 * own `subscribe` function (events come from the execution runtime); topic-based ones are refused.
 */
const noTopicPubSub = {
  publish(): never {
    throw new Error('Subscriptions publish through their own event sources, not type-graphql topics');
  },
  subscribe(): never {
    throw new Error('Subscriptions need their own subscribe function; topic-based subscriptions are not used');
  },
};

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
    validate: false,
    skipCheck: true,
    pubSub: noTopicPubSub,
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

/** The subgraph SDL as committed in `schema/schema.graphql`, types and fields sorted so module load order does not matter. */
export function printRegistrySchema(schema: GraphQLSchema): string {
  return `${printSubgraphSchema(lexicographicSortSchema(schema)).trim()}\n`;
}
