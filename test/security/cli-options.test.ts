import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * CLI option injection (issue 16, item 4): a placeholder is one argv element, but a value starting
 * with `-` would be read as an option (`echo --help`, `date -r/etc/shadow`). Run with the real
 * coreutils `echo` and `date`, through executeTool.
 */

const EXECUTE = `mutation($input: ExecuteToolInput!) { executeTool(input: $input) { status result error { code message details } } }`;

interface Execution {
  status: string;
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> | null } | null;
}

let registry: TestRegistry;
let agent: string;

async function execute(tool: string, args: Record<string, unknown>): Promise<Execution> {
  const res = await registry.graphql<{ executeTool: Execution }>(EXECUTE, { input: { tool, arguments: args } }, { authorization: `Bearer ${agent}` });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.executeTool;
}

const cli = (name: string, properties: Record<string, unknown>, commands: Record<string, unknown>[]) =>
  manualTool({ name, inputs: { type: 'object', properties }, outputs: {}, tool_call_template: { call_template_type: 'cli', commands } });

beforeAll(async () => {
  registry = await startRegistry({ seed: true, env: { REGISTRY_CLI_ALLOW: 'echo,date' } });
  agent = await registry.login({ roles: ['agent'] });
  await new ToolService(registry.db.fork()).importManual(
    'clock',
    manual([
      cli('format', { format: { type: 'string' } }, [{ command: 'date -u UTCP_ARG_format_UTCP_END' }]),
      cli('echoed', { text: { type: 'string' } }, [{ command: 'echo -e UTCP_ARG_text_UTCP_END', append_to_final_output: false }, { command: 'date -u $CMD_0_OUTPUT' }]),
      cli('flagged', { flags: { type: 'string', enum: ['-n', '-e'] }, text: { type: 'string' } }, [
        { command: 'echo UTCP_ARG_flags_UTCP_END UTCP_ARG_text_UTCP_END', allow_option_arguments: ['flags'] },
      ]),
    ]),
    INLINE_MANUAL,
  );
});
afterAll(async () => {
  await registry?.close();
});

describe('CLI option injection', () => {
  it('refuses shell.echo {message: "--help"} as INVALID_ARGUMENTS instead of printing echo’s usage', async () => {
    const plain = await execute('shell.echo', { message: 'hello' });
    expect(plain).toMatchObject({ status: 'SUCCEEDED', result: 'hello' });
    for (const message of ['--help', '--version', '-e', '-']) {
      const refused = await execute('shell.echo', { message });
      expect(refused.status, message).toBe('FAILED');
      expect(refused.error, message).toMatchObject({ code: 'INVALID_ARGUMENTS', details: { argument: 'message' } });
      expect(refused.error!.message).toMatch(/starts with "-"/);
      expect(JSON.stringify(refused.result ?? '')).not.toMatch(/Usage|coreutils/i);
    }
  });

  it('refuses date -r/etc/shadow and --reference=/etc/passwd, so no file outside the root is disclosed', async () => {
    const ok = await execute('clock.format', { format: '+%Y' });
    expect(ok).toMatchObject({ status: 'SUCCEEDED', result: new Date().getUTCFullYear() });
    for (const format of ['-r/etc/shadow', '--reference=/etc/passwd', '-r', '-f/etc/passwd']) {
      const refused = await execute('clock.format', { format });
      expect(refused.status, format).toBe('FAILED');
      expect(refused.error, format).toMatchObject({ code: 'INVALID_ARGUMENTS', details: { argument: 'format' } });
      expect(refused.result).toBeNull();
    }
  });

  it('refuses an earlier command’s output that would become an option of a later one', async () => {
    const ok = await execute('clock.echoed', { text: '+%Y' });
    expect(ok).toMatchObject({ status: 'SUCCEEDED', result: new Date().getUTCFullYear() });
    // echo -e turns \055 into "-": the output, not the argument, starts with "-".
    const refused = await execute('clock.echoed', { text: '\\055r/etc/shadow' });
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toMatchObject({ code: 'INVALID_ARGUMENTS', details: { output: 0 } });
    expect(refused.result).toBeNull();
  });

  it('accepts an option at a position the template opts into with allow_option_arguments, and only there', async () => {
    const flagged = await execute('clock.flagged', { flags: '-n', text: 'no newline' });
    expect(flagged).toMatchObject({ status: 'SUCCEEDED', result: 'no newline' });
    const refused = await execute('clock.flagged', { flags: '-e', text: '--help' });
    expect(refused.error).toMatchObject({ code: 'INVALID_ARGUMENTS', details: { argument: 'text' } });
  });
});
