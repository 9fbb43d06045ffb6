import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseManual, parseManualWithWarnings } from '../../src/utcp/manual.schema.js';
import { isLegacyManual, migrateLegacyManual } from '../../src/utcp/migrate.js';
import { manual } from '../helpers/factories.js';

const FIXTURES = new URL('../fixtures/utcp/', import.meta.url);

async function theirstack(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(new URL('theirstack_manual_v0_1.json', FIXTURES), 'utf8')) as Record<string, unknown>;
}

/** A UTCP 0.1 manual (python-utcp 0.1 shape) with one tool served by `provider`. */
function legacy(provider: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    version: '0.1.7',
    tools: [{ name: 'tool', description: 'A tool.', inputs: { type: 'object', properties: {} }, tool_provider: provider }],
    ...overrides,
  };
}

function migratedTemplate(provider: Record<string, unknown>): unknown {
  const { manual: migrated } = migrateLegacyManual(legacy(provider));
  return (migrated as { tools: { tool_call_template: unknown }[] }).tools[0]!.tool_call_template;
}

describe('isLegacyManual', () => {
  it('recognises UTCP 0.1 manuals by `version`, `provider_info`, a 0.x version or `tool_provider`', async () => {
    expect(isLegacyManual(await theirstack())).toBe(true);
    expect(isLegacyManual({ version: '1.0', tools: [] })).toBe(true);
    expect(isLegacyManual({ utcp_version: '0.1.0', tools: [] })).toBe(true);
    expect(isLegacyManual({ provider_info: { name: 'weather' }, tools: [] })).toBe(true);
    expect(isLegacyManual({ tools: [{ name: 'x', tool_provider: { provider_type: 'http' } }] })).toBe(true);
    expect(isLegacyManual({ tools: [{ name: 'x', provider: { provider_type: 'http' } }] })).toBe(true);
  });

  it('never takes a UTCP 1.x manual, or anything else, for a 0.1 one', () => {
    expect(isLegacyManual(manual())).toBe(false);
    expect(isLegacyManual({ tools: [] })).toBe(false);
    // Declared 1.x: its 0.1 fields are errors for validation to report, not a reason to migrate.
    expect(isLegacyManual({ utcp_version: '1.0.1', version: '1.0', tools: [{ tool_provider: {} }] })).toBe(false);
    for (const value of [null, undefined, 'manual', 42, []]) expect(isLegacyManual(value)).toBe(false);
  });
});

describe('migrateLegacyManual', () => {
  it('rewrites the theirstack 0.1 manual in the UTCP 1.1 shape, leaving the input untouched', async () => {
    const input = await theirstack();
    const before = structuredClone(input);
    const { manual: migrated, warnings } = migrateLegacyManual(input);
    expect(input).toEqual(before);
    expect(migrated).toMatchObject({
      utcp_version: '1.1.0',
      manual_version: '1.0',
      tools: [
        {
          name: 'jobs',
          tool_call_template: {
            call_template_type: 'http',
            url: 'https://api.theirstack.com/v1/jobs/search',
            http_method: 'POST',
            auth: { auth_type: 'api_key', location: 'header', var_name: 'Authorization', api_key: 'Bearer $THEIRSTACK_API_TOKEN' },
          },
        },
      ],
    });
    expect(migrated).not.toHaveProperty('version');
    const tool = (migrated as { tools: Record<string, unknown>[] }).tools[0]!;
    expect(tool).not.toHaveProperty('tool_provider');
    expect(tool.tool_call_template).not.toHaveProperty('provider_type');
    expect(warnings).toEqual([
      'Migrated a UTCP 0.1 manual to UTCP 1.1.0; check the result before relying on it.',
      'The UTCP 0.1 `version` "1.0" is kept as `manual_version`; the manual now declares `utcp_version` "1.1.0".',
      '`tool_provider` renamed `tool_call_template` (1 tool).',
      '`provider_type` renamed `call_template_type` (1 tool).',
    ]);
  });

  it('migrates the theirstack manual into one whose tools pass strict validation', async () => {
    const { manual: parsed, warnings } = parseManualWithWarnings(await theirstack());
    expect(parsed.utcp_version).toBe('1.1.0');
    expect(parsed.tools[0]).toMatchObject({ name: 'jobs', tags: ['jobs'], inputs: { required: ['page', 'limit', 'job_country_code_or', 'posted_at_max_age_days'] } });
    expect(warnings).toContain('`tool_provider` renamed `tool_call_template` (1 tool).');
    // The result is a plain 1.1 manual: validating it again changes nothing.
    expect(parseManual(structuredClone(parsed))).toEqual(parsed);
  });

  it('renames `http_stream` to `streamable_http`', () => {
    expect(migratedTemplate({ provider_type: 'http_stream', url: 'https://x.test/stream' })).toEqual({
      call_template_type: 'streamable_http',
      url: 'https://x.test/stream',
    });
  });

  it('turns a cli `command_name` into `commands: [{ command }]`', () => {
    expect(migratedTemplate({ provider_type: 'cli', command_name: './script.sh --fast', env_vars: { A: '$A' }, working_dir: '.' })).toEqual({
      call_template_type: 'cli',
      commands: [{ command: './script.sh --fast' }],
      env_vars: { A: '$A' },
      working_dir: '.',
    });
  });

  it('turns a 0.1 `text` provider, which read a file, into a `file` call template', () => {
    expect(migratedTemplate({ provider_type: 'text', file_path: './tools.json' })).toEqual({
      call_template_type: 'file',
      file_path: './tools.json',
    });
  });

  it('moves a websocket request template to `message` and its timeout to seconds', () => {
    expect(
      migratedTemplate({
        provider_type: 'websocket',
        url: 'wss://x.test/ws',
        request_data_format: 'text',
        request_data_template: 'CMD:UTCP_ARG_command_UTCP_ARG',
        timeout: 30000,
      }),
    ).toEqual({ call_template_type: 'websocket', url: 'wss://x.test/ws', message: 'CMD:UTCP_ARG_command_UTCP_ARG', timeout: 30 });
    expect(migratedTemplate({ provider_type: 'websocket', url: 'wss://x.test/ws', request_data_format: 'json' })).toEqual({
      call_template_type: 'websocket',
      url: 'wss://x.test/ws',
    });
  });

  it("migrates the specification's 0.1 example form: `provider_info`, `parameters`, `provider`, `method`", () => {
    const { manual: migrated, warnings } = migrateLegacyManual({
      utcp_version: '0.1.0',
      provider_info: { name: 'weather_api', version: '2.3.0' },
      tools: [
        {
          name: 'get_weather',
          description: 'Get weather data',
          parameters: { type: 'object', properties: { location: { type: 'string' } } },
          provider: { provider_type: 'http', url: 'https://api.weather.com/current', method: 'get' },
        },
      ],
    });
    expect(migrated).toEqual({
      utcp_version: '1.1.0',
      manual_version: '2.3.0',
      info: { title: 'weather_api', version: '2.3.0' },
      tools: [
        {
          name: 'get_weather',
          description: 'Get weather data',
          inputs: { type: 'object', properties: { location: { type: 'string' } } },
          tool_call_template: { call_template_type: 'http', url: 'https://api.weather.com/current', http_method: 'GET' },
        },
      ],
    });
    expect(warnings).toEqual(expect.arrayContaining(['`parameters` renamed `inputs` (1 tool).', 'http `method` renamed `http_method` (1 tool).']));
    expect(() => parseManual(migrated)).not.toThrow();
  });

  it('counts each kind of change once across tools', () => {
    const provider = { provider_type: 'http', url: 'https://x.test' };
    const { warnings } = migrateLegacyManual({
      version: '1',
      tools: [1, 2, 3].map((n) => ({ name: `t${n}`, tool_provider: provider })),
    });
    expect(warnings).toContain('`tool_provider` renamed `tool_call_template` (3 tools).');
  });

  it('leaves providers without a UTCP 1.1 call template for validation to refuse', () => {
    const grpc = { provider_type: 'grpc', host: 'x.test', port: 50051, service_name: 'S', method_name: 'M' };
    const { warnings } = migrateLegacyManual(legacy(grpc));
    expect(warnings).toContain('`grpc` providers have no UTCP 1.1 call template here and were left as they were (1 tool).');
    expect(() => parseManualWithWarnings(legacy(grpc))).toThrow(/call_template_type: expected one of http/);
  });

  it('returns anything that is not a 0.1 manual as it is, without warnings', () => {
    const current = manual();
    expect(migrateLegacyManual(current)).toEqual({ manual: current, warnings: [] });
    expect(migrateLegacyManual('nonsense')).toEqual({ manual: 'nonsense', warnings: [] });
  });

  it('never repeats secrets or unusual values in its warnings', () => {
    const { warnings } = migrateLegacyManual({
      version: 'sk-live-123456 with spaces',
      tools: [{ name: 'x', tool_provider: { provider_type: 'http', url: 'https://x.test', auth: { auth_type: 'api_key', api_key: 'sk-live-123456' } } }],
    });
    expect(warnings.join('\n')).not.toContain('sk-live');
  });
});
