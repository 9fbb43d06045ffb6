import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import { parseManual } from '../../src/utcp/manual.schema.js';
import { convertOpenApi, isOpenApiDocument, type OpenApiConversion } from '../../src/utcp/openapi.js';

type Obj = Record<string, any>;

const FIXTURES = ['petstore', 'petstore-expanded', 'uspto', 'api-with-examples', 'callback-example', 'link-example'] as const;

function fixture(name: (typeof FIXTURES)[number]): Obj {
  return parse(readFileSync(new URL(`../fixtures/openapi/${name}.yaml`, import.meta.url), 'utf8'));
}

/** Where a fixture is pretended to come from (some have no absolute server URL of their own). */
function sourceOf(name: string): { sourceUrl: string } {
  return { sourceUrl: `https://specs.example.com/openapi/${name}.yaml` };
}

function tools(conversion: OpenApiConversion): Obj[] {
  return conversion.manual.tools as Obj[];
}

function tool(conversion: OpenApiConversion, name: string): Obj {
  const found = tools(conversion).find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name} among ${tools(conversion).map((t) => t.name).join(', ')}`);
  return found;
}

/** Asserts what every conversion must give: plain JSON that the registry accepts as a UTCP 1.1 manual. */
function expectValidManual(conversion: OpenApiConversion): void {
  const json = JSON.stringify(conversion.manual);
  expect(JSON.parse(json)).toEqual(conversion.manual);
  expect(conversion.manual.utcp_version).toBe('1.1.0');
  expect(() => parseManual(conversion.manual)).not.toThrow();
}

/** Operations with an operationId, counted straight from the document. */
function operationIds(document: Obj): string[] {
  return Object.values(document.paths ?? {}).flatMap((item: any) =>
    ['get', 'put', 'post', 'delete', 'patch'].flatMap((m) => (item[m]?.operationId ? [item[m].operationId] : [])),
  );
}

function openapi(paths: Obj, extra: Obj = {}): Obj {
  return { openapi: '3.0.3', info: { title: 'Test API', version: '1.0.0' }, servers: [{ url: 'https://api.example.com' }], paths, ...extra };
}

const ok = { '200': { description: 'ok' } };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('isOpenApiDocument', () => {
  it('recognises OpenAPI 2.0 and 3.x documents and nothing else', () => {
    expect(isOpenApiDocument(fixture('petstore'))).toBe(true);
    expect(isOpenApiDocument({ swagger: '2.0', paths: {} })).toBe(true);
    expect(isOpenApiDocument({ openapi: '3.1.0' })).toBe(true);
    expect(isOpenApiDocument({ utcp_version: '1.1.0', tools: [] })).toBe(false);
    expect(isOpenApiDocument({ openapi: '4.0.0' })).toBe(false);
    expect(isOpenApiDocument(null)).toBe(false);
    expect(isOpenApiDocument([{ openapi: '3.0.0' }])).toBe(false);
  });
});

describe('convertOpenApi on the OpenAPI 3.0 examples', () => {
  it.each([
    ['petstore', ['listPets', 'createPets', 'showPetById']],
    ['petstore-expanded', ['findPets', 'addPet', 'find_pet_by_id', 'deletePet']],
    ['uspto', ['list_data_sets', 'list_searchable_fields', 'perform_search']],
    ['api-with-examples', ['listVersionsv2', 'getVersionDetailsv2']],
    ['callback-example', []],
    ['link-example', [
      'getUserByName',
      'getRepositoriesByOwner',
      'getRepository',
      'getPullRequestsByRepository',
      'getPullRequestsById',
      'mergePullRequest',
    ]],
  ] as const)('makes one tool per operation with an operationId in %s', async (name, expected) => {
    const document = fixture(name);
    const conversion = await convertOpenApi(document, sourceOf(name));
    expect(tools(conversion).map((t) => t.name)).toEqual(expected);
    expect(tools(conversion)).toHaveLength(operationIds(document).length);
    expectValidManual(conversion);
  });

  it('maps petstore-expanded parameters, body and responses onto the http call template', async () => {
    const conversion = await convertOpenApi(fixture('petstore-expanded'));

    const findPets = tool(conversion, 'findPets');
    expect(findPets.inputs.properties.tags).toEqual({ type: 'array', items: { type: 'string' }, description: 'tags to filter by' });
    expect(findPets.inputs.properties.limit).toMatchObject({ type: 'integer', format: 'int32' });
    expect(findPets.inputs.required).toBeUndefined();
    expect(findPets.tool_call_template).toEqual({
      call_template_type: 'http',
      name: 'Swagger_Petstore',
      url: 'https://petstore.swagger.io/v2/pets',
      http_method: 'GET',
      content_type: 'application/json',
      body_field: null,
    });
    expect(findPets.outputs).toMatchObject({ type: 'array', items: { allOf: [{ required: ['name'] }, { required: ['id'] }] } });

    const findById = tool(conversion, 'find_pet_by_id');
    expect(findById.tool_call_template.url).toBe('https://petstore.swagger.io/v2/pets/{id}');
    expect(findById.inputs.properties.id).toMatchObject({ type: 'integer', description: 'ID of pet to fetch' });
    expect(findById.inputs.required).toEqual(['id']);
    expect(conversion.warnings).toContainEqual(expect.stringContaining('"find pet by id" → "find_pet_by_id"'));

    const addPet = tool(conversion, 'addPet');
    expect(addPet.tool_call_template).toMatchObject({ http_method: 'POST', body_field: 'body', content_type: 'application/json' });
    expect(addPet.inputs.required).toEqual(['body']);
    expect(addPet.inputs.properties.body).toMatchObject({
      type: 'object',
      required: ['name'],
      description: 'Pet to add to the store',
    });

    expect(tool(conversion, 'deletePet').tool_call_template.http_method).toBe('DELETE');
    expect(tool(conversion, 'deletePet').outputs).toBeUndefined();
  });

  it('takes outputs from the first 2xx JSON response, never from an error response', async () => {
    const conversion = await convertOpenApi(fixture('petstore'));
    expect(tool(conversion, 'listPets').outputs).toMatchObject({ type: 'array', maxItems: 100 });
    // 201 has no body; `default` describes errors and must not become the output.
    expect(tool(conversion, 'createPets').outputs).toBeUndefined();
    expect(tool(conversion, 'listPets').tags).toEqual(['pets']);
  });

  it('resolves server variables to their defaults (uspto)', async () => {
    const conversion = await convertOpenApi(fixture('uspto'));
    expect(tool(conversion, 'list_data_sets').tool_call_template.url).toBe('https://developer.uspto.gov/ds-api/');
    const search = tool(conversion, 'perform_search');
    expect(search.tool_call_template).toMatchObject({
      url: 'https://developer.uspto.gov/ds-api/{dataset}/{version}/records',
      http_method: 'POST',
      content_type: 'application/x-www-form-urlencoded',
      body_field: 'body',
    });
    expect(search.inputs.properties.body.properties.criteria).toMatchObject({ type: 'string', default: '*:*' });
    expect(search.tags).toEqual(['search']);
    expect(tool(conversion, 'list_searchable_fields').inputs.properties.dataset.examples).toEqual(['oa_citations']);
  });

  it('skips callback operations and operations without an operationId, naming them', async () => {
    const conversion = await convertOpenApi(fixture('callback-example'));
    expect(tools(conversion)).toEqual([]);
    expect(conversion.warnings).toEqual(['POST /streams has no operationId; skipped']);
  });

  it('skips an operation without an operationId in api-with-examples with a warning', async () => {
    const original = await convertOpenApi(fixture('api-with-examples'), sourceOf('api-with-examples'));
    expect(original.warnings.filter((w) => w.includes('no operationId'))).toEqual([]);

    const document = fixture('api-with-examples');
    delete document.paths['/v2'].get.operationId;
    const conversion = await convertOpenApi(document, sourceOf('api-with-examples'));
    expect(tools(conversion).map((t) => t.name)).toEqual(['listVersionsv2']);
    expect(tool(conversion, 'listVersionsv2').tool_call_template.url).toBe('https://specs.example.com/');
    expect(conversion.warnings).toContain('GET /v2 has no operationId; skipped');
    expectValidManual(conversion);
  });

  it('dereferences nested $refs and ignores links (link-example)', async () => {
    const conversion = await convertOpenApi(fixture('link-example'), { sourceUrl: 'https://bitbucket.example/openapi.yaml' });
    const pullRequest = tool(conversion, 'getPullRequestsById');
    expect(pullRequest.tool_call_template.url).toBe('https://bitbucket.example/2.0/repositories/{username}/{slug}/pullrequests/{pid}');
    expect(pullRequest.outputs.properties.repository.properties.owner).toEqual({
      type: 'object',
      properties: { username: { type: 'string' }, uuid: { type: 'string' } },
    });
    expect(tool(conversion, 'getPullRequestsByRepository').inputs.properties.state).toEqual({
      type: 'string',
      enum: ['open', 'merged', 'declined'],
    });
    expect(tool(conversion, 'mergePullRequest').outputs).toBeUndefined();
    expect(conversion.warnings).toEqual([]);
  });

  it('refuses to make relative tool URLs when the document has no absolute server and no source URL', async () => {
    const refused = convertOpenApi(fixture('link-example'));
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.BAD_USER_INPUT, message: expect.stringContaining('sourceUrl') });
    // Without operations, no URL is needed.
    expect(tools(await convertOpenApi(fixture('callback-example')))).toEqual([]);
  });

  it('leaves the caller’s document untouched', async () => {
    const document = fixture('link-example');
    const before = structuredClone(document);
    await convertOpenApi(document, sourceOf('link-example'));
    expect(document).toEqual(before);
  });
});

describe('convertOpenApi with a document handed over (owned)', () => {
  it('converts exactly as from a copy, from the plain JSON tree itself or from a copy when it is not plain JSON', async () => {
    for (const name of FIXTURES) {
      const copied = await convertOpenApi(fixture(name), sourceOf(name));
      const json = JSON.parse(JSON.stringify(fixture(name))) as Obj;
      expect(await convertOpenApi(json, { ...sourceOf(name), owned: true })).toEqual(copied);
      // YAML may give values JSON has not (a date; an object reached twice through an alias): copied first.
      const yamlish = { ...fixture(name), 'x-when': new Date(0), 'x-twice': [fixture(name).info, fixture(name).info] };
      yamlish['x-twice'][1] = yamlish['x-twice'][0];
      expect(await convertOpenApi(yamlish, { ...sourceOf(name), owned: true })).toEqual(copied);
    }
  });
});

describe('convertOpenApi on OpenAPI 2.0', () => {
  const swagger: Obj = {
    swagger: '2.0',
    info: { title: 'Legacy Store', version: '2.1.0' },
    host: 'api.legacy.example',
    basePath: '/v1',
    schemes: ['http', 'https'],
    consumes: ['application/json'],
    produces: ['application/json'],
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'X-API-Key', in: 'header' },
      basic: { type: 'basic' },
      oauth: { type: 'oauth2', flow: 'application', tokenUrl: 'https://auth.legacy.example/token', scopes: { read: 'r', write: 'w' } },
    },
    security: [{ api_key: [] }],
    paths: {
      '/items/{itemId}': {
        parameters: [{ name: 'itemId', in: 'path', required: true, type: 'string' }],
        get: {
          operationId: 'getItem',
          tags: ['items'],
          parameters: [
            { name: 'X-Trace', in: 'header', type: 'string', description: 'trace id' },
            { name: 'fields', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'csv' },
          ],
          responses: { '200': { description: 'ok', schema: { $ref: '#/definitions/Item' } } },
        },
        put: {
          operationId: 'replaceItem',
          security: [{ oauth: ['write'] }],
          parameters: [{ name: 'item', in: 'body', required: true, schema: { $ref: '#/definitions/Item' } }],
          responses: { '200': { description: 'ok' } },
        },
      },
      '/upload': {
        post: {
          operationId: 'upload',
          security: [{ basic: [] }],
          consumes: ['multipart/form-data'],
          parameters: [
            { name: 'file', in: 'formData', type: 'file', required: true },
            { name: 'note', in: 'formData', type: 'string' },
          ],
          responses: { '201': { description: 'created' } },
        },
      },
      '/health': { get: { operationId: 'health', security: [], responses: { '200': { description: 'ok' } } } },
    },
    definitions: {
      Item: {
        type: 'object',
        required: ['id'],
        properties: {
          id: { type: 'string' },
          price: { type: 'number', minimum: 0, exclusiveMinimum: true },
          note: { type: 'string', 'x-nullable': true },
        },
      },
    },
  };

  it('builds URLs from scheme, host and basePath and maps an apiKey definition to api_key auth', async () => {
    const conversion = await convertOpenApi(swagger);
    expect(tools(conversion).map((t) => t.name)).toEqual(['getItem', 'replaceItem', 'upload', 'health']);
    expect(conversion.manual.manual_version).toBe('2.1.0');
    const getItem = tool(conversion, 'getItem');
    expect(getItem.tool_call_template).toEqual({
      call_template_type: 'http',
      name: 'Legacy_Store',
      url: 'https://api.legacy.example/v1/items/{itemId}',
      http_method: 'GET',
      content_type: 'application/json',
      body_field: null,
      header_fields: ['X-Trace'],
      auth: { auth_type: 'api_key', api_key: '${API_KEY}', var_name: 'X-API-Key', location: 'header' },
    });
    expect(getItem.inputs).toEqual({
      type: 'object',
      properties: {
        itemId: { type: 'string' },
        'X-Trace': { type: 'string', description: 'trace id' },
        fields: { type: 'array', items: { type: 'string' } },
      },
      required: ['itemId'],
    });
    expect(getItem.outputs.properties).toEqual({
      id: { type: 'string' },
      price: { type: 'number', exclusiveMinimum: 0 },
      note: { type: ['string', 'null'] },
    });
    expectValidManual(conversion);
  });

  it('maps body and formData parameters, basic and oauth2 application-flow auth, and `security: []`', async () => {
    const conversion = await convertOpenApi(swagger);
    const replace = tool(conversion, 'replaceItem');
    expect(replace.inputs.required).toEqual(['itemId', 'body']);
    expect(replace.inputs.properties.body).toMatchObject({ type: 'object', required: ['id'] });
    expect(replace.tool_call_template).toMatchObject({
      body_field: 'body',
      auth: {
        auth_type: 'oauth2',
        token_url: 'https://auth.legacy.example/token',
        client_id: '${OAUTH_CLIENT_ID}',
        client_secret: '${OAUTH_CLIENT_SECRET}',
        scope: 'write',
      },
    });

    const upload = tool(conversion, 'upload');
    expect(upload.tool_call_template).toMatchObject({
      content_type: 'multipart/form-data',
      body_field: 'body',
      auth: { auth_type: 'basic', username: '${BASIC_USERNAME}', password: '${BASIC_PASSWORD}' },
    });
    expect(upload.inputs.properties.body).toMatchObject({
      type: 'object',
      properties: { file: { type: 'string', format: 'binary' }, note: { type: 'string' } },
      required: ['file'],
    });

    expect(tool(conversion, 'health').tool_call_template.auth).toBeUndefined();
  });
});

describe('convertOpenApi mapping details', () => {
  const kitchenSink: Obj = {
    openapi: '3.1.0',
    info: { title: 'Kitchen Sink', version: '0.1.0' },
    servers: [
      {
        url: 'https://{region}.api.example.com/{base}',
        variables: { region: { default: 'eu', enum: ['eu', 'us'] }, base: { default: 'v2' } },
      },
    ],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer' },
        clientCreds: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: 'https://auth.example.com/token', scopes: { 'items:read': '', 'items:write': '' } } },
        },
        userLogin: {
          type: 'oauth2',
          flows: { authorizationCode: { authorizationUrl: 'https://auth.example.com/authorize', tokenUrl: 'https://auth.example.com/token', scopes: {} } },
        },
        queryKey: { type: 'apiKey', in: 'query', name: 'key' },
      },
    },
    security: [{ bearerAuth: [] }],
    paths: {
      '/items/{id}': {
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'verbose', in: 'query', schema: { type: 'boolean' } },
        ],
        get: {
          operationId: 'items.get',
          parameters: [
            { name: 'verbose', in: 'query', description: 'operation-level', schema: { type: 'boolean', default: false } },
            { name: 'session', in: 'cookie', schema: { type: 'string' } },
            { name: 'Accept', in: 'header', schema: { type: 'string' } },
          ],
          security: [{ userLogin: [] }, { clientCreds: ['items:read'] }],
          responses: ok,
        },
        patch: {
          operationId: 'items_patch',
          requestBody: {
            required: true,
            content: {
              'application/merge-patch+json': { schema: { type: 'object', properties: { name: { type: ['string', 'null'] } } } },
            },
          },
          security: [{ queryKey: [] }],
          responses: ok,
        },
        delete: { operationId: 'items_delete', security: [], responses: ok },
        head: { operationId: 'items_head', responses: ok },
      },
      '/status': {
        servers: [{ url: 'https://status.example.com' }],
        get: {
          operationId: 'items-get',
          summary: 'Service status',
          responses: { '2XX': { description: 'ok', content: { 'application/json': { schema: { type: 'string' } } } } },
        },
      },
    },
  };

  it('applies server variables, path-level parameters with operation-level overrides, and ignores Accept', async () => {
    const conversion = await convertOpenApi(kitchenSink);
    const get = tool(conversion, 'items_get');
    expect(get.tool_call_template.url).toBe('https://eu.api.example.com/v2/items/{id}');
    expect(Object.keys(get.inputs.properties)).toEqual(['id', 'verbose', 'session']);
    expect(get.inputs.properties.verbose).toEqual({ type: 'boolean', default: false, description: 'operation-level' });
    expect(get.tool_call_template.header_fields).toBeUndefined();
    expect(conversion.warnings).toContainEqual(expect.stringContaining('cookie parameter "session"'));
    expectValidManual(conversion);
  });

  it('names tools uniquely from operationIds and skips methods UTCP cannot call', async () => {
    const conversion = await convertOpenApi(kitchenSink);
    expect(tools(conversion).map((t) => t.name)).toEqual(['items_get', 'items_patch', 'items_delete', 'items_get_2']);
    expect(conversion.warnings).toContainEqual(expect.stringContaining('"items-get" → "items_get_2"'));
    expect(conversion.warnings).toContainEqual(expect.stringContaining('HEAD /items/{id} (items_head) skipped'));
    expect(tool(conversion, 'items_get_2').tool_call_template.url).toBe('https://status.example.com/status');
    expect(tool(conversion, 'items_get_2').outputs).toEqual({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'string' });
    expect(tool(conversion, 'items_get').inputs.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('maps security schemes to UTCP auth with variable references, never inline secrets', async () => {
    const conversion = await convertOpenApi(kitchenSink);
    expect(tool(conversion, 'items_get').tool_call_template.auth).toEqual({
      auth_type: 'oauth2',
      token_url: 'https://auth.example.com/token',
      client_id: '${CLIENT_CREDS_CLIENT_ID}',
      client_secret: '${CLIENT_CREDS_CLIENT_SECRET}',
      scope: 'items:read',
    });
    expect(conversion.warnings).toContainEqual(expect.stringContaining('"userLogin": UTCP oauth2 auth supports the client credentials flow only'));
    expect(tool(conversion, 'items_patch').tool_call_template).toMatchObject({
      content_type: 'application/merge-patch+json',
      body_field: 'body',
      auth: { auth_type: 'api_key', api_key: '${QUERY_KEY}', var_name: 'key', location: 'query' },
    });
    expect(tool(conversion, 'items_patch').inputs.required).toEqual(['id', 'body']);
    expect(tool(conversion, 'items_delete').tool_call_template.auth).toBeUndefined();
    expect(tool(conversion, 'items_get_2').tool_call_template.auth).toEqual({
      auth_type: 'api_key',
      api_key: 'Bearer ${BEARER_AUTH}',
      var_name: 'Authorization',
      location: 'header',
    });
    for (const { tool_call_template: template } of tools(conversion)) {
      for (const field of ['api_key', 'username', 'password', 'client_id', 'client_secret']) {
        if (template.auth?.[field] !== undefined) expect(template.auth[field]).toMatch(/^(Bearer )?\$\{[A-Z_][A-Z0-9_]*\}$/);
      }
    }
    expectValidManual(conversion);
  });

  it('resolves relative server URLs against the source URL', async () => {
    const document = openapi({ '/pet': { get: { operationId: 'getPet', responses: ok } } }, { servers: [{ url: '/api/v3' }] });
    const conversion = await convertOpenApi(document, { sourceUrl: 'https://petstore3.example.com/api/v3/openapi.json' });
    expect(tool(conversion, 'getPet').tool_call_template.url).toBe('https://petstore3.example.com/api/v3/pet');
    expect(conversion.warnings).toEqual([]);
  });

  it('refuses a remote document whose server is loopback, as the UTCP reference converters do', async () => {
    const document = openapi({ '/a': { get: { operationId: 'a', responses: ok } } }, { servers: [{ url: 'http://127.0.0.1:8080' }] });
    const refused = convertOpenApi(document, { sourceUrl: 'https://docs.example.com/openapi.json' });
    await expect(refused).rejects.toBeInstanceOf(RegistryError);
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.EGRESS_DENIED, message: expect.stringContaining('loopback') });
    const local = await convertOpenApi(document, { sourceUrl: 'http://localhost:3000/openapi.json' });
    expect(tool(local, 'a').tool_call_template.url).toBe('http://127.0.0.1:8080/a');
  });
});

describe('convertOpenApi on hostile or broken input', () => {
  it('refuses a document with a remote $ref without touching the network', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const document = openapi({
      '/pets': {
        get: {
          operationId: 'listPets',
          responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: 'https://schemas.example.com/pet.json#/Pet' } } } } },
        },
      },
    });
    await expect(convertOpenApi(document)).rejects.toThrow(/refers to other documents \("https:\/\/schemas\.example\.com\/pet\.json#\/Pet"\)/);
    await expect(convertOpenApi(document)).rejects.toMatchObject({ code: ErrorCode.INVALID_MANUAL });
    await expect(
      convertOpenApi(openapi({ '/a': { get: { operationId: 'a', parameters: [{ $ref: './params.yaml#/limit' }], responses: ok } } })),
    ).rejects.toThrow(/never fetched/);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('converts circular schemas into JSON Schema with $refs into $defs', async () => {
    const document = openapi(
      {
        '/nodes': {
          post: {
            operationId: 'createNode',
            requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } } },
            responses: { '201': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } } } },
          },
        },
        '/pairs': {
          get: {
            operationId: 'getPair',
            responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/A' } } } } },
          },
        },
      },
      {
        components: {
          schemas: {
            Node: {
              type: 'object',
              required: ['name'],
              properties: {
                name: { type: 'string' },
                parent: { allOf: [{ $ref: '#/components/schemas/Node' }], nullable: true },
                children: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
              },
            },
            A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } },
            B: { type: 'object', properties: { a: { $ref: '#/components/schemas/A' } } },
          },
        },
      },
    );
    const conversion = await convertOpenApi(document);
    expectValidManual(conversion);

    const create = tool(conversion, 'createNode');
    expect(create.inputs.properties.body.properties.children).toEqual({ type: 'array', items: { $ref: '#/$defs/Node' } });
    expect(create.inputs.$defs.Node.properties.children.items).toEqual({ $ref: '#/$defs/Node' });
    expect(create.outputs.$defs.Node.required).toEqual(['name']);

    const ajv = new Ajv({ validateFormats: false });
    const validInput = ajv.compile(create.inputs);
    expect(validInput({ body: { name: 'root', children: [{ name: 'leaf', children: [] }] } })).toBe(true);
    expect(validInput({ body: { name: 'root', children: [{ children: [] }] } })).toBe(false);

    const pair = tool(conversion, 'getPair');
    expect(pair.outputs.properties.b.properties.a).toEqual({ $ref: '#/$defs/A' });
    expect(ajv.compile(pair.outputs)({ b: { a: { b: {} } } })).toBe(true);
  });

  it('keeps schemas that would explode when inlined small by moving shared parts to $defs', async () => {
    const schemas: Obj = { L40: { type: 'string' } };
    for (let level = 0; level < 40; level++) {
      schemas[`L${level}`] = {
        type: 'object',
        properties: { left: { $ref: `#/components/schemas/L${level + 1}` }, right: { $ref: `#/components/schemas/L${level + 1}` } },
      };
    }
    const document = openapi(
      {
        '/tree': {
          get: {
            operationId: 'getTree',
            responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/L0' } } } } },
          },
        },
      },
      { components: { schemas } },
    );
    const started = Date.now();
    const conversion = await convertOpenApi(document);
    expect(Date.now() - started).toBeLessThan(10_000);
    const outputs = tool(conversion, 'getTree').outputs;
    expect(outputs.properties.left).toEqual({ $ref: '#/$defs/L1' });
    expect(Object.keys(outputs.$defs)).toHaveLength(40);
    expect(JSON.stringify(conversion.manual).length).toBeLessThan(20_000);
    expectValidManual(conversion);
  });

  it('keeps a `__proto__` property name as data without touching any prototype', async () => {
    const schema = { type: 'object', properties: { polluted: { type: 'string' } } };
    const written = openapi({ '/a': { post: { operationId: 'a', requestBody: { content: { 'application/json': { schema } } }, responses: ok } } });
    // JSON.parse, like a YAML parser, makes `__proto__` an own property.
    const document = JSON.parse(JSON.stringify(written).replace('"polluted"', '"__proto__"'));
    const conversion = await convertOpenApi(document);
    const properties = tool(conversion, 'a').inputs.properties.body.properties;
    expect(Object.getPrototypeOf(properties)).toBe(Object.prototype);
    expect(Object.hasOwn(properties, '__proto__')).toBe(true);
    expect(({} as Obj).type).toBeUndefined();
    expect(JSON.stringify(conversion.manual)).toContain('"__proto__":{"type":"string"}');
  });

  it('keeps schemas within the nesting parseManual accepts: $defs for named parts, else left out with a warning', async () => {
    const named: Obj = { N30: { type: 'string' } };
    for (let level = 0; level < 30; level++) named[`N${level}`] = { type: 'object', properties: { next: { $ref: `#/components/schemas/N${level + 1}` } } };
    let anonymous: Obj = { type: 'string' };
    for (let level = 0; level < 30; level++) anonymous = { type: 'object', properties: { next: anonymous } };
    const respond = (schema: Obj) => ({ '200': { description: 'ok', content: { 'application/json': { schema } } } });
    const document = openapi(
      {
        '/named': { get: { operationId: 'named', responses: respond({ $ref: '#/components/schemas/N0' }) } },
        '/anonymous': { get: { operationId: 'anonymous', responses: respond(anonymous) } },
      },
      { components: { schemas: named } },
    );
    const conversion = await convertOpenApi(document);
    expect(tool(conversion, 'named').outputs.properties.next).toEqual({ $ref: '#/$defs/N1' });
    expect(tool(conversion, 'anonymous').outputs).toBeUndefined();
    expect(conversion.warnings).toContain('GET /anonymous: outputs schema is too large to convert and was left out');
    expectValidManual(conversion);
  });

  it('converts every operation of a large description by default, and summarises renamed operationIds in one warning', async () => {
    const paths: Obj = {};
    for (let i = 0; i < 1203; i++) paths[`/r${i}`] = { get: { operationId: `ops/op-${i}`, responses: ok } };
    const conversion = await convertOpenApi(openapi(paths));
    expect(tools(conversion)).toHaveLength(1203);
    const renames = conversion.warnings.filter((w) => w.includes('→'));
    expect(renames).toEqual([
      'GET /r0: "ops/op-0" → "ops_op_0"; GET /r1: "ops/op-1" → "ops_op_1"; GET /r2: "ops/op-2" → "ops_op_2"; …'.replace(/^/, '1203 operationId(s) became other tool names (tool names allow only letters, digits and `_`, and are unique), e.g. '),
    ]);
    expect(conversion.warnings).toHaveLength(1);
    expectValidManual(conversion);
  });

  it('converts at most maxOperations operations, and its first warning says how many it left out', async () => {
    const paths: Obj = {};
    for (let i = 0; i < 13; i++) paths[`/r${i}`] = { get: { operationId: `op${i}`, responses: ok }, head: { responses: ok } };
    const conversion = await convertOpenApi(openapi(paths), { maxOperations: 10 });
    expect(tools(conversion)).toHaveLength(10);
    expect(conversion.warnings[0]).toBe('3 operation(s) left out: only the first 10 were converted (REGISTRY_OPENAPI_MAX_OPERATIONS)');
    expect(conversion.warnings[1]).toBe('HEAD /r0 has no operationId; skipped');
    expectValidManual(conversion);
  });

  it('refuses documents that are not valid OpenAPI with a clear message', async () => {
    await expect(convertOpenApi({ utcp_version: '1.1.0', tools: [] })).rejects.toThrow(/not an OpenAPI document/);
    await expect(convertOpenApi({ openapi: '3.0.3', info: { title: 'x' }, paths: {} })).rejects.toThrow(
      /Invalid OpenAPI document: .*version/s,
    );
    await expect(
      convertOpenApi(openapi({ '/a': { get: { operationId: 'a', responses: { '200': { $ref: '#/components/responses/Nope' } } } } })),
    ).rejects.toThrow(/Invalid OpenAPI document: .*#\/components\/responses\/Nope/);
    const cyclic: Obj = openapi({});
    cyclic.info.self = cyclic;
    await expect(convertOpenApi(cyclic)).rejects.toThrow(/cyclic structure/);
  });
});
