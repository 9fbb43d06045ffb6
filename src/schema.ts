import { buildSubgraphSchema, type GraphQLResolverMap, printSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import {
  type GraphQLFieldResolver,
  type GraphQLInputType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  lexicographicSortSchema,
  parse,
} from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
import { type RegistryContext } from './context.types.js';
import { unstorableTextPath } from './common/json-values.js';
import { ErrorCode, RegistryError } from './errors.js';
import { AlertResolver, SecurityAlertConnectionResolver } from './modules/alert/index.js';
import { AuditCheckpointConnectionResolver, AuditEntryConnectionResolver, AuditEntryResolver, AuditResolver } from './modules/audit/index.js';
import { ExecutionConnectionResolver, ExecutionResolver } from './modules/execution/index.js';
import { PolicyConnectionResolver, PolicyResolver } from './modules/policy/index.js';
import { PrincipalConnectionResolver, PrincipalResolver } from './modules/principal/index.js';
import { ProviderConnectionResolver, ProviderResolver } from './modules/provider/index.js';
import { ToolConnectionResolver, ToolResolver } from './modules/tool/index.js';
import { ProviderVariableResolver } from './modules/variable/index.js';
import { UtcpManualResolver } from './interop/utcp.resolver.js';
import { applyRuleTree } from './security/rule-tree.js';
import { fieldResolversCalledDirectly, plainFieldsReadDirectly } from './schema.resolvers.js';

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
  PrincipalConnectionResolver,
  PolicyResolver,
  ExecutionResolver,
  ExecutionConnectionResolver,
  PolicyConnectionResolver,
  AuditResolver,
  AuditEntryResolver,
  AuditEntryConnectionResolver,
  AuditCheckpointConnectionResolver,
  AlertResolver,
  SecurityAlertConnectionResolver,
  UtcpManualResolver,
  ProviderVariableResolver,
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
  Principal: {
    __resolveReference: (ref: Reference, ctx: RegistryContext) => ctx.principals.findVisible(ref.id, ctx.viewer),
  },
};

/**
 * `_entities` as @apollo/subgraph resolves it, after checking every representation names an entity
 * type of this subgraph and a string `id`: the library answers other representations with uncoded
 * errors (an internal error to the client), so they are refused here as BAD_USER_INPUT.
 */
function checkedEntities(schema: GraphQLSchema): void {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolve = field?.resolve as GraphQLFieldResolver<unknown, RegistryContext, { representations: unknown[] }> | undefined;
  if (!field || !resolve) return;
  const entityTypes = new Set(Object.keys(referenceResolvers));
  field.resolve = (source, args, ctx, info) => {
    (args.representations as unknown[]).forEach((representation: unknown, index: number) => {
      const { __typename: typename, id } = (representation ?? {}) as Record<string, unknown>;
      if (typeof typename !== 'string' || !entityTypes.has(typename) || typeof id !== 'string') {
        throw new RegistryError(
          ErrorCode.BAD_USER_INPUT,
          `Representation ${index} must name an entity type (${[...entityTypes].join(', ')}) and a string id`,
          { argument: `representations[${index}]`, http: { status: 400 } },
        );
      }
    });
    return resolve(source, args, ctx, info);
  };
}

/**
 * Input fields the execution runtime takes as they are: a call's arguments are stored with
 * unstorable characters replaced, and a tool name holding one is NOT_FOUND like any unknown tool.
 */
const HANDLED_BY_RUNTIME = new Set(['ExecuteToolInput.arguments', 'ExecuteToolInput.tool']);

/** The path of the first text in an argument value that PostgreSQL cannot store, or null. */
function unstorableArgument(value: unknown, type: GraphQLInputType, path: string): string | null {
  if (value === null || value === undefined || isEnumType(type)) return null;
  if (isNonNullType(type)) return unstorableArgument(value, type.ofType, path);
  if (isListType(type)) {
    const items: unknown[] = Array.isArray(value) ? value : [value];
    for (const [index, item] of items.entries()) {
      const found = unstorableArgument(item, type.ofType, `${path}[${index}]`);
      if (found) return found;
    }
    return null;
  }
  if (isInputObjectType(type)) {
    for (const [name, field] of Object.entries(type.getFields())) {
      if (HANDLED_BY_RUNTIME.has(`${type.name}.${name}`)) continue;
      const found = unstorableArgument((value as Record<string, unknown>)[name], field.type, `${path}.${name}`);
      if (found) return found;
    }
    return null;
  }
  return unstorableTextPath(value, path);
}

/**
 * Refuses arguments holding U+0000 or an unpaired surrogate (BAD_USER_INPUT, HTTP 400) before any
 * resolver runs with them: PostgreSQL refuses such text, so a lookup, filter or stored value holding
 * one would otherwise fail as an internal error. Subscriptions only take ids, which are checked as such.
 */
function refuseUnstorableText(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || type === schema.getSubscriptionType()) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve;
      if (!field.args.length || !resolve) continue;
      const args = field.args;
      field.resolve = (source, values, ctx, info) => {
        for (const arg of args) {
          const path = unstorableArgument((values as Record<string, unknown>)[arg.name], arg.type, arg.name);
          if (path) {
            throw new RegistryError(ErrorCode.BAD_USER_INPUT, `\`${path}\` holds U+0000 or an unpaired surrogate, which cannot be stored`, {
              argument: path,
              http: { status: 400 },
            });
          }
        }
        return resolve(source, values, ctx, info);
      };
    }
  }
}

/**
 * Builds the API: type-graphql classes → SDL with directives → Apollo subgraph schema.
 * Throws if the resolver classes do not form a valid schema.
 */
export async function buildRegistrySchema(): Promise<RegistrySchema> {
  plainFieldsReadDirectly();
  const typeSchema = await buildSchema({
    resolvers: [...resolvers],
    validate: false,
    skipCheck: true,
    pubSub: noTopicPubSub,
    emitSchemaFile: false,
  });
  fieldResolversCalledDirectly(typeSchema);
  const typeDefs = parse(`${FEDERATION_LINK}\n\n${printSchemaWithDirectives(typeSchema)}`);
  const map = createResolversMap(typeSchema) as GraphQLResolverMap<RegistryContext>;
  for (const [typeName, resolver] of Object.entries(referenceResolvers)) {
    map[typeName] = { ...(map[typeName] as object), ...resolver } as GraphQLResolverMap<RegistryContext>[string];
  }
  const unguarded = buildSubgraphSchema([{ typeDefs, resolvers: map }]);
  checkedEntities(unguarded);
  refuseUnstorableText(unguarded);
  return { schema: applyRuleTree(unguarded), unguarded, typeSchema };
}

/** The subgraph SDL as committed in `schema/schema.graphql`, types and fields sorted so module load order does not matter. */
export function printRegistrySchema(schema: GraphQLSchema): string {
  return `${printSubgraphSchema(lexicographicSortSchema(schema)).trim()}\n`;
}
