import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { manualFromContent, WORKER_MIN_BYTES } from '../../src/discovery/discovery.convert.js';
import { manualFromDocument, parseJsonOrYaml } from '../../src/discovery/discovery.document.js';
import { type DiscoveryOptions, discoverManual } from '../../src/discovery/index.js';
import { RegistryError } from '../../src/errors.js';
import { parseManualWithWarnings } from '../../src/utcp/manual.schema.js';
import { rejectionOf } from '../helpers/errors.js';

/** An OpenAPI 3.0 description of `operations` operations with long descriptions: over a megabyte from ~250 on. */
function largeDescription(operations: number): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (let i = 0; i < operations; i += 1) {
    paths[`/items${i}/{id}`] = {
      get: {
        operationId: `getItem${i}`,
        summary: `Reads item ${i}`,
        description: `Returns item ${i}. `.repeat(300),
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } }],
        responses: { '200': { description: 'the item', content: { 'application/json': { schema: { $ref: '#/components/schemas/Item' } } } } },
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Items', version: '1.0.0' },
    servers: [{ url: 'https://items.example.com' }],
    paths,
    components: { schemas: { Item: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } } } },
  };
}

const LARGE = JSON.stringify(largeDescription(300));
const options = { openApi: true, sourceUrl: 'https://items.example.com/openapi.json' };

describe('documents of a megabyte or more are parsed and converted in a worker thread', () => {
  it('gives the same manual and warnings as the conversion and validation in this thread', async () => {
    expect(Buffer.byteLength(LARGE)).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
    const inWorker = await manualFromContent(Buffer.from(LARGE), 'The document', options);
    const here = await manualFromDocument(parseJsonOrYaml(LARGE, 'The document'), 'The document', options);
    const validated = parseManualWithWarnings(here.manual);
    expect((inWorker.manual as { tools: unknown[] }).tools).toHaveLength(300);
    expect(inWorker).toEqual({ manual: validated.manual, warnings: [...here.warnings, ...validated.warnings], validated: true });
    // A small document is converted here and left for the caller to validate.
    const small = await manualFromContent(JSON.stringify(largeDescription(2)), 'The document', options);
    expect(small.validated).toBeUndefined();
  });

  it("passes the worker's refusals on with their code, reason and message", async () => {
    const invalid = JSON.stringify({ ...largeDescription(300), paths: { '/x': { get: { operationId: 'x', responses: 'not an object' } } }, padding: 'x'.repeat(WORKER_MIN_BYTES) });
    const refused = await rejectionOf(manualFromContent(Buffer.from(invalid), 'The document', options));
    expect(refused).toBeInstanceOf(RegistryError);
    expect(refused.extensions.code).toBe('INVALID_MANUAL');
    expect(refused.message).toMatch(/responses/);

    const garbage = await rejectionOf(manualFromContent(`@${'x'.repeat(WORKER_MIN_BYTES)}`, 'The document', options));
    expect(garbage.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'not_parseable' });
    expect(garbage.message).toMatch(/^The document is neither JSON nor YAML/);
  });

  it('ends the worker when the discovery is given up', async () => {
    const controller = new AbortController();
    const converting = manualFromContent(Buffer.from(LARGE), 'The document', options, controller.signal);
    controller.abort(new Error('given up'));
    expect((await rejectionOf(converting, Error)).message).toBe('given up');
  });
});

describe("a large description's conversion does not count against the provider's deadline", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // YAML: a megabyte of it takes seconds to parse, far longer than the ~1 MB takes to arrive.
    const body = stringifyYaml(largeDescription(300));
    expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
    server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/yaml' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('imports a description whose conversion takes longer than the discovery timeout', async () => {
    const discovery: DiscoveryOptions = { egress: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] }, cliAllow: [], timeoutMs: 400, maxBytes: 32 << 20 };
    const result = await discoverManual({ call_template_type: 'http', url, http_method: 'GET' }, discovery);
    expect((result.manual as { tools: unknown[] }).tools).toHaveLength(300);
  });
});
