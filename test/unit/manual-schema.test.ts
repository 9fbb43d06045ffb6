import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ManualValidationError } from '../../src/errors.js';
import { MAX_TOOLS, parseManual, parseManualWithWarnings } from '../../src/utcp/manual.schema.js';
import { manual, manualTool } from '../helpers/factories.js';

const FIXTURES = new URL('../fixtures/utcp/', import.meta.url);
const SEED_MANUALS = new URL('../../src/seed/manuals/', import.meta.url);

async function json(base: URL, name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(new URL(name, base), 'utf8')) as Record<string, unknown>;
}

function refusal(input: unknown): ManualValidationError {
  try {
    parseManual(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ManualValidationError);
    return error as ManualValidationError;
  }
  throw new Error('expected the manual to be refused');
}

function problems(input: unknown) {
  const error = refusal(input);
  expect(error.extensions.code).toBe('INVALID_MANUAL');
  return error.problems;
}

/** A manual with one tool whose `inputs` is `schema`. */
const withInputs = (schema: unknown) => manual([manualTool({ inputs: schema })]);

describe('parseManual', () => {
  it('fills UTCP defaults for optional tool fields', () => {
    const parsed = parseManual(manual([{ name: 'ping', tool_call_template: { call_template_type: 'http', url: 'https://x.test' } }]));
    expect(parsed.tools[0]).toMatchObject({
      description: '',
      tags: [],
      inputs: { type: 'object', properties: {} },
      tool_call_template: { http_method: 'GET' },
    });
  });

  it('keeps the fields of the call template as given', () => {
    const parsed = parseManual(
      manual([manualTool({ tool_call_template: { call_template_type: 'http', url: 'https://x.test', headers: { A: 'b' } } })]),
    );
    expect(parsed.tools[0]!.tool_call_template).toMatchObject({ headers: { A: 'b' } });
  });

  it('names the JSON path and expectation of every problem', () => {
    const found = problems({
      utcp_version: 'one point one',
      tools: [
        manualTool({ name: 'has space' }),
        manualTool({ tool_call_template: { call_template_type: 'carrier_pigeon' } }),
        manualTool({ tool_call_template: { call_template_type: 'cli', commands: [] } }),
      ],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        { path: '$.utcp_version', message: 'expected a UTCP version such as "1.1.0"' },
        { path: '$.tools[0].name', message: expect.stringContaining('found " "') },
        { path: '$.tools[1].tool_call_template.call_template_type', message: expect.stringMatching(/^expected one of http, sse, /) },
        { path: '$.tools[2].tool_call_template.commands', message: 'expected at least 1 item' },
      ]),
    );
  });

  it('refuses anything that is not a manual object', () => {
    expect(problems(null)[0]!.path).toBe('$');
    expect(problems([])[0]!.path).toBe('$');
    expect(problems({ utcp_version: '1.1.0' })).toEqual([{ path: '$.tools', message: 'required: expected an array' }]);
  });

  it('accepts variable references in auth blocks but no literal secrets, and never repeats one', () => {
    const auth = (value: string) =>
      manual([
        manualTool({
          tool_call_template: { call_template_type: 'http', url: 'https://x.test', auth: { auth_type: 'basic', username: 'me', password: value } },
        }),
      ]);
    expect(() => parseManual(auth('${PASSWORD}'))).not.toThrow();
    expect(() => parseManual(auth('$PASSWORD'))).not.toThrow();
    const error = refusal(auth('hunter2'));
    expect(error.problems[0]!.path).toBe('$.tools[0].tool_call_template.auth.password');
    expect(error.message).not.toContain('hunter2');
  });

  describe('versions', () => {
    it('reads any UTCP 1.x version, and a missing one as the current version (as python-utcp)', () => {
      for (const version of ['1.0', '1.0.1', '1.1.0', '1.2.0', '1.1.0-rc.1']) {
        expect(parseManual(manual(undefined, { utcp_version: version })).utcp_version).toBe(version);
      }
      const { utcp_version: _omitted, ...unversioned } = manual();
      expect(parseManual(unversioned)).toMatchObject({ utcp_version: '1.1.0', manual_version: '1.0.0' });
    });

    it('refuses versions it cannot read with UNSUPPORTED_UTCP_VERSION', () => {
      const future = refusal(manual(undefined, { utcp_version: '2.0.0' }));
      expect(future.extensions.code).toBe('UNSUPPORTED_UTCP_VERSION');
      expect(future.problems).toEqual([{ path: '$.utcp_version', message: expect.stringContaining('UTCP 2.x cannot be read') }]);
      const legacy = refusal({ version: '1.0', tools: [] });
      expect(legacy.extensions.code).toBe('UNSUPPORTED_UTCP_VERSION');
      expect(refusal(manual(undefined, { utcp_version: '0.1.0' })).extensions.code).toBe('UNSUPPORTED_UTCP_VERSION');
    });
  });

  describe('fixtures and bundled manuals', () => {
    it('parses the third-party newsapi and MCP manuals', async () => {
      const news = parseManual(await json(FIXTURES, 'newsapi_manual.json'));
      expect(news.tools.map((t) => t.name)).toEqual(['everything_get', 'top_headlines_get']);
      expect(news.tools[0]!.tool_call_template).toMatchObject({
        auth: { auth_type: 'api_key', api_key: '$NEWS_API_KEY', var_name: 'X-Api-Key', location: 'header' },
      });
      const mcp = parseManual(await json(FIXTURES, 'mcp_manual.json'));
      expect(mcp.tools[0]!.tool_call_template).toMatchObject({ call_template_type: 'mcp', register_resources_as_tools: false });
    });

    it('refuses the legacy CLI manual, saying how to write `commands`', async () => {
      const found = problems(await json(FIXTURES, 'cli_manual_legacy.json'));
      expect(found).toEqual([
        { path: '$.tools[0].tool_call_template.commands', message: 'required: expected an array' },
        { path: '$.tools[0].tool_call_template.command_name', message: expect.stringContaining('write `commands: [{ command }]`') },
      ]);
    });

    it('refuses the UTCP 0.1 theirstack manual unless migration is asked for', async () => {
      const legacy = await json(FIXTURES, 'theirstack_manual_v0_1.json');
      expect(refusal(legacy).extensions.code).toBe('UNSUPPORTED_UTCP_VERSION');
      const { manual: migrated, warnings } = parseManualWithWarnings(legacy);
      expect(migrated.tools.map((t) => t.name)).toEqual(['jobs']);
      expect(warnings.length).toBeGreaterThan(0);
    });

    it('keeps every bundled manual valid', async () => {
      for (const file of ['currency.json', 'shell.json', 'weather.json']) {
        const bundled = await json(SEED_MANUALS, file);
        expect(() => parseManual(bundled), file).not.toThrow();
        expect(parseManualWithWarnings(bundled).warnings).toEqual([]);
      }
    });
  });

  describe('top-level and tool fields', () => {
    it('refuses unknown top-level keys but keeps `info` and `x-` extensions', () => {
      expect(problems(manual(undefined, { tool_count: 1, version: '1.0' }))).toEqual([
        { path: '$.tool_count', message: expect.stringContaining('is not a field of a UTCP manual; expected one of utcp_version') },
        { path: '$.version', message: expect.stringContaining('write `utcp_version` (the protocol) and `manual_version`') },
      ]);
      const parsed = parseManual(manual(undefined, { info: { title: 'Lookups' }, 'x-owner': 'team-a' }));
      expect(parsed).toMatchObject({ info: { title: 'Lookups' }, 'x-owner': 'team-a' });
      expect(problems(manual(undefined, { info: 'Lookups' }))).toEqual([{ path: '$.info', message: 'expected an object' }]);
    });

    it('refuses unknown tool fields, explaining UTCP 0.1 ones', () => {
      const { tool_call_template: template, ...rest } = manualTool();
      const found = problems(manual([{ ...rest, tool_provider: template, icon: 'x.png' }]));
      expect(found).toEqual([
        { path: '$.tools[0].tool_provider', message: expect.stringContaining('UTCP 0.1 name of `tool_call_template`') },
        { path: '$.tools[0].icon', message: expect.stringContaining('is not a field of a UTCP tool; expected one of name, description') },
      ]);
    });

    it('refuses tool names outside [A-Za-z0-9_], naming the characters found', () => {
      expect(problems(manual([manualTool({ name: 'get-user' })]))).toEqual([
        { path: '$.tools[0].name', message: 'must contain only letters, digits and `_` (UTCP tool names are [A-Za-z0-9_]+); found "-"' },
      ]);
      expect(problems(manual([manualTool({ name: 'weather.get_forecast' })]))[0]!.message).toContain(
        'found "."; the registry prefixes tools with their provider itself',
      );
      expect(problems(manual([manualTool({ name: '' })]))[0]).toEqual({ path: '$.tools[0].name', message: 'must not be empty' });
      expect(problems(manual([manualTool({ name: undefined })]))[0]).toEqual({ path: '$.tools[0].name', message: 'required: expected a string' });
      expect(() => parseManual(manual([manualTool({ name: 'Get_User_2' })]))).not.toThrow();
    });

    it('refuses duplicate tool names, pointing at the first', () => {
      const found = problems(manual([manualTool({ name: 'a' }), manualTool({ name: 'b' }), manualTool({ name: 'a' })]));
      expect(found).toEqual([{ path: '$.tools[2].name', message: 'duplicates $.tools[0].name' }]);
    });

    it(`refuses more than ${MAX_TOOLS} tools`, () => {
      const tools = Array.from({ length: MAX_TOOLS + 1 }, (_, i) => manualTool({ name: `t${i}` }));
      expect(problems(manual(tools))).toEqual([{ path: '$.tools', message: `expected at most ${MAX_TOOLS} tools in one manual` }]);
    });

    it('accepts the largest manual in reasonable time, checking shared schemas once', () => {
      const tools = Array.from({ length: MAX_TOOLS }, (_, i) => manualTool({ name: `t${i}` }));
      const started = performance.now();
      expect(parseManual(manual(tools)).tools).toHaveLength(MAX_TOOLS);
      expect(performance.now() - started).toBeLessThan(5000);
    });

    it('reports at most 100 problems and counts the rest', () => {
      const tools = Array.from({ length: 150 }, () => manualTool({ name: 'bad name' }));
      const found = problems(manual(tools));
      expect(found).toHaveLength(101);
      expect(found[100]).toEqual({ path: '$', message: expect.stringMatching(/^and \d+ more problems$/) });
    });
  });

  describe('JSON Schemas of inputs and outputs', () => {
    it('refuses invalid schemas with the path inside the schema', () => {
      expect(problems(withInputs({ type: 'object', properties: { q: { type: 'strin' } } }))).toEqual([
        { path: '$.tools[0].inputs.properties.q.type', message: 'expected one of array, boolean, integer, null, number, object, string' },
      ]);
      expect(problems(withInputs({ type: 'object', required: 'q' }))).toEqual([
        { path: '$.tools[0].inputs.required', message: 'expected array' },
      ]);
      expect(problems(manual([manualTool({ outputs: { type: 'array', items: [{ minLength: -1 }] } })]))).toEqual([
        { path: '$.tools[0].outputs.items[0].minLength', message: 'expected a number >= 0' },
      ]);
      expect(problems(withInputs('object'))).toEqual([{ path: '$.tools[0].inputs', message: 'expected a JSON Schema object' }]);
    });

    it('refuses schemas that do not compile: bad patterns and unresolvable references', () => {
      expect(problems(withInputs({ type: 'string', pattern: '([' }))).toEqual([
        { path: '$.tools[0].inputs', message: expect.stringContaining('Invalid regular expression') },
      ]);
      expect(problems(withInputs({ $ref: '#/definitions/missing' }))).toEqual([
        { path: '$.tools[0].inputs', message: expect.stringContaining("can't resolve reference #/definitions/missing") },
      ]);
      expect(problems(withInputs({ $ref: 'https://schemas.example.com/remote.json' }))[0]!.message).toContain("can't resolve reference");
    });

    it('accepts schemas whose references resolve and whose patterns compile, and still refuses a bad patternProperties key or an unresolvable reference beside an `id` property', () => {
      const good = {
        type: 'object',
        properties: { id: { type: 'integer' }, node: { $ref: '#/$defs/a~1b' }, code: { type: 'string', pattern: '^\\p{Lu}+$' } },
        patternProperties: { '^x-': { type: 'string' } },
        $defs: { 'a/b': { type: 'object', properties: { next: { $ref: '#/$defs/a~1b' }, root: { $ref: '#' } } } },
      };
      expect(() => parseManual(withInputs(good))).not.toThrow();
      expect(problems(withInputs({ type: 'object', patternProperties: { '([': { type: 'string' } } }))[0]!.message).toContain('Invalid regular expression');
      expect(problems(withInputs({ type: 'object', properties: { id: { type: 'integer' }, n: { $ref: '#/$defs/none' } } }))[0]!.message).toContain("can't resolve reference");
    });

    it('reads draft-07 by default and 2020-12 when `$schema` says so, and no other dialect', () => {
      const draft2020 = 'https://json-schema.org/draft/2020-12/schema';
      expect(() => parseManual(withInputs({ $schema: draft2020, type: 'array', prefixItems: [{ type: 'string' }] }))).not.toThrow();
      expect(problems(withInputs({ $schema: draft2020, type: 'array', prefixItems: [{ type: 'strin' }] }))[0]!.path).toBe(
        '$.tools[0].inputs.prefixItems[0].type',
      );
      expect(() => parseManual(withInputs({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' }))).not.toThrow();
      expect(problems(withInputs({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' }))).toEqual([
        { path: '$.tools[0].inputs.$schema', message: expect.stringContaining('draft-07') },
      ]);
    });

    it('accepts annotations JSON Schema does not define, and `$id`s repeated across tools', () => {
      const schema = { $id: 'https://schemas.example.com/q.json', type: 'object', example: { q: 'x' }, 'x-order': 1, nullable: true };
      expect(() => parseManual(manual([manualTool({ name: 'a', inputs: schema }), manualTool({ name: 'b', inputs: { ...schema, title: 'b' } })]))).not.toThrow();
    });

    it("drops python-utcp's `null` placeholders for unset keywords", () => {
      const dumped = { $schema: null, title: null, type: 'object', properties: { q: { type: 'string', enum: null, default: null } }, required: null };
      expect(parseManual(withInputs(dumped)).tools[0]!.inputs).toEqual({
        type: 'object',
        properties: { q: { type: 'string', default: null } },
      });
    });

    it('refuses deeply nested schemas instead of overflowing the stack', () => {
      const nested = (levels: number) => {
        let schema: Record<string, unknown> = { type: 'string' };
        for (let i = 1; i < levels; i++) schema = { type: 'array', items: schema };
        return schema;
      };
      expect(() => parseManual(withInputs(nested(32)))).not.toThrow();
      expect(problems(withInputs(nested(33)))).toEqual([{ path: '$.tools[0].inputs', message: 'nests deeper than 32 levels' }]);
      expect(problems(withInputs(nested(100_000)))).toEqual([{ path: '$.tools[0].inputs', message: 'nests deeper than 32 levels' }]);
    });
  });
});

describe('parseManualWithWarnings', () => {
  it('passes a UTCP 1.x manual through without warnings', () => {
    expect(parseManualWithWarnings(manual())).toEqual({ manual: parseManual(manual()), warnings: [] });
  });

  it('reports problems of a migrated manual with their paths', () => {
    const legacy = { version: '1.0', tools: [{ name: 'x', tool_provider: { provider_type: 'http', url: 'ftp://x' } }] };
    const error = (() => {
      try {
        parseManualWithWarnings(legacy);
      } catch (e) {
        return e as ManualValidationError;
      }
      throw new Error('expected a refusal');
    })();
    expect(error.extensions.code).toBe('INVALID_MANUAL');
    expect(error.problems).toEqual([{ path: '$.tools[0].tool_call_template.url', message: 'expected an http(s) URL' }]);
  });
});
