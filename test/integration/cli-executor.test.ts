import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import { executeCli } from '../../src/executors/cli.executor.js';
import type { ExecutionOutcome, ExecutionRequest } from '../../src/executors/executor.types.js';
import { rejectionOf } from '../helpers/errors.js';
import { isRunning } from '../helpers/process.js';

const NODE = process.execPath;
const TOOL = fileURLToPath(new URL('../helpers/peers/cli-tool.ts', import.meta.url));
/** The start of a command running the peer tool in `mode`. */
const tool = (mode: string) => `"${NODE}" "${TOOL}" ${mode}`;

interface Echo {
  argv: string[];
  env: Record<string, string | null>;
  cwd: string;
  pid: number;
}

function call(
  commands: Array<{ command: string; append_to_final_output?: boolean; allow_option_arguments?: string[] }>,
  args: Record<string, unknown> = {},
  overrides: Partial<ExecutionRequest> & { env_vars?: Record<string, string> } = {},
): Promise<ExecutionOutcome> {
  const { env_vars, ...rest } = overrides;
  return executeCli({
    toolName: 'local.tool',
    callTemplate: { call_template_type: 'cli', commands, ...(env_vars ? { env_vars } : {}) },
    arguments: args,
    timeoutMs: 10_000,
    maxBytes: 100_000,
    egress: { allowHosts: [], allowCidrs: [] },
    cliAllow: [NODE],
    ...rest,
  });
}

async function echo(template: string, args: Record<string, unknown> = {}): Promise<Echo> {
  return (await call([{ command: `${tool('echo')} ${template}` }], args)).result as Echo;
}

const refusal = (promise: Promise<unknown>) => rejectionOf(promise);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'cli-executor-test-'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('argument placeholders', () => {
  it('replaces each whole-word placeholder with exactly one argv element holding the value', async () => {
    const seen = await echo('--city UTCP_ARG_city_UTCP_END UTCP_ARG_days_UTCP_END UTCP_ARG_metric_UTCP_END "UTCP_ARG_filter_UTCP_END"', {
      city: 'New York',
      days: 3,
      metric: true,
      filter: { tags: ['a', 'b'] },
    });
    expect(seen.argv).toEqual(['--city', 'New York', '3', 'true', '{"tags":["a","b"]}']);
  });

  const injections: Array<[string, string]> = [
    ['a command list', '; rm -rf /'],
    ['command substitution', '$(id)'],
    ['backticks', '`id`'],
    ['a newline', 'first\nsecond; id'],
    ['quotes and spaces', `it's "quoted" and  spaced`],
    ['a glob and a variable', '* $HOME ${PATH}'],
  ];
  for (const [what, value] of injections) {
    it(`passes ${what} through as one inert argv element`, async () => {
      const seen = await echo('UTCP_ARG_value_UTCP_END', { value });
      expect(seen.argv).toEqual([value]);
    });
  }

  it('refuses a value that would be read as an option, with INVALID_ARGUMENTS naming it, before anything runs', async () => {
    const mark = path.join(scratch, 'option');
    for (const value of ['--output=/etc/passwd', '-r/etc/shadow', '--help', '-', '-5']) {
      const error = await refusal(call([{ command: `${tool('echo')} --name UTCP_ARG_name_UTCP_END` }], { name: value }, { env_vars: { MARK_FILE: mark } }));
      expect(error.code, value).toBe(ErrorCode.INVALID_ARGUMENTS);
      expect(error.extensions).toMatchObject({ argument: 'name', command: path.basename(NODE) });
    }
    expect(existsSync(mark)).toBe(false);
    // Not at the start, it is no option.
    expect((await echo('UTCP_ARG_name_UTCP_END', { name: 'a --output=/etc/passwd' })).argv).toEqual(['a --output=/etc/passwd']);
  });

  it('passes an option-looking value where the step lists its placeholder in allow_option_arguments, and only there', async () => {
    const commands = [{ command: `${tool('echo')} UTCP_ARG_flag_UTCP_END UTCP_ARG_name_UTCP_END`, allow_option_arguments: ['flag'] }];
    const outcome = await call(commands, { flag: '--verbose', name: 'x' });
    expect((outcome.result as Echo).argv).toEqual(['--verbose', 'x']);
    const error = await refusal(call(commands, { flag: '--verbose', name: '--help' }));
    expect(error.extensions.argument).toBe('name');
    const unknown = await refusal(call([{ command: `${tool('echo')} UTCP_ARG_name_UTCP_END`, allow_option_arguments: ['other'] }], { name: 'x' }));
    expect(unknown.extensions.reason).toBe('invalid_template');
  });

  it('refuses an earlier command’s output starting with "-" as an argument of a later one, unless allowed', async () => {
    const error = await refusal(call([{ command: `${tool('text')} -r/etc/shadow` }, { command: `${tool('echo')} $CMD_0_OUTPUT` }]));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENTS);
    expect(error.extensions.output).toBe(0);
    const allowed = await call([{ command: `${tool('text')} -r/etc/shadow` }, { command: `${tool('echo')} $CMD_0_OUTPUT`, allow_option_arguments: ['CMD_0_OUTPUT'] }]);
    expect((allowed.result as Echo).argv).toEqual(['-r/etc/shadow']);
  });

  it('passes an empty string as an empty argv element', async () => {
    const seen = await echo('before UTCP_ARG_value_UTCP_END after', { value: '' });
    expect(seen.argv).toEqual(['before', '', 'after']);
  });

  it('refuses a placeholder glued inside a larger word, without running anything', async () => {
    const mark = path.join(scratch, 'glued');
    const error = await refusal(
      call([{ command: `${tool('echo')} --city=UTCP_ARG_city_UTCP_END` }], { city: 'Paris' }, { env_vars: { MARK_FILE: mark } }),
    );
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions.reason).toBe('invalid_template');
    expect(error.message).toMatch(/UTCP_ARG_city_UTCP_END inside a larger word/);
    expect(existsSync(mark)).toBe(false);
  });

  it('refuses a placeholder as the executable', async () => {
    const error = await refusal(call([{ command: 'UTCP_ARG_program_UTCP_END --version' }], { program: NODE }));
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions.reason).toBe('invalid_template');
  });

  it('refuses a missing argument with BAD_USER_INPUT naming it, before any command runs', async () => {
    const mark = path.join(scratch, 'missing');
    const error = await refusal(
      call(
        [{ command: tool('text first') }, { command: `${tool('echo')} UTCP_ARG_city_UTCP_END` }],
        { other: 'x' },
        { env_vars: { MARK_FILE: mark } },
      ),
    );
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.extensions.argument).toBe('city');
    expect(error.message).toContain('"city"');
    expect(existsSync(mark)).toBe(false);
  });

  it('refuses shell syntax in the template itself', async () => {
    for (const command of [`${tool('text')} a | tee /tmp/x`, `${tool('text')} $(id)`, `${tool('text')} $HOME`]) {
      const error = await refusal(call([{ command }]));
      expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
      expect(error.extensions.reason).toBe('invalid_template');
    }
  });
});

describe('several commands', () => {
  it('passes $CMD_0_OUTPUT to a second command as one argv element (trailing newline removed)', async () => {
    const { result } = await call([{ command: `${tool('text')} hello '; $(id)'` }, { command: `${tool('echo')} --input $CMD_0_OUTPUT \${CMD_0_OUTPUT}` }]);
    expect((result as Echo).argv).toEqual(['--input', 'hello ; $(id)', 'hello ; $(id)']);
  });

  it('refuses $CMD_<i>_OUTPUT inside a larger word or naming a later command', async () => {
    const glued = await refusal(call([{ command: tool('text a') }, { command: `${tool('echo')} --input=$CMD_0_OUTPUT` }]));
    expect(glued.message).toMatch(/whole word/);
    const later = await refusal(call([{ command: `${tool('echo')} $CMD_1_OUTPUT` }, { command: tool('text a') }]));
    expect(later.extensions.reason).toBe('invalid_template');
  });

  it('returns only the last output by default, and combines the outputs marked append_to_final_output', async () => {
    const last = await call([{ command: tool('text first') }, { command: tool('text second') }]);
    expect(last.result).toBe('second');
    const combined = await call([
      { command: tool('text first'), append_to_final_output: true },
      { command: tool('text hidden') },
      { command: tool('text third') },
    ]);
    expect(combined.result).toBe('first\nthird');
    expect(combined.bytes).toBe('first\nthird\n'.length);
  });

  it('parses JSON output and counts its bytes', async () => {
    const outcome = await call([{ command: `${tool('echo')} UTCP_ARG_x_UTCP_END` }], { x: 'é' });
    expect((outcome.result as Echo).argv).toEqual(['é']);
    expect(outcome.bytes).toBe(Buffer.byteLength(`${JSON.stringify(outcome.result)}\n`));
  });
});

describe('process isolation', () => {
  it('gives the process the template env_vars, a scrubbed environment without the registry’s variables, and a fresh private working directory removed afterwards', async () => {
    process.env.CLI_EXECUTOR_CANARY = 'registry-secret';
    try {
      const first = (await call([{ command: tool('echo') }], {}, { env_vars: { GREETING: 'hello' } })).result as Echo;
      const second = (await call([{ command: tool('echo') }])).result as Echo;
      expect(first.env.GREETING).toBe('hello');
      expect(first.env.CLI_EXECUTOR_CANARY).toBeNull();
      expect(first.env.NODE_OPTIONS).toBeNull();
      expect(first.env.HOME).toBe(first.cwd);
      expect(path.basename(first.cwd)).toMatch(/^registry-/);
      expect(second.cwd).not.toBe(first.cwd);
      expect(existsSync(first.cwd)).toBe(false);
      expect(existsSync(second.cwd)).toBe(false);
    } finally {
      delete process.env.CLI_EXECUTOR_CANARY;
    }
  });

  it('refuses env_vars that change how the executable loads code', async () => {
    for (const name of ['LD_PRELOAD', 'NODE_OPTIONS']) {
      const error = await refusal(call([{ command: tool('echo') }], {}, { env_vars: { [name]: '/tmp/evil' } }));
      expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
      expect(error.message).toContain(name);
    }
  });

  it('refuses an executable that is not allow-listed, without running it', async () => {
    const mark = path.join(scratch, 'not-allowed');
    const error = await refusal(call([{ command: tool('echo') }], {}, { cliAllow: ['git'], env_vars: { MARK_FILE: mark } }));
    expect(error.code).toBe(ErrorCode.EGRESS_DENIED);
    expect(error.extensions.reason).toBe('command_not_allowed');
    expect(existsSync(mark)).toBe(false);
    const relative = await refusal(call([{ command: './node --version' }], {}, { cliAllow: ['node', NODE] }));
    expect(relative.extensions.reason).toBe('command_not_allowed');
  });
});

describe('failures', () => {
  it('reports a non-zero exit as EXECUTION_FAILED with the exit code, without echoing stderr', async () => {
    const error = await refusal(call([{ command: tool('fail') }]));
    expect(error.code).toBe(ErrorCode.EXECUTION_FAILED);
    expect(error.extensions.exitCode).toBe(3);
    expect(JSON.stringify({ message: error.message, extensions: error.extensions })).not.toContain('secret-token');
  });

  it('stops at the first failing command', async () => {
    const error = await refusal(call([{ command: tool('fail') }, { command: tool('echo') }]));
    expect(error.extensions.exitCode).toBe(3);
  });

  it('kills the process group when the call exceeds its deadline', async () => {
    const pidFile = path.join(scratch, 'hang.pid');
    const started = Date.now();
    const error = await refusal(call([{ command: tool('hang') }], {}, { timeoutMs: 1_500, env_vars: { PID_FILE: pidFile } }));
    expect(error.code).toBe(ErrorCode.UPSTREAM_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(5_000);
    const pids = (await readFile(pidFile, 'utf8')).split(' ').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) await expect.poll(() => isRunning(pid), { timeout: 5_000, interval: 100 }).toBe(false);
  });

  it('stops a process that prints more than maxBytes with UPSTREAM_TOO_LARGE', async () => {
    const error = await refusal(call([{ command: tool('huge') }], {}, { maxBytes: 10_000 }));
    expect(error.code).toBe(ErrorCode.UPSTREAM_TOO_LARGE);
    expect(error.extensions.maxBytes).toBe(10_000);
  });

  it('cancels a running call when its signal aborts', async () => {
    const pidFile = path.join(scratch, 'cancel.pid');
    const controller = new AbortController();
    const pending = call([{ command: tool('hang') }], {}, { signal: controller.signal, env_vars: { PID_FILE: pidFile } });
    await expect.poll(() => existsSync(pidFile), { timeout: 5_000, interval: 50 }).toBe(true);
    controller.abort(new RegistryError(ErrorCode.EXECUTION_FAILED, 'cancelled'));
    const error = await refusal(pending);
    expect(error.message).toBe('cancelled');
    const pids = (await readFile(pidFile, 'utf8')).split(' ').map(Number);
    for (const pid of pids) await expect.poll(() => isRunning(pid), { timeout: 5_000, interval: 100 }).toBe(false);
  });
});
