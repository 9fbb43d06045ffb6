import {
  buildClientSchema,
  getIntrospectionQuery,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type IntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';
import { discoveryFailed, fetchDiscoveryDocument, hostOf, isObject, parseJson, requestHeaders, requiredString } from './discovery.document.js';
import type { Discoverer, ManualCallTemplate } from './discovery.types.js';

type JsonSchema = Record<string, unknown>;
type OperationType = 'query' | 'mutation';

const UTCP_VERSION = '1.1.0';
const MAX_ERROR_TEXT = 200;

/**
 * `graphql`: as the reference, introspects the endpoint (a POST of the standard introspection query,
 * redirects refused as the reference's transport does) and offers each Query and Mutation root field
 * as a tool named after the field, described by the schema. Beyond the reference (whose tools take
 * `{type: object}` and reuse the manual template), each tool's inputs are the field's arguments as
 * JSON Schema (input objects in `$defs`), and its call template is the manual's with the field's
 * `operation_type`. Subscription fields are skipped with a warning (they cannot be called over HTTP).
 * (python-utcp's GraphQL template can also carry `query` and `variable_types`; the registry's call
 * template schema does not accept them, so they are not generated.)
 */
export const discoverGraphql: Discoverer = async (template, context) => {
  const url = requiredString(template, 'url');
  const host = hostOf(url);
  const source = `The GraphQL endpoint at "${host}"`;
  const response = await fetchDiscoveryDocument(url, context, {
    method: 'POST',
    headers: requestHeaders(template.headers, context.options, { accept: 'application/graphql-response+json, application/json', 'content-type': 'application/json' }),
    body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: true }), operationName: 'IntrospectionQuery' }),
    redirect: 'manual',
    what: 'The GraphQL endpoint',
  });
  const result = parseJson(response.body, `The introspection result of "${host}"`);
  if (!isObject(result)) throw discoveryFailed('protocol_error', `${source} did not answer with a GraphQL response object`, { host });
  if (Array.isArray(result.errors) && result.errors.length > 0 && !isObject(result.data)) {
    const first = result.errors[0];
    const message = isObject(first) && typeof first.message === 'string' ? first.message.replace(/\s+/g, ' ').slice(0, MAX_ERROR_TEXT) : 'no message';
    throw discoveryFailed('protocol_error', `${source} refused introspection: ${message}`, { host });
  }
  if (!isObject(result.data) || !isObject(result.data.__schema)) {
    throw discoveryFailed('protocol_error', `${source} answered without an introspection result (\`data.__schema\`)`, { host });
  }
  let schema;
  try {
    schema = buildClientSchema(result.data as unknown as IntrospectionQuery);
  } catch (error) {
    throw discoveryFailed('protocol_error', `${source} returned an unusable introspection result: ${(error as Error).message.slice(0, MAX_ERROR_TEXT)}`, {
      host,
    });
  }

  const warnings: string[] = [];
  const tools: JsonSchema[] = [];
  const names = new Set<string>();
  const roots: Array<[OperationType, GraphQLObjectType | null | undefined]> = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ];
  for (const [operation, root] of roots) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      let name = field.name;
      if (names.has(name)) {
        name = `${field.name}_${operation}`;
        warnings.push(`${operation} field "${field.name}" has the name of a query field; its tool is named "${name}"`);
      }
      names.add(name);
      tools.push(toolFor(field, name, operation, template));
    }
  }
  const subscriptions = Object.keys(schema.getSubscriptionType()?.getFields() ?? {}).length;
  if (subscriptions > 0) warnings.push(`${subscriptions} subscription field(s) skipped: they cannot be called over HTTP`);
  if (tools.length === 0) warnings.push('the schema has no Query or Mutation fields');
  return { manual: { utcp_version: UTCP_VERSION, manual_version: '1.0.0', tools }, warnings };
};

function toolFor(field: GraphQLField<unknown, unknown>, name: string, operation: OperationType, template: ManualCallTemplate): JsonSchema {
  const $defs: Record<string, JsonSchema> = {};
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const arg of field.args) {
    const property = inputSchema(arg.type, $defs);
    if (arg.description) property.description = arg.description;
    if (arg.defaultValue !== undefined && isJsonValue(arg.defaultValue)) property.default = arg.defaultValue;
    properties[arg.name] = property;
    if (isNonNullType(arg.type) && arg.defaultValue === undefined) required.push(arg.name);
  }
  const inputs: JsonSchema = { type: 'object', properties, ...(required.length ? { required } : {}), ...(Object.keys($defs).length ? { $defs } : {}) };
  const description = [field.description ?? '', field.deprecationReason ? `Deprecated: ${field.deprecationReason}` : ''].filter(Boolean).join('\n\n');
  return {
    name,
    description,
    inputs,
    outputs: outputSchema(field.type),
    tags: ['graphql', operation],
    tool_call_template: { ...template, operation_type: operation },
  };
}

function inputSchema(type: GraphQLInputType, $defs: Record<string, JsonSchema>): JsonSchema {
  if (isNonNullType(type)) return inputSchema(type.ofType, $defs);
  if (isListType(type)) return { type: 'array', items: inputSchema(type.ofType, $defs) };
  if (isScalarType(type)) return scalarSchema(type.name);
  if (isEnumType(type)) return { type: 'string', enum: type.getValues().map((value) => value.name) };
  if (isInputObjectType(type)) {
    if (!$defs[type.name]) {
      const definition: JsonSchema = { type: 'object' };
      $defs[type.name] = definition; // registered first: input objects may refer to themselves
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const field of Object.values(type.getFields())) {
        const property = inputSchema(field.type, $defs);
        if (field.description) property.description = field.description;
        properties[field.name] = property;
        if (isNonNullType(field.type) && field.defaultValue === undefined) required.push(field.name);
      }
      Object.assign(definition, { properties, ...(required.length ? { required } : {}), additionalProperties: false });
      if (type.description) definition.description = type.description;
    }
    return { $ref: `#/$defs/${type.name}` };
  }
  return {};
}

function outputSchema(type: GraphQLOutputType): JsonSchema {
  if (isNonNullType(type)) return outputSchema(type.ofType);
  if (isListType(type)) return { type: 'array', items: outputSchema(type.ofType) };
  if (isScalarType(type)) return scalarSchema(type.name);
  if (isEnumType(type)) return { type: 'string', enum: type.getValues().map((value) => value.name) };
  return { type: 'object', description: `GraphQL ${type.name}` };
}

function scalarSchema(name: string): JsonSchema {
  switch (name) {
    case 'Int':
      return { type: 'integer' };
    case 'Float':
      return { type: 'number' };
    case 'Boolean':
      return { type: 'boolean' };
    case 'String':
      return { type: 'string' };
    case 'ID':
      return { type: ['string', 'integer'] };
    default:
      return { description: `GraphQL scalar ${name}` };
  }
}

function isJsonValue(value: unknown): boolean {
  try {
    return JSON.stringify(value) !== undefined;
  } catch {
    return false;
  }
}
