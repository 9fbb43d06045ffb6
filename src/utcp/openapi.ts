import { createRequire } from 'node:module';
import SwaggerParser from '@apidevtools/swagger-parser';
import ipaddr from 'ipaddr.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { MAX_SCHEMA_DEPTH } from './manual.schema.js';

// swagger-parser's `validate` checks the OpenAPI schema against the *dereferenced* document, which
// takes exponential time when shared `$ref`s fan out; its two validators are used separately so the
// schema check runs on the document as written (the OpenAPI schemas accept Reference objects).
const require = createRequire(import.meta.url);
const validateOpenApiSchema = require('@apidevtools/swagger-parser/lib/validators/schema.js') as (api: unknown) => void;
const validateSwaggerSpec = require('@apidevtools/swagger-parser/lib/validators/spec.js') as (api: unknown) => void;

/** A UTCP 1.1 manual converted from an OpenAPI document, with what the conversion left out or changed. */
export interface OpenApiConversion {
  manual: Record<string, unknown>;
  warnings: string[];
}

type Obj = Record<string, unknown>;
type OpenApiVersion = '2.0' | '3.0' | '3.1';
type Location = 'path' | 'query' | 'header' | 'cookie';

const UTCP_VERSION = '1.1.0';
/** Operations converted at most by default (`maxOperations`); the rest are reported in the first warning. */
export const DEFAULT_MAX_OPERATIONS = 5000;
/** Renamed operations named as examples in the one warning that counts them. */
const RENAME_EXAMPLES = 3;
const MAX_WARNINGS = 200;
/** Bounds on the parsed document itself (shared YAML anchors count once per use). */
const MAX_DOCUMENT_NODES = 2_000_000;
const MAX_DOCUMENT_DEPTH = 256;
/**
 * Values written per tool schema with every `$ref` inlined; beyond it (or beyond the nesting that
 * `parseManual` accepts), named schemas go to `$defs`.
 */
const INLINE_SCHEMA_NODES = 20_000;
/** Values written per tool schema with `$defs`; beyond it, the schema is left out with a warning. */
const BUNDLED_SCHEMA_NODES = 100_000;
/** Values written for all schemas of the manual; beyond it, schemas are left out with a warning. */
const MAX_MANUAL_SCHEMA_NODES = 1_000_000;
/** The dialect of OpenAPI 3.1 schemas, declared on the tool schemas converted from them. */
const JSON_SCHEMA_2020_12 = 'https://json-schema.org/draft/2020-12/schema';
const MAX_MANUAL_VERSION = 64;
const DEREFERENCE_TIMEOUT_MS = 20_000;
const MAX_TOOL_NAME = 128;
const MAX_DESCRIPTION = 10_000;
const MAX_TAG = 64;
const MAX_TAGS = 50;

/** The methods a UTCP 1.1 `http` call template can express. */
const HTTP_METHODS = new Set(['get', 'post', 'put', 'delete', 'patch']);
const OTHER_METHODS = new Set(['head', 'options', 'trace', 'query']);
/** Header parameters that OpenAPI says to ignore: the call template and its auth set them. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
/** OpenAPI 2.0 parameter fields that are JSON Schema keywords. */
const LEGACY_PARAMETER_KEYWORDS = [
  'type',
  'format',
  'items',
  'enum',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
];
/** OpenAPI schema fields that are not JSON Schema (or would re-base `$ref`s) and are dropped. */
const DROPPED_SCHEMA_KEYS = new Set([
  'nullable',
  'example',
  'discriminator',
  'xml',
  'externalDocs',
  'collectionFormat',
  '$id',
  '$schema',
  '$anchor',
  '$dynamicAnchor',
  '$recursiveAnchor',
]);
const SCHEMA_MAP_KEYS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);
const SCHEMA_KEYS = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
]);
const SCHEMA_LIST_KEYS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);

/** Whether a parsed JSON/YAML document looks like OpenAPI 2.0 (`swagger`) or 3.x (`openapi`). */
export function isOpenApiDocument(document: unknown): boolean {
  if (!isObj(document)) return false;
  const { swagger, openapi } = document;
  if (typeof swagger === 'string' || typeof swagger === 'number') return /^2(\.0)?$/.test(String(swagger));
  if (typeof openapi === 'string' || typeof openapi === 'number') return /^3(\.\d+)*$/.test(String(openapi));
  return false;
}

/**
 * Converts an OpenAPI 2.0 or 3.x document (already parsed from JSON or YAML) into a UTCP 1.1 manual
 * (`utcp_version: '1.1.0'`), one tool per operation with an operationId (operations without one are
 * skipped with a warning naming METHOD path). `$ref`s are dereferenced with swagger-parser (internal
 * refs only: a document referring to another file or URL is refused before anything is resolved, and
 * the file and HTTP resolvers are off). `sourceUrl` is where the document came from, for relative
 * `servers` URLs. The input is not modified, unless `owned` hands it over (the discovery, which
 * parsed it and drops it: a plain JSON tree is then dereferenced in place instead of copied first,
 * one ~100 MB structure less for a 13 MB description); the manual is plain JSON (recursive schemas become
 * `$ref`s into `$defs`).
 * Throws a RegistryError with a clear message: INVALID_MANUAL for a document that is not valid
 * OpenAPI, refers to other documents or is too large; EGRESS_DENIED when a server URL is not http(s),
 * or is loopback in a document that was not itself served from loopback; BAD_USER_INPUT when
 * `sourceUrl` is not an absolute URL, or is missing while an operation's server URL is relative.
 */
export async function convertOpenApi(
  document: unknown,
  options: { sourceUrl?: string; maxOperations?: number; owned?: boolean } = {},
): Promise<OpenApiConversion> {
  if (!isOpenApiDocument(document)) {
    throw invalid('not an OpenAPI document: expected a top-level `openapi: "3.x"` or `swagger: "2.0"` field');
  }
  let source: URL | undefined;
  if (options.sourceUrl !== undefined) {
    source = URL.parse(options.sourceUrl) ?? undefined;
    if (!source) {
      throw new RegistryError(ErrorCode.BAD_USER_INPUT, '`sourceUrl` must be an absolute URL', { argument: 'sourceUrl' });
    }
  }

  const refs = new Set<string>();
  // A document handed over (`owned`) that is already plain JSON is used as it is: no second copy.
  let tree: Obj;
  if (options.owned === true && plainJsonTree(document, refs)) {
    tree = document as Obj;
  } else {
    refs.clear();
    tree = copyDocument(document, refs) as Obj;
  }
  // The caller's document is not needed any more: a caller that drops it too leaves one copy in memory.
  document = undefined;
  const external = [...refs].filter((ref) => !ref.startsWith('#'));
  if (external.length > 0) {
    const shown = external.slice(0, 3).map((ref) => JSON.stringify(ref));
    throw invalid(
      `it refers to other documents (${shown.join(', ')}${external.length > 3 ? ', …' : ''}), which are never fetched; ` +
        'publish a single document with internal "#/…" references only',
    );
  }

  const parserOptions = {
    resolve: { external: false, file: false, http: false },
    dereference: { circular: true },
    timeoutMs: DEREFERENCE_TIMEOUT_MS,
  } as const;
  let api: Obj;
  try {
    const parsed = await SwaggerParser.parse(tree as never, parserOptions);
    validateOpenApiSchema(parsed);
    api = (await SwaggerParser.dereference(parsed, parserOptions)) as unknown as Obj;
    if (api.swagger !== undefined) {
      checkAllOfChains(api);
      validateSwaggerSpec(api);
    }
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    throw invalid(errorMessage(error));
  }

  // Dereferencing shares one object per target, so a target's identity names it for `$defs`.
  const refNames = new Map<object, string>();
  for (const ref of refs) {
    const target = resolvePointer(api, ref);
    if (typeof target === 'object' && target !== null && !refNames.has(target)) refNames.set(target, ref);
  }
  return new OpenApiConverter(api, source, refNames, options.maxOperations ?? DEFAULT_MAX_OPERATIONS).convert();
}

/**
 * The conversion's warnings, at most MAX_WARNINGS of them: `first` ones (operations left out) lead
 * the list, and renamed operationIds are summarised in one warning with a count and a few examples.
 */
class Warnings {
  private readonly leading: string[] = [];
  private readonly list: string[] = [];
  private dropped = 0;
  private renamed = 0;
  private readonly renames: string[] = [];

  add(message: string): void {
    if (this.list.length < MAX_WARNINGS) this.list.push(message);
    else this.dropped++;
  }

  /** A warning that comes before every other one. */
  first(message: string): void {
    this.leading.push(message);
  }

  /** An operationId that became another tool name. */
  rename(example: string): void {
    if (++this.renamed <= RENAME_EXAMPLES) this.renames.push(example);
  }

  toArray(): string[] {
    const renames = this.renamed
      ? [`${this.renamed} operationId(s) became other tool names (tool names allow only letters, digits and \`_\`, and are unique), e.g. ${this.renames.join('; ')}${this.renamed > RENAME_EXAMPLES ? '; …' : ''}`]
      : [];
    return [...this.leading, ...renames, ...this.list, ...(this.dropped ? [`${this.dropped} more warnings left out`] : [])];
  }
}

/** One input of a tool: a parameter or the request body, with the (source) schema to convert. */
interface InputField {
  name: string;
  location: Location | 'body';
  schema: unknown;
  description?: string;
  deprecated?: boolean;
  examples: unknown[];
  required: boolean;
}

interface Body {
  field?: InputField;
  contentType: string;
}

class OpenApiConverter {
  private readonly warnings = new Warnings();
  private readonly version: OpenApiVersion;
  private readonly templateName: string;
  private readonly toolNames = new Set<string>();
  private readonly variables = new Map<string, string>();
  private readonly reported = new Set<string>();
  private readonly serverUrls = new Map<unknown, string>();
  private schemaNodes = 0;

  constructor(
    private readonly api: Obj,
    private readonly source: URL | undefined,
    private readonly refNames: Map<object, string>,
    private readonly maxOperations: number,
  ) {
    this.version = typeof api.swagger === 'string' ? '2.0' : String(api.openapi).startsWith('3.0') ? '3.0' : '3.1';
    const title = str(obj(api.info)?.title)?.trim() ?? '';
    this.templateName = title.replace(/[^A-Za-z0-9_]/g, '_').slice(0, MAX_TOOL_NAME) || 'openapi';
  }

  convert(): OpenApiConversion {
    const tools: Obj[] = [];
    let beyondCap = 0;
    for (const [path, item] of Object.entries(obj(this.api.paths) ?? {})) {
      const pathItem = obj(item);
      if (!pathItem) continue;
      for (const [key, value] of Object.entries(pathItem)) {
        const method = key.toLowerCase();
        const operation = obj(value);
        if (!operation || !(HTTP_METHODS.has(method) || OTHER_METHODS.has(method))) continue;
        const where = `${method.toUpperCase()} ${path}`;
        const operationId = str(operation.operationId)?.trim();
        if (!operationId) {
          this.warnings.add(`${where} has no operationId; skipped`);
        } else if (!HTTP_METHODS.has(method)) {
          this.warnings.add(`${where} (${operationId}) skipped: UTCP http call templates support GET, POST, PUT, DELETE and PATCH only`);
        } else if (tools.length >= this.maxOperations) {
          beyondCap++;
        } else {
          tools.push(this.tool(path, method, pathItem, operation, operationId, where));
        }
      }
    }
    if (beyondCap > 0) {
      this.warnings.first(
        `${beyondCap} operation(s) left out: only the first ${this.maxOperations} were converted (REGISTRY_OPENAPI_MAX_OPERATIONS)`,
      );
    }
    let version = str(obj(this.api.info)?.version)?.trim() || '1.0.0';
    if (version.length > MAX_MANUAL_VERSION) {
      this.warnings.add(`info.version shortened to ${MAX_MANUAL_VERSION} characters for manual_version`);
      version = version.slice(0, MAX_MANUAL_VERSION);
    }
    return {
      manual: { utcp_version: UTCP_VERSION, manual_version: version, tools },
      warnings: this.warnings.toArray(),
    };
  }

  private tool(path: string, method: string, pathItem: Obj, operation: Obj, operationId: string, where: string): Obj {
    const { fields, bodyParameters } = this.parameters(pathItem, operation, where);
    const body = this.requestBody(operation, fields, bodyParameters, where);
    if (body.field) fields.push(body.field);

    const template: Obj = {
      call_template_type: 'http',
      name: this.templateName,
      url: joinUrl(this.baseUrl(pathItem, operation, where), path),
      http_method: method.toUpperCase(),
      content_type: body.contentType,
    };
    // UTCP's default body field is `body`: say explicitly when there is none, as python-utcp does.
    template.body_field = body.field?.name ?? null;
    const headerFields = fields.filter((f) => f.location === 'header').map((f) => f.name);
    if (headerFields.length > 0) template.header_fields = headerFields;
    const auth = this.auth(operation, where);
    if (auth) template.auth = auth;

    const tool: Obj = {
      name: this.toolName(operationId, where),
      description: this.description(operation, where),
      tags: this.tags(operation, where),
      inputs: this.inputs(fields, where),
    };
    const outputs = this.outputs(operation, where);
    if (outputs) tool.outputs = outputs;
    tool.tool_call_template = template;
    return tool;
  }

  private toolName(operationId: string, where: string): string {
    let name = operationId.replace(/[^A-Za-z0-9_]/g, '_');
    if (name.length > MAX_TOOL_NAME) name = name.slice(0, MAX_TOOL_NAME);
    const base = name;
    for (let n = 2; this.toolNames.has(name); n++) name = `${base.slice(0, MAX_TOOL_NAME - String(n).length - 1)}_${n}`;
    this.toolNames.add(name);
    if (name !== operationId) this.warnings.rename(`${where}: ${JSON.stringify(operationId)} → ${JSON.stringify(name)}`);
    return name;
  }

  private description(operation: Obj, where: string): string {
    const text = str(operation.summary)?.trim() || str(operation.description)?.trim() || '';
    if (text.length <= MAX_DESCRIPTION) return text;
    this.warnings.add(`${where}: description shortened to ${MAX_DESCRIPTION} characters`);
    return text.slice(0, MAX_DESCRIPTION);
  }

  private tags(operation: Obj, where: string): string[] {
    const tags = new Set<string>();
    for (const tag of Array.isArray(operation.tags) ? operation.tags : []) {
      const text = typeof tag === 'string' ? tag.trim() : '';
      if (!text) continue;
      if (text.length > MAX_TAG) this.warnings.add(`${where}: tag ${JSON.stringify(text)} shortened to ${MAX_TAG} characters`);
      tags.add(text.slice(0, MAX_TAG));
    }
    if (tags.size > MAX_TAGS) this.warnings.add(`${where}: only the first ${MAX_TAGS} tags are kept`);
    return [...tags].slice(0, MAX_TAGS);
  }

  /**
   * The path, query, header and cookie parameters (path-level ones overridden by the operation's
   * own, by name and location), plus OpenAPI 2.0 `body`/`formData` ones left for the request body.
   */
  private parameters(pathItem: Obj, operation: Obj, where: string): { fields: InputField[]; bodyParameters: Obj[] } {
    const merged = new Map<string, Obj>();
    for (const value of [...list(pathItem.parameters), ...list(operation.parameters)]) {
      const parameter = obj(value);
      const name = str(parameter?.name);
      const location = str(parameter?.in);
      if (parameter && name && location) merged.set(`${location}\0${name}`, parameter);
    }
    const fields: InputField[] = [];
    const bodyParameters: Obj[] = [];
    for (const parameter of merged.values()) {
      const name = parameter.name as string;
      const location = parameter.in as string;
      if (location === 'body' || location === 'formData') {
        bodyParameters.push(parameter);
        continue;
      }
      if (location !== 'path' && location !== 'query' && location !== 'header' && location !== 'cookie') {
        this.warnings.add(`${where}: parameter ${JSON.stringify(name)} in unknown location ${JSON.stringify(location)} skipped`);
        continue;
      }
      if (location === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) continue;
      const clash = fields.find((f) => f.name === name);
      if (clash) {
        this.warnings.add(
          `${where}: ${location} parameter ${JSON.stringify(name)} skipped: a ${clash.location} parameter has the same name`,
        );
        continue;
      }
      if (location === 'cookie') {
        this.warnings.add(
          `${where}: cookie parameter ${JSON.stringify(name)} cannot be placed by a UTCP http call template; UTCP clients send it as a query parameter`,
        );
      }
      fields.push({
        name,
        location,
        schema: this.version === '2.0' ? legacySchema(parameter) : (parameter.schema ?? firstMediaSchema(parameter.content) ?? {}),
        description: str(parameter.description),
        deprecated: parameter.deprecated === true,
        examples: examplesOf(parameter),
        required: location === 'path' || parameter.required === true,
      });
    }
    return { fields, bodyParameters };
  }

  private requestBody(operation: Obj, fields: InputField[], bodyParameters: Obj[], where: string): Body {
    const name = ['body', 'request_body', 'request_body_'].find((n) => !fields.some((f) => f.name === n)) ?? 'request_body_';
    if (this.version === '2.0') return this.legacyBody(operation, bodyParameters, name);

    const requestBody = obj(operation.requestBody);
    const content = obj(requestBody?.content);
    if (!requestBody || !content) return { contentType: 'application/json' };
    const mediaType = pickMediaType(Object.keys(content));
    if (!mediaType) return { contentType: 'application/json' };
    const media = obj(content[mediaType]) ?? {};
    const others = Object.keys(content).length - 1;
    if (others > 0) this.warnings.add(`${where}: request body sent as ${mediaType}; ${others} other media type(s) not used`);
    return {
      contentType: mediaType.includes('*') ? 'application/json' : mediaType,
      field: {
        name,
        location: 'body',
        schema: media.schema ?? {},
        description: str(requestBody.description),
        examples: examplesOf(media),
        required: requestBody.required === true,
      },
    };
  }

  /** OpenAPI 2.0: the `body` parameter, or the `formData` parameters gathered into one object. */
  private legacyBody(operation: Obj, parameters: Obj[], name: string): Body {
    const consumes = list(operation.consumes ?? this.api.consumes).filter((c): c is string => typeof c === 'string');
    const bodyParameter = parameters.find((p) => p.in === 'body');
    if (bodyParameter) {
      const mediaType = pickMediaType(consumes) ?? 'application/json';
      return {
        contentType: mediaType.includes('*') ? 'application/json' : mediaType,
        field: {
          name,
          location: 'body',
          schema: bodyParameter.schema ?? {},
          description: str(bodyParameter.description),
          examples: examplesOf(bodyParameter),
          required: bodyParameter.required === true,
        },
      };
    }
    const form = parameters.filter((p) => p.in === 'formData');
    if (form.length === 0) return { contentType: 'application/json' };
    const properties: Obj = {};
    const required: string[] = [];
    for (const parameter of form) {
      const property = legacySchema(parameter);
      if (typeof parameter.description === 'string') property.description = parameter.description;
      put(properties, parameter.name as string, property);
      if (parameter.required === true) required.push(parameter.name as string);
    }
    const multipart = form.some((p) => p.type === 'file') || consumes.includes('multipart/form-data');
    return {
      contentType: multipart ? 'multipart/form-data' : 'application/x-www-form-urlencoded',
      field: {
        name,
        location: 'body',
        schema: { type: 'object', properties, ...(required.length ? { required } : {}) },
        description: 'Form fields',
        examples: [],
        required: required.length > 0,
      },
    };
  }

  private inputs(fields: InputField[], where: string): Obj {
    // inputs (level 1) > properties (2) > one field's schema (3)
    const written = this.writeSchemas(where, 'inputs', (writer) =>
      fields.map((field) => {
        const property = writer.root(field.schema, 3);
        if (field.description) property.description = field.description;
        else if (field.location === 'body' && property.description === undefined) property.description = 'Request body';
        if (field.deprecated) property.deprecated = true;
        if (field.examples.length > 0 && property.examples === undefined) property.examples = writer.json(field.examples, 4);
        return property;
      }),
    );
    const properties: Obj = {};
    fields.forEach((field, i) => {
      put(properties, field.name, written?.value[i] ?? (field.description ? { description: field.description } : {}));
    });
    const inputs: Obj = this.version === '3.1' ? { $schema: JSON_SCHEMA_2020_12 } : {};
    inputs.type = 'object';
    inputs.properties = properties;
    const required = fields.filter((f) => f.required).map((f) => f.name);
    if (required.length > 0) inputs.required = required;
    if (written?.defs) inputs.$defs = written.defs;
    return inputs;
  }

  /** The schema of the first 2xx response with a JSON body. */
  private outputs(operation: Obj, where: string): Obj | undefined {
    const responses = obj(operation.responses) ?? {};
    const codes = Object.keys(responses)
      .filter((code) => /^2(\d\d|XX)$/i.test(code))
      .sort((a, b) => statusRank(a) - statusRank(b));
    for (const code of codes) {
      const response = obj(responses[code]);
      if (!response) continue;
      let schema: unknown;
      if (this.version === '2.0') {
        const produces = list(operation.produces ?? this.api.produces).filter((p): p is string => typeof p === 'string');
        if (response.schema !== undefined && (produces.length === 0 || pickMediaType(produces, true))) schema = response.schema;
      } else {
        const content = obj(response.content) ?? {};
        const mediaType = pickMediaType(Object.keys(content), true);
        if (mediaType) schema = obj(content[mediaType])?.schema;
      }
      if (schema === undefined) continue;
      const written = this.writeSchemas(where, 'outputs', (writer) => writer.root(schema, 1));
      if (!written) return undefined;
      const outputs = this.version === '3.1' ? { $schema: JSON_SCHEMA_2020_12, ...written.value } : written.value;
      if (written.defs) outputs.$defs = { ...obj(outputs.$defs), ...written.defs };
      return outputs;
    }
    return undefined;
  }

  /**
   * Runs `build` with a schema writer that inlines every `$ref` (recursive ones become `$ref`s into
   * `$defs`); when that grows too large, again with every shared schema in `$defs`; when even that
   * is too large, or the manual's budget is spent, returns undefined after a warning.
   */
  private writeSchemas<T>(where: string, what: string, build: (writer: SchemaWriter) => T): { value: T; defs?: Obj } | undefined {
    if (this.schemaNodes < MAX_MANUAL_SCHEMA_NODES) {
      for (const bundled of [false, true]) {
        const writer = new SchemaWriter(this.refNames, bundled, this.version !== '3.1');
        try {
          const value = build(writer);
          const defs = writer.definitions();
          this.schemaNodes += writer.nodes;
          writer.warnings.forEach((w) => this.warnings.add(`${where}: ${what}: ${w}`));
          return { value, defs };
        } catch (error) {
          if (!(error instanceof SchemaTooLarge)) throw error;
        }
      }
      this.warnings.add(`${where}: ${what} schema is too large to convert and was left out`);
    } else if (!this.reported.has('budget')) {
      this.reported.add('budget');
      this.warnings.add(`${where} and later operations: schemas left out, the manual's schemas reached their size limit`);
    }
    return undefined;
  }

  /** The base URL of an operation: its servers (OpenAPI 3), or scheme + host + basePath (OpenAPI 2). */
  private baseUrl(pathItem: Obj, operation: Obj, where: string): string {
    if (this.version === '2.0') return this.legacyBaseUrl();
    const servers = [operation.servers, pathItem.servers, this.api.servers].find((s) => list(s).length > 0);
    const server = obj(list(servers)[0]);
    const cached = this.serverUrls.get(server ?? 'default');
    if (cached !== undefined) return cached;
    let url = str(server?.url) ?? '/';
    const variables = obj(server?.variables) ?? {};
    url = url.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
      const value = obj(variables[name])?.default;
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      this.warnings.add(`${where}: server variable ${JSON.stringify(name)} has no default; left in the URL`);
      return whole;
    });
    const resolved = this.resolveBase(url);
    this.serverUrls.set(server ?? 'default', resolved);
    return resolved;
  }

  private legacyBaseUrl(): string {
    const cached = this.serverUrls.get('default');
    if (cached !== undefined) return cached;
    const schemes = list(this.api.schemes).filter((s): s is string => typeof s === 'string');
    const sourceScheme = this.source?.protocol === 'http:' ? 'http' : 'https';
    const scheme = schemes.includes('https') ? 'https' : schemes.includes('http') ? 'http' : (schemes[0] ?? sourceScheme);
    const host = str(this.api.host) ?? this.source?.host;
    const basePath = str(this.api.basePath) ?? '';
    const resolved = this.resolveBase(host ? `${scheme}://${host}${basePath}` : basePath || '/');
    this.serverUrls.set('default', resolved);
    return resolved;
  }

  /**
   * Resolves a relative base URL against the document's own URL. Refuses non-HTTP schemes, and,
   * as the UTCP reference converters do, a loopback server declared by a document that was not
   * itself served from loopback.
   */
  private resolveBase(url: string): string {
    let absolute = URL.parse(url);
    let base = url;
    if (!absolute && this.source) {
      absolute = URL.parse(url, this.source.href);
      if (absolute) base = absolute.href;
    }
    if (!absolute) {
      throw new RegistryError(
        ErrorCode.BAD_USER_INPUT,
        `The OpenAPI document's server URL ${JSON.stringify(url)} is relative: give the URL the document was fetched from (sourceUrl) to resolve it`,
        { argument: 'sourceUrl' },
      );
    }
    if (absolute.protocol !== 'https:' && absolute.protocol !== 'http:') {
      throw new RegistryError(ErrorCode.EGRESS_DENIED, `OpenAPI server URL ${JSON.stringify(base)} is not an http(s) URL`);
    }
    if (this.source && !isLoopback(this.source) && isLoopback(absolute)) {
      throw new RegistryError(
        ErrorCode.EGRESS_DENIED,
        `OpenAPI document from ${this.source.href} declares a loopback server URL (${base}); a remote document may not point tools at this host`,
      );
    }
    return base;
  }

  /**
   * The auth of the first security requirement (operation-level, else document-level) whose
   * scheme UTCP can express. Secrets are variable references named after the scheme.
   */
  private auth(operation: Obj, where: string): Obj | undefined {
    const requirements = Array.isArray(operation.security) ? operation.security : list(this.api.security);
    const schemes = obj(this.version === '2.0' ? this.api.securityDefinitions : obj(this.api.components)?.securitySchemes) ?? {};
    const unsupported: string[] = [];
    for (const requirement of requirements) {
      const names = Object.keys(obj(requirement) ?? {});
      for (const name of names) {
        const scheme = obj(schemes[name]);
        const scopes = list((requirement as Obj)[name]).filter((s): s is string => typeof s === 'string');
        const auth = scheme ? this.authFor(name, scheme, scopes) : undefined;
        if (!auth) {
          unsupported.push(name);
          continue;
        }
        if (names.length > 1) {
          this.warnings.add(`${where}: requires security schemes ${names.join(' + ')} together; only ${JSON.stringify(name)} is applied`);
        }
        return auth;
      }
    }
    if (unsupported.length > 0) {
      this.warnings.add(`${where}: security scheme(s) ${unsupported.join(', ')} cannot be expressed in UTCP; converted without auth`);
    }
    return undefined;
  }

  private authFor(name: string, scheme: Obj, scopes: string[]): Obj | undefined {
    const type = str(scheme.type)?.toLowerCase();
    const variable = (): string => this.variable(name);
    if (type === 'apikey') {
      const location = str(scheme.in);
      const varName = str(scheme.name);
      if (!varName || (location !== 'header' && location !== 'query' && location !== 'cookie')) return undefined;
      return { auth_type: 'api_key', api_key: `\${${variable()}}`, var_name: varName, location };
    }
    const httpScheme = type === 'http' ? str(scheme.scheme)?.toLowerCase() : undefined;
    if (type === 'basic' || httpScheme === 'basic') {
      return { auth_type: 'basic', username: `\${${variable()}_USERNAME}`, password: `\${${variable()}_PASSWORD}` };
    }
    if (httpScheme === 'bearer') {
      return { auth_type: 'api_key', api_key: `Bearer \${${variable()}}`, var_name: 'Authorization', location: 'header' };
    }
    if (type === 'oauth2') {
      const flow = this.version === '2.0' ? (scheme.flow === 'application' ? scheme : undefined) : obj(obj(scheme.flows)?.clientCredentials);
      const declared = str(flow?.tokenUrl);
      const parsed = declared ? URL.parse(declared, this.source?.href) : null;
      const tokenUrl = parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:') ? parsed.href : undefined;
      if (!tokenUrl) {
        if (!this.reported.has(`oauth2 ${name}`)) {
          this.reported.add(`oauth2 ${name}`);
          this.warnings.add(
            declared
              ? `security scheme ${JSON.stringify(name)}: token URL ${JSON.stringify(declared)} is not an absolute http(s) URL`
              : `security scheme ${JSON.stringify(name)}: UTCP oauth2 auth supports the client credentials flow only`,
          );
        }
        return undefined;
      }
      const auth: Obj = {
        auth_type: 'oauth2',
        token_url: tokenUrl,
        client_id: `\${${variable()}_CLIENT_ID}`,
        client_secret: `\${${variable()}_CLIENT_SECRET}`,
      };
      if (scopes.length > 0) auth.scope = scopes.join(' ');
      return auth;
    }
    return undefined;
  }

  /** The variable name for a security scheme: `petstore_auth` → PETSTORE_AUTH, `bearerAuth` → BEARER_AUTH. */
  private variable(schemeName: string): string {
    const known = this.variables.get(schemeName);
    if (known) return known;
    let base = schemeName
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/[^A-Za-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .toUpperCase();
    if (!base) base = 'API';
    if (/^[0-9]/.test(base)) base = `_${base}`;
    const taken = new Set(this.variables.values());
    let variable = base;
    for (let n = 2; taken.has(variable); n++) variable = `${base}_${n}`;
    this.variables.set(schemeName, variable);
    return variable;
  }
}

class SchemaTooLarge extends Error {}

/**
 * Copies dereferenced OpenAPI schemas into plain JSON Schema: drops OpenAPI-only keywords,
 * turns `nullable`, `example`, boolean `exclusiveMinimum`/`exclusiveMaximum` and `type: file` into
 * their JSON Schema forms, and writes a schema met again inside itself as a `$ref` into `$defs`
 * (in bundled mode, every named schema). Counts what it writes and throws SchemaTooLarge past its
 * node budget or past the nesting `parseManual` accepts. `level` is the JSON nesting level (1 for
 * the tool's `inputs`/`outputs` object itself) of the value being written.
 */
class SchemaWriter {
  nodes = 0;
  readonly warnings: string[] = [];
  private readonly names = new Map<object, string>();
  private readonly usedNames = new Set<string>();
  private readonly pending: object[] = [];
  private readonly maxNodes: number;

  constructor(
    private readonly refNames: Map<object, string>,
    private readonly bundled: boolean,
    private readonly legacy: boolean,
  ) {
    this.maxNodes = bundled ? BUNDLED_SCHEMA_NODES : INLINE_SCHEMA_NODES;
  }

  /** A top-level schema at `level`, always written out (never as a bare `$ref`), as an object. */
  root(schema: unknown, level: number): Obj {
    const written = this.schema(schema, new Set(), level, true);
    if (written === false) return { not: {} };
    return isObj(written) ? written : {};
  }

  /** `$defs` (at level 2) for the schemas written as `$ref`s, or undefined when there are none. */
  definitions(): Obj | undefined {
    const defs: Obj = {};
    for (let source = this.pending.shift(); source; source = this.pending.shift()) {
      put(defs, this.names.get(source)!, this.schema(source, new Set(), 3, true));
    }
    return Object.keys(defs).length > 0 ? defs : undefined;
  }

  json(value: unknown, level: number, ancestors = new Set<object>()): unknown {
    this.count();
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : null;
    if (typeof value !== 'object') return null;
    this.enter(level);
    if (ancestors.has(value)) {
      this.warnings.push('a recursive example or default value was cut');
      return null;
    }
    ancestors.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => this.json(item, level + 1, ancestors));
      const out: Obj = {};
      for (const [key, item] of Object.entries(value)) put(out, key, this.json(item, level + 1, ancestors));
      return out;
    } finally {
      ancestors.delete(value);
    }
  }

  private schema(schema: unknown, ancestors: Set<object>, level: number, expand = false): unknown {
    if (Array.isArray(schema)) {
      this.count();
      this.enter(level);
      return schema.map((item) => this.schema(item, ancestors, level + 1));
    }
    if (!isObj(schema)) return this.json(schema, level);
    this.count();
    this.enter(level);
    const named = this.refNames.has(schema);
    if (!expand && (ancestors.has(schema) || (this.bundled && named))) {
      if (named) return { $ref: `#/$defs/${this.nameOf(schema)}` };
      this.warnings.push('a recursive schema was cut');
      return {};
    }
    ancestors.add(schema);
    try {
      const out: Obj = {};
      for (const [key, value] of Object.entries(schema)) {
        if (DROPPED_SCHEMA_KEYS.has(key) || key.startsWith('x-')) continue;
        if (key === '$ref') {
          this.warnings.push(`unresolved $ref ${JSON.stringify(value)} dropped`);
        } else if ((SCHEMA_MAP_KEYS.has(key) || key === 'dependencies') && isObj(value)) {
          this.count();
          this.enter(level + 1);
          const map: Obj = {};
          for (const [name, child] of Object.entries(value)) {
            // `dependencies` values are schemas or lists of property names.
            put(map, name, Array.isArray(child) && key === 'dependencies' ? this.json(child, level + 2) : this.schema(child, ancestors, level + 2));
          }
          put(out, key, map);
        } else if (SCHEMA_KEYS.has(key) || (SCHEMA_LIST_KEYS.has(key) && Array.isArray(value))) {
          put(out, key, this.schema(value, ancestors, level + 1));
        } else {
          put(out, key, this.json(value, level + 1));
        }
      }
      this.toJsonSchema(schema, out, level);
      return out;
    } finally {
      ancestors.delete(schema);
    }
  }

  /** OpenAPI 2.0/3.0 schema forms that JSON Schema spells differently. */
  private toJsonSchema(source: Obj, out: Obj, level: number): void {
    if (source.nullable === true || source['x-nullable'] === true) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    }
    if ('example' in source && out.examples === undefined) out.examples = this.json([source.example], level + 1);
    if (this.legacy) {
      for (const [exclusive, bound] of [
        ['exclusiveMinimum', 'minimum'],
        ['exclusiveMaximum', 'maximum'],
      ] as const) {
        if (typeof out[exclusive] !== 'boolean') continue;
        if (out[exclusive] === true && typeof out[bound] === 'number') {
          out[exclusive] = out[bound];
          delete out[bound];
        } else {
          delete out[exclusive];
        }
      }
    }
    if (out.type === 'file') {
      out.type = 'string';
      out.format ??= 'binary';
    }
  }

  private nameOf(schema: object): string {
    let name = this.names.get(schema);
    if (name) return name;
    const pointer = this.refNames.get(schema) ?? '';
    const base = decodePointerToken(pointer.split('/').pop() ?? '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'schema';
    name = base;
    for (let n = 2; this.usedNames.has(name); n++) name = `${base}_${n}`;
    this.usedNames.add(name);
    this.names.set(schema, name);
    this.pending.push(schema);
    return name;
  }

  private count(): void {
    if (++this.nodes > this.maxNodes) throw new SchemaTooLarge();
  }

  /** An object or array is about to be written at `level`. */
  private enter(level: number): void {
    if (level > MAX_SCHEMA_DEPTH) throw new SchemaTooLarge();
  }
}

/**
 * Whether `document` is already what `copyDocument` would make of it: a tree (no object reached
 * twice) of plain objects, arrays, strings, finite numbers, booleans and null, within the same size
 * and depth limits (which it enforces with the same errors). Collects every `$ref` string; returns
 * false at the first value that would need converting, and the caller copies instead.
 */
function plainJsonTree(document: unknown, refs: Set<string>): boolean {
  let nodes = 0;
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number): boolean => {
    if (++nodes > MAX_DOCUMENT_NODES) throw invalid(`it has more than ${MAX_DOCUMENT_NODES} values`);
    if (depth > MAX_DOCUMENT_DEPTH) throw invalid(`it nests deeper than ${MAX_DOCUMENT_DEPTH} levels`);
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
    if (typeof value === 'number') return Number.isFinite(value);
    if (typeof value !== 'object' || seen.has(value)) return false;
    seen.add(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (!(i in value) || !walk(value[i], depth + 1)) return false;
      return true;
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) return false;
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') refs.add(item);
      if (!walk(item, depth + 1)) return false;
    }
    return true;
  };
  return walk(document, 0);
}

/**
 * A JSON copy of the caller's document (swagger-parser dereferences in place), collecting every
 * `$ref` string. Refuses cyclic structures, and documents too large or too deeply nested.
 */
function copyDocument(document: unknown, refs: Set<string>): unknown {
  let nodes = 0;
  const ancestors = new Set<object>();
  const copy = (value: unknown, depth: number): unknown => {
    if (++nodes > MAX_DOCUMENT_NODES) throw invalid(`it has more than ${MAX_DOCUMENT_NODES} values`);
    if (depth > MAX_DOCUMENT_DEPTH) throw invalid(`it nests deeper than ${MAX_DOCUMENT_DEPTH} levels`);
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : null;
    if (typeof value === 'bigint') return Number(value);
    if (value instanceof Date) return value.toISOString();
    if (typeof value !== 'object') return undefined;
    if (ancestors.has(value)) throw invalid('it contains itself (a cyclic structure is not JSON)');
    ancestors.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => copy(item, depth + 1) ?? null);
      const out: Obj = {};
      for (const [key, item] of Object.entries(value)) {
        if (key === '$ref' && typeof item === 'string') refs.add(item);
        const copied = copy(item, depth + 1);
        if (copied !== undefined) put(out, key, copied);
      }
      return out;
    } finally {
      ancestors.delete(value);
    }
  };
  return copy(document, 0);
}

/**
 * Refuses OpenAPI 2.0 definitions whose `allOf` chains are circular or fan out too far: swagger-parser's
 * spec check follows them recursively.
 */
function checkAllOfChains(api: Obj): void {
  let visits = 0;
  const walk = (schema: unknown, chain: Set<object>): void => {
    if (!isObj(schema) || !Array.isArray(schema.allOf)) return;
    if (chain.has(schema)) throw invalid('a definition is part of its own allOf chain');
    if (++visits > 100_000) throw invalid('its allOf chains are too large');
    chain.add(schema);
    for (const parent of schema.allOf) walk(parent, chain);
    chain.delete(schema);
  };
  for (const definition of Object.values(obj(api.definitions) ?? {})) walk(definition, new Set());
}

/** The OpenAPI 2.0 JSON Schema keywords of a non-body parameter, as a schema. */
function legacySchema(parameter: Obj): Obj {
  const schema: Obj = {};
  for (const key of LEGACY_PARAMETER_KEYWORDS) if (parameter[key] !== undefined) schema[key] = parameter[key];
  if (parameter['x-nullable'] === true) schema['x-nullable'] = true;
  return schema;
}

function firstMediaSchema(content: unknown): unknown {
  const media = obj(Object.values(obj(content) ?? {})[0]);
  return media?.schema;
}

/** `example`, or the inline values of `examples`, of a parameter or media type object. */
function examplesOf(source: Obj): unknown[] {
  if (source.example !== undefined) return [source.example];
  return Object.values(obj(source.examples) ?? {})
    .map((example) => obj(example))
    .filter((example): example is Obj => example !== undefined && 'value' in example)
    .map((example) => example.value);
}

/**
 * The media type to use from a list: application/json, then another JSON type, then (unless
 * `jsonOnly`) a form type, then the first; `*` wildcards count as JSON.
 */
function pickMediaType(mediaTypes: string[], jsonOnly = false): string | undefined {
  const essence = (type: string) => type.split(';')[0]!.trim().toLowerCase();
  const json = (type: string) => /^application\/(.+\+)?json$/.test(essence(type));
  const wildcard = (type: string) => essence(type) === '*/*' || essence(type) === 'application/*';
  return (
    mediaTypes.find((t) => essence(t) === 'application/json') ??
    mediaTypes.find(json) ??
    mediaTypes.find(wildcard) ??
    (jsonOnly
      ? undefined
      : (mediaTypes.find((t) => essence(t) === 'application/x-www-form-urlencoded') ??
        mediaTypes.find((t) => essence(t) === 'multipart/form-data') ??
        mediaTypes[0]))
  );
}

function statusRank(code: string): number {
  return /^\d+$/.test(code) ? Number(code) : 300;
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (!ipaddr.isValid(host)) return false;
  let address = ipaddr.parse(host);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  const range = address.range();
  return range === 'loopback' || range === 'unspecified';
}

function resolvePointer(root: unknown, pointer: string): unknown {
  if (!pointer.startsWith('#')) return undefined;
  let node = root;
  for (const token of pointer.slice(1).split('/').slice(1)) {
    const key = decodePointerToken(token);
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObj(node) && Object.hasOwn(node, key)) node = node[key];
    else return undefined;
  }
  return node;
}

function decodePointerToken(token: string): string {
  let decoded = token;
  try {
    decoded = decodeURIComponent(token);
  } catch {
    // Not percent-encoded after all.
  }
  return decoded.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Sets `key` as an own property, also when it is `__proto__`. */
function put(target: Obj, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function invalid(reason: string): RegistryError {
  return new RegistryError(ErrorCode.INVALID_MANUAL, `Invalid OpenAPI document: ${reason}`);
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().slice(0, 2000);
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: unknown): Obj | undefined {
  return isObj(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
