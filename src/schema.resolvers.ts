import { type GraphQLFieldResolver, type GraphQLSchema, isObjectType } from 'graphql';
import { getMetadataStorage } from 'type-graphql';

/**
 * type-graphql wraps every field in a resolver of its own that, on each call, builds a
 * resolver-data object, asks its container for the resolver class's instance, runs the field's
 * middleware chain and sorts and maps the method's parameter metadata. The API declares no
 * middlewares, roles, container or validation of its own, so for most fields that work only costs
 * allocations, on every object of every answer: for the `provider` and `callTemplateType` of the
 * tools of a catalog page, 15% of the bytes a cache miss allocated. These two functions take those
 * wrappers out where nothing would be lost; every other field keeps type-graphql's.
 */

/**
 * Lets graphql-js read plain `@Field` properties itself (no resolver at all). A field that has roles,
 * middlewares or a schema name other than its property keeps type-graphql's. Call before building.
 */
export function plainFieldsReadDirectly(): void {
  for (const field of getMetadataStorage().fields) {
    if (field.simple !== undefined || field.schemaName !== field.name || field.roles?.length || field.middlewares?.length) continue;
    field.simple = true;
  }
}

/** A parameter of a resolver method, as type-graphql records it. */
interface ParamMetadata {
  kind: string;
  index: number;
  propertyName?: string;
  getType?: () => unknown;
}

/** A `@FieldResolver` method, as type-graphql records it (filled in when a schema is built). */
interface FieldResolverMetadata {
  kind: string;
  target: new () => Record<string, unknown>;
  methodName: string;
  schemaName: string;
  params?: ParamMetadata[];
  roles?: unknown[];
  middlewares?: unknown[];
  getObjectType?: () => unknown;
}

/** Takes one parameter's value from a resolver call. */
type Take = (root: unknown, ctx: Record<string, unknown>, info: unknown) => unknown;

/**
 * How a parameter is taken from a resolver call, or null when type-graphql would do more than take
 * it: arguments (converted and validated), a root converted to a class, custom decorators.
 */
function takeOf(param: ParamMetadata): Take | null {
  if (param.kind === 'root') {
    // Without a class to convert to (a type-only import is reflected as Object), type-graphql passes the root as it is.
    const type = param.getType?.();
    if (param.propertyName !== undefined || (type !== undefined && type !== Object)) return null;
    return (root) => root;
  }
  if (param.kind === 'context') {
    const property = param.propertyName;
    return property === undefined ? (_root, ctx) => ctx : (_root, ctx) => ctx[property];
  }
  if (param.kind === 'info') return (_root, _ctx, info) => info;
  return null;
}

/**
 * Calls `@FieldResolver` methods whose parameters are only `@Root()`, `@Ctx()` and `@Info()`, with no
 * roles or middlewares, as `instance.method(…)` on one instance per resolver class (type-graphql's
 * default container keeps one too; the API's resolver classes hold no state). Call on the schema
 * type-graphql built, before its resolvers are read from it.
 */
export function fieldResolversCalledDirectly(schema: GraphQLSchema): void {
  const storage = getMetadataStorage() as unknown as { fieldResolvers: FieldResolverMetadata[]; objectTypes: { target: unknown; name: string }[] };
  const instances = new Map<unknown, Record<string, unknown>>();
  for (const resolver of storage.fieldResolvers) {
    if (resolver.kind !== 'external' || !resolver.params || resolver.roles?.length || resolver.middlewares?.length || !resolver.getObjectType) continue;
    const typeClass = resolver.getObjectType();
    const typeName = storage.objectTypes.find((type) => type.target === typeClass)?.name;
    const type = typeName ? schema.getType(typeName) : undefined;
    const field = isObjectType(type) ? type.getFields()[resolver.schemaName] : undefined;
    if (!field) continue;
    const takes = [...resolver.params].sort((a, b) => a.index - b.index).map(takeOf);
    if (takes.length > 3 || takes.some((take) => take === null)) continue;
    let instance = instances.get(resolver.target);
    if (!instance) instances.set(resolver.target, (instance = new resolver.target()));
    const method = instance[resolver.methodName] as (...args: unknown[]) => unknown;
    const self = instance;
    const [a, b, c] = takes as Take[];
    field.resolve = (
      c
        ? (root, _args, ctx, info) => method.call(self, a!(root, ctx, info), b!(root, ctx, info), c(root, ctx, info))
        : b
          ? (root, _args, ctx, info) => method.call(self, a!(root, ctx, info), b(root, ctx, info))
          : a
            ? (root, _args, ctx, info) => method.call(self, a(root, ctx, info))
            : () => method.call(self)
    ) as GraphQLFieldResolver<unknown, Record<string, unknown>>;
  }
}
