import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscoveryOptions, type DiscoveryResult, discoverManual } from '../../src/discovery/index.js';
import type { EgressPolicy } from '../../src/security/egress.js';
import { parseManual } from '../../src/utcp/manual.schema.js';
import { json, type Peer, type ProtocolPeers, startPeers, utcpManual } from '../helpers/peers/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { isRunning } from '../helpers/process.js';

const PEERS = fileURLToPath(new URL('../helpers/peers/', import.meta.url));
const PETSTORE = fileURLToPath(new URL('../fixtures/openapi/petstore-expanded.yaml', import.meta.url));
const NODE = process.execPath;

const LOOPBACK: EgressPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };
const NOTHING_PRIVATE: EgressPolicy = { allowHosts: [], allowCidrs: [] };

function options(overrides: Partial<DiscoveryOptions> = {}): DiscoveryOptions {
  return { egress: LOOPBACK, cliAllow: [], timeoutMs: 10_000, maxBytes: 1_000_000, ...overrides };
}

/** Discovers, validates the manual as the caller will, and returns the tool names with the result. */
async function discoverValid(template: Record<string, unknown> & { call_template_type: string }, opts = options()) {
  const result = await discoverManual(template, opts);
  const manual = parseManual(result.manual);
  return { result, manual, names: manual.tools.map((tool) => tool.name) };
}

const refusal = (promise: Promise<DiscoveryResult>) => rejectionOf(promise);

let peers: ProtocolPeers;
let http: Peer;
let sse: Peer;
let stream: Peer;
let graphqlPeer: Peer;
let mcpHttp: Peer;
let ws: ProtocolPeers['ws'];

beforeAll(async () => {
  peers = await startPeers();
  ({ http, sse, stream, graphqlPeer, mcpHttp, ws } = peers);
});

afterAll(() => peers?.close());

describe('discovering an http provider', () => {
  it('reads the UTCP manual the provider serves, sending the template headers and the resolved auth headers', async () => {
    const { names, result } = await discoverValid(
      { call_template_type: 'http', url: `${http.url}/utcp`, http_method: 'GET', headers: { 'x-client': 'registry' } },
      options({ headers: { 'x-api-key': 'resolved-secret' } }),
    );
    expect(names).toEqual(['get_weather', 'get_forecast']);
    expect(result.warnings).toEqual([]);
    const request = http.requests.at(-1)!;
    expect(request.headers['x-client']).toBe('registry');
    expect(request.headers['x-api-key']).toBe('resolved-secret');
  });

  it('converts an OpenAPI document served as YAML into one tool per operationId', async () => {
    const { names, manual } = await discoverValid({ call_template_type: 'http', url: `${http.url}/openapi.yaml` });
    expect(names).toEqual(expect.arrayContaining(['findPets', 'addPet', 'deletePet']));
    expect(manual.tools.find((tool) => tool.name === 'findPets')!.tool_call_template).toMatchObject({
      call_template_type: 'http',
      url: 'https://petstore.swagger.io/v2/pets',
    });
  });

  it('recognises YAML even when neither the content type nor the path says so', async () => {
    const { names } = await discoverValid({ call_template_type: 'http', url: `${http.url}/openapi` });
    expect(names).toContain('addPet');
  });

  it('follows a redirect to the manual', async () => {
    const { names } = await discoverValid({ call_template_type: 'http', url: `${http.url}/redirect` });
    expect(names).toEqual(['get_weather', 'get_forecast']);
  });

  it('passes a UTCP 0.1 manual through so that validation refuses it with its own code', async () => {
    const result = await discoverManual({ call_template_type: 'http', url: `${http.url}/legacy` }, options());
    expect(() => parseManual(result.manual)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNSUPPORTED_UTCP_VERSION' }) }));
  });

  it('refuses a non-2xx answer, naming the status', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/nowhere` }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'http_status', status: 404 });
    expect(error.message).toContain('HTTP 404');
  });

  it('refuses JSON that is neither a UTCP manual nor an OpenAPI document', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/not-a-manual` }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'not_a_manual' });
    expect(error.message).toMatch(/neither|expected a UTCP manual/i);
  });

  it('refuses a body that is neither JSON nor YAML', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/garbage` }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'not_parseable' });
    expect(error.message).toContain('neither JSON nor YAML');
  });

  it('gives up on a server that never answers when the discovery deadline passes', async () => {
    const started = Date.now();
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/hang` }, options({ timeoutMs: 400 })));
    expect(error.extensions.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a response larger than maxBytes', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/huge` }, options({ maxBytes: 10_000 })));
    expect(error.extensions.code).toBe('UPSTREAM_TOO_LARGE');
  });

  it('refuses loopback unless the egress policy allow-lists it, without sending a request', async () => {
    const before = http.requests.length;
    const error = await refusal(discoverManual({ call_template_type: 'http', url: `${http.url}/utcp` }, options({ egress: NOTHING_PRIVATE })));
    expect(error.extensions.code).toBe('EGRESS_DENIED');
    expect(http.requests.length).toBe(before);
  });

  it('refuses the cloud metadata address even when loopback is allow-listed', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'http', url: 'http://169.254.169.254/latest/meta-data/' }, options()));
    expect(error.extensions.code).toBe('EGRESS_DENIED');
  });

  it('never puts the URL path, query or auth headers into the error message', async () => {
    const error = await refusal(
      discoverManual(
        { call_template_type: 'http', url: `${http.url}/nowhere?token=query-secret` },
        options({ headers: { authorization: 'Bearer header-secret' } }),
      ),
    );
    expect(JSON.stringify({ message: error.message, extensions: error.extensions })).not.toMatch(/query-secret|header-secret|nowhere/);
  });
});

describe('discovering an sse provider', () => {
  it('reads the manual served as a plain JSON document, as the reference does', async () => {
    const { names } = await discoverValid({ call_template_type: 'sse', url: `${sse.url}/manual.json` });
    expect(names).toEqual(['price_feed']);
  });

  it('also takes the manual from an event of a finite event stream', async () => {
    const { names } = await discoverValid({ call_template_type: 'sse', url: `${sse.url}/events`, event_type: 'manual' });
    expect(names).toEqual(['price_feed', 'trade_feed']);
  });

  it('refuses to follow a redirect, as the reference does', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'sse', url: `${sse.url}/redirect` }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'redirect', status: 307 });
  });
});

describe('discovering a streamable_http provider', () => {
  it('reads a chunked JSON manual', async () => {
    const { names } = await discoverValid({ call_template_type: 'streamable_http', url: `${stream.url}/utcp` });
    expect(names).toEqual(['tail_logs', 'get_only']);
  });

  it("uses the template's http_method", async () => {
    const { names } = await discoverValid({ call_template_type: 'streamable_http', url: `${stream.url}/utcp`, http_method: 'POST' });
    expect(names).toEqual(['tail_logs', 'post_only']);
  });
});

describe('discovering a websocket provider', () => {
  it('sends {"type":"utcp"} and takes the first message that is a manual, with the subprotocol and headers', async () => {
    const { names } = await discoverValid(
      { call_template_type: 'websocket', url: `${ws.url}/utcp`, protocol: 'utcp.v1', headers: { 'x-client': 'registry' } },
      options({ headers: { 'x-api-key': 'resolved-secret' } }),
    );
    expect(names).toEqual(['send_message', 'list_rooms']);
    expect(ws.headers.at(-1)).toMatchObject({ 'x-client': 'registry', 'x-api-key': 'resolved-secret', 'sec-websocket-protocol': 'utcp.v1' });
  });

  it('gives up when the server never sends a manual', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'websocket', url: `${ws.url}/silent` }, options({ timeoutMs: 400 })));
    expect(error.extensions.code).toBe('UPSTREAM_TIMEOUT');
  });

  it('refuses a message larger than maxBytes', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'websocket', url: `${ws.url}/flood` }, options({ maxBytes: 10_000 })));
    expect(error.extensions.code).toBe('UPSTREAM_TOO_LARGE');
  });

  it('reports a server that closes the connection without a manual', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'websocket', url: `${ws.url}/bye` }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'protocol_error' });
  });
});

describe('discovery addresses a provider by its URL only', () => {
  it("sends the URL's host whatever Host header the template or the resolved credentials name (no virtual host behind an allowed address)", async () => {
    const hostile = { headers: { Host: 'metadata.internal' } };
    const seen = async (template: Record<string, unknown> & { call_template_type: string }, last: () => unknown) => {
      await discoverValid({ ...template, headers: { Host: 'admin.internal' } }, options(hostile));
      return last();
    };
    const lastHost = (peer: Peer) => () => peer.requests.at(-1)!.headers.host;
    expect(await seen({ call_template_type: 'http', url: `${http.url}/utcp`, http_method: 'GET' }, lastHost(http))).toBe(new URL(http.url).host);
    expect(await seen({ call_template_type: 'sse', url: `${sse.url}/manual.json` }, lastHost(sse))).toBe(new URL(sse.url).host);
    expect(await seen({ call_template_type: 'streamable_http', url: `${stream.url}/utcp` }, lastHost(stream))).toBe(new URL(stream.url).host);
    expect(await seen({ call_template_type: 'websocket', url: `${ws.url}/utcp` }, () => ws.headers.at(-1)!.host)).toBe(new URL(ws.url).host);
  });
});

describe('discovering a graphql provider', () => {
  it('offers every Query and Mutation field as a tool with its arguments as JSON Schema', async () => {
    const { names, manual } = await discoverValid({ call_template_type: 'graphql', url: `${graphqlPeer.url}/graphql` });
    expect(names).toEqual(['book', 'books', 'addBook']);
    const [book, books, addBook] = manual.tools;
    expect(book!.description).toBe('Looks a book up by its id');
    expect(book!.inputs).toMatchObject({ type: 'object', required: ['id'] });
    expect(books!.inputs).toMatchObject({
      properties: { genre: { type: 'string', enum: ['FICTION', 'HISTORY'] }, limit: { type: 'integer', default: 10 } },
    });
    expect(books!.inputs.required).toBeUndefined();
    expect(addBook!.inputs).toMatchObject({
      required: ['input'],
      properties: { input: { $ref: '#/$defs/BookInput' } },
      $defs: { BookInput: { type: 'object', required: ['title'], properties: { tags: { type: 'array', items: { type: 'string' } } } } },
    });
    expect(addBook!.tool_call_template).toMatchObject({ call_template_type: 'graphql', operation_type: 'mutation' });
  });

  it("gives each tool the manual's template with the field's operation type", async () => {
    const template = { call_template_type: 'graphql', url: `${graphqlPeer.url}/graphql`, headers: { 'x-client': 'registry' } };
    const { manual } = await discoverValid(template);
    expect(manual.tools.map((tool) => tool.tool_call_template)).toEqual([
      { ...template, operation_type: 'query' },
      { ...template, operation_type: 'query' },
      { ...template, operation_type: 'mutation' },
    ]);
    expect(graphqlPeer.requests.at(-1)!.headers['x-client']).toBe('registry');
  });
});

describe('discovering an mcp provider', () => {
  it('lists the tools of a stdio server built with the SDK, as server_tool with a template naming that server', async () => {
    const entry = { command: NODE, args: [path.join(PEERS, 'mcp-stdio-server.ts')] };
    const { names, manual, result } = await discoverValid(
      { call_template_type: 'mcp', config: { mcpServers: { calc: entry } } },
      options({ cliAllow: [NODE] }),
    );
    expect(names).toEqual(['calc_add', 'calc_echo', 'calc_get_time']);
    expect(result.warnings).toEqual([expect.stringContaining('"get-time" of server "calc" is listed as "calc_get_time"')]);
    const add = manual.tools[0]!;
    expect(add.description).toBe('Adds two numbers');
    expect(add.inputs).toMatchObject({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] });
    expect(add.outputs).toMatchObject({ properties: { sum: { type: 'number' } } });
    expect(add.tool_call_template).toMatchObject({ call_template_type: 'mcp', config: { mcpServers: { calc: entry } } });
  });

  it('lists the tools of a streamable HTTP server, sending the resolved auth headers', async () => {
    const { names } = await discoverValid(
      { call_template_type: 'mcp', config: { mcpServers: { web: { url: `${mcpHttp.url}/mcp` } } } },
      options({ headers: { 'x-api-key': 'resolved-secret' } }),
    );
    expect(names).toEqual(['web_search', 'web_fetch_page']);
    expect(mcpHttp.requests.at(-1)!.headers['x-api-key']).toBe('resolved-secret');
  });

  it('combines the tools of several servers, each template narrowed to its own server', async () => {
    const { manual } = await discoverValid(
      {
        call_template_type: 'mcp',
        config: { mcpServers: { calc: { command: NODE, args: [path.join(PEERS, 'mcp-stdio-server.ts')] }, web: { url: `${mcpHttp.url}/mcp` } } },
      },
      options({ cliAllow: [NODE] }),
    );
    expect(manual.tools.map((tool) => tool.name)).toEqual(['calc_add', 'calc_echo', 'calc_get_time', 'web_search', 'web_fetch_page']);
    for (const tool of manual.tools) {
      const servers = Object.keys((tool.tool_call_template as unknown as { config: { mcpServers: object } }).config.mcpServers);
      expect(servers).toEqual([tool.name.split('_')[0]]);
    }
  });

  it('gives up on a stdio server that never answers, and stops it', async () => {
    const pidFile = path.join(await mkdtemp(path.join(tmpdir(), 'discovery-pid-')), 'pid');
    const error = await refusal(
      discoverManual(
        {
          call_template_type: 'mcp',
          config: { mcpServers: { mute: { command: NODE, args: [path.join(PEERS, 'cli-manual.ts'), 'hang'], env: { PID_FILE: pidFile } } } },
        },
        options({ cliAllow: [NODE], timeoutMs: 1_000 }),
      ),
    );
    expect(error.extensions.code).toBe('UPSTREAM_TIMEOUT');
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => isRunning(pid), { timeout: 8_000, interval: 200 }).toBe(false);
    await rm(path.dirname(pidFile), { recursive: true, force: true });
  });

  it('reports a stdio server that exits instead of answering', async () => {
    const error = await refusal(
      discoverManual(
        { call_template_type: 'mcp', config: { mcpServers: { broken: { command: NODE, args: [path.join(PEERS, 'cli-manual.ts'), 'fail'] } } } },
        options({ cliAllow: [NODE] }),
      ),
    );
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'process_failed' });
    expect(error.message).toContain('"broken"');
  });

  it('refuses to start a stdio server whose command is not allow-listed', async () => {
    const error = await refusal(
      discoverManual({ call_template_type: 'mcp', config: { mcpServers: { calc: { command: NODE, args: [path.join(PEERS, 'mcp-stdio-server.ts')] } } } }, options()),
    );
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'command_not_allowed' });
  });
});

describe('discovering a cli provider', () => {
  const cliPeer = path.join(PEERS, 'cli-manual.ts');
  const command = (mode: string) => `"${NODE}" "${cliPeer}" ${mode}`;

  it('runs the discovery command without a shell and parses its output as the manual', async () => {
    const { names } = await discoverValid({ call_template_type: 'cli', commands: [{ command: command('manual') }] }, options({ cliAllow: [NODE] }));
    expect(names).toEqual(['list_files', 'word_count']);
  });

  it('runs in a scrubbed environment with the template variables, in a private working directory (also HOME) it removes', async () => {
    process.env.DISCOVERY_CANARY = 'registry-secret';
    try {
      const { manual } = await discoverValid(
        { call_template_type: 'cli', commands: [{ command: command('manual') }], env_vars: { GREETING: 'hello' } },
        options({ cliAllow: [NODE] }),
      );
      const seen = manual.tools[0]!.description;
      expect(seen).toContain('canary:absent');
      expect(seen).toContain('greeting:hello');
      const cwd = /cwd:(\S+)/.exec(seen)![1]!;
      expect(path.basename(cwd)).toMatch(/^registry-discovery-/);
      expect(seen).toContain(`home:${cwd}`);
      expect(existsSync(cwd)).toBe(false);
    } finally {
      delete process.env.DISCOVERY_CANARY;
    }
  });

  it('finds a manual printed among log lines, and keeps only the output of the commands marked for it', async () => {
    const { names } = await discoverValid(
      {
        call_template_type: 'cli',
        commands: [{ command: command('noise'), append_to_final_output: false }, { command: command('chatty') }],
      },
      options({ cliAllow: [NODE] }),
    );
    expect(names).toEqual(['list_files', 'word_count']);
  });

  it('refuses a command that is not allow-listed, without running it', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'cli', commands: [{ command: command('manual') }] }, options({ cliAllow: ['git'] })));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'command_not_allowed' });
    expect(error.message).toContain('allow-list');
  });

  it('does not let an allow-listed name stand for an executable at another path', async () => {
    const error = await refusal(
      discoverManual({ call_template_type: 'cli', commands: [{ command: `/tmp/elsewhere/${path.basename(NODE)} --version` }] }, options({ cliAllow: [path.basename(NODE)] })),
    );
    expect(error.extensions).toMatchObject({ reason: 'command_not_allowed' });
  });

  it('refuses variables that change how the executable loads code', async () => {
    const error = await refusal(
      discoverManual(
        { call_template_type: 'cli', commands: [{ command: command('manual') }], env_vars: { LD_PRELOAD: '/tmp/evil.so' } },
        options({ cliAllow: [NODE] }),
      ),
    );
    expect(error.extensions).toMatchObject({ reason: 'invalid_template' });
    expect(error.message).toContain('LD_PRELOAD');
  });

  it('refuses shell syntax instead of passing it to a shell', async () => {
    const error = await refusal(
      discoverManual({ call_template_type: 'cli', commands: [{ command: `${command('manual')} | tee /tmp/x` }] }, options({ cliAllow: [NODE] })),
    );
    expect(error.extensions).toMatchObject({ reason: 'invalid_template' });
    expect(error.message).toContain('without a shell');
  });

  it('reports the exit code of a failing command', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'cli', commands: [{ command: command('fail') }] }, options({ cliAllow: [NODE] })));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'process_failed', exitCode: 3 });
  });

  it('kills a command that does not finish before the deadline', async () => {
    const pidFile = path.join(await mkdtemp(path.join(tmpdir(), 'discovery-pid-')), 'pid');
    const error = await refusal(
      discoverManual(
        { call_template_type: 'cli', commands: [{ command: command('hang') }], env_vars: { PID_FILE: pidFile } },
        options({ cliAllow: [NODE], timeoutMs: 3_000 }),
      ),
    );
    expect(error.extensions.code).toBe('UPSTREAM_TIMEOUT');
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => isRunning(pid), { timeout: 2_000, interval: 100 }).toBe(false);
    await rm(path.dirname(pidFile), { recursive: true, force: true });
  });

  it('refuses output larger than maxBytes', async () => {
    const error = await refusal(
      discoverManual({ call_template_type: 'cli', commands: [{ command: command('huge') }] }, options({ cliAllow: [NODE], maxBytes: 10_000 })),
    );
    expect(error.extensions.code).toBe('UPSTREAM_TOO_LARGE');
  });

  it('refuses output that is not a manual', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'cli', commands: [{ command: command('noise') }] }, options({ cliAllow: [NODE] })));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'not_parseable' });
  });
});

describe('discovering a text provider', () => {
  it('reads an inline JSON manual', async () => {
    const content = JSON.stringify(utcpManual(['inline_tool'], { call_template_type: 'http', url: 'https://api.example.test/x' }));
    const { names } = await discoverValid({ call_template_type: 'text', content });
    expect(names).toEqual(['inline_tool']);
  });

  it('converts inline OpenAPI YAML', async () => {
    const { names } = await discoverValid({ call_template_type: 'text', content: await readFile(PETSTORE, 'utf8') });
    expect(names).toContain('findPets');
  });

  it('refuses content larger than maxBytes', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'text', content: 'x'.repeat(2_000) }, options({ maxBytes: 1_000 })));
    expect(error.extensions.code).toBe('UPSTREAM_TOO_LARGE');
  });
});

describe('discovering a file provider', () => {
  let base: string;
  let root: string;

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'discovery-test-'));
    root = path.join(base, 'manuals');
    await mkdir(path.join(root, 'team'), { recursive: true });
    const manual = JSON.stringify(utcpManual(['from_file'], { call_template_type: 'http', url: 'https://api.example.test/f' }));
    await writeFile(path.join(root, 'team', 'manual.json'), manual);
    await writeFile(path.join(root, 'petstore.yaml'), await readFile(PETSTORE));
    await writeFile(path.join(base, 'outside.json'), manual);
    await symlink(path.join(base, 'outside.json'), path.join(root, 'link.json'));
  });

  afterAll(() => rm(base, { recursive: true, force: true }));

  it('reads a manual inside the file root, by relative or absolute path', async () => {
    expect((await discoverValid({ call_template_type: 'file', file_path: 'team/manual.json' }, options({ fileRoot: root }))).names).toEqual(['from_file']);
    const absolute = path.join(root, 'team', 'manual.json');
    expect((await discoverValid({ call_template_type: 'file', file_path: absolute }, options({ fileRoot: root }))).names).toEqual(['from_file']);
  });

  it('converts an OpenAPI YAML file', async () => {
    const { names } = await discoverValid({ call_template_type: 'file', file_path: 'petstore.yaml' }, options({ fileRoot: root }));
    expect(names).toContain('deletePet');
  });

  it.each([
    ['an absolute path outside the root', () => path.join(base, 'outside.json')],
    ['a path that climbs out with ..', () => 'team/../../outside.json'],
    ['a symlink inside the root that points outside it', () => 'link.json'],
  ])('refuses %s', async (_, filePath) => {
    const error = await refusal(discoverManual({ call_template_type: 'file', file_path: filePath() }, options({ fileRoot: root })));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'file_not_allowed' });
    expect(error.message).toContain('outside');
  });

  it('refuses every file when no root is configured', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'file', file_path: path.join(root, 'team', 'manual.json') }, options()));
    expect(error.extensions).toMatchObject({ reason: 'file_not_allowed' });
  });

  it('refuses a file larger than maxBytes', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'file', file_path: 'petstore.yaml' }, options({ fileRoot: root, maxBytes: 100 })));
    expect(error.extensions.code).toBe('UPSTREAM_TOO_LARGE');
  });
});

describe('the egress policy', () => {
  it.each([
    ['sse', () => ({ call_template_type: 'sse', url: `${sse.url}/manual.json` })],
    ['streamable_http', () => ({ call_template_type: 'streamable_http', url: `${stream.url}/utcp` })],
    ['websocket', () => ({ call_template_type: 'websocket', url: `${ws.url}/utcp` })],
    ['graphql', () => ({ call_template_type: 'graphql', url: `${graphqlPeer.url}/graphql` })],
    ['mcp over HTTP', () => ({ call_template_type: 'mcp', config: { mcpServers: { web: { url: `${mcpHttp.url}/mcp` } } } })],
  ])('guards %s discovery: loopback is refused unless allow-listed', async (_, template) => {
    const error = await refusal(discoverManual(template(), options({ egress: NOTHING_PRIVATE })));
    expect(error.extensions.code).toBe('EGRESS_DENIED');
  });
});

describe('dispatch', () => {
  it('refuses a call template type that UTCP 1.1 does not define', async () => {
    const error = await refusal(discoverManual({ call_template_type: 'carrier_pigeon' }, options()));
    expect(error.extensions).toMatchObject({ code: 'DISCOVERY_FAILED', reason: 'unsupported_type' });
  });
});
