import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { isObject } from '../discovery/discovery.document.js';
import { allowedExecutable, processVariables, registryPath, scrubbedEnvironment, withWorkingDirectory } from '../discovery/discovery.process.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { appendPath } from '../utcp/call-templates.js';
import type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';

const PLACEHOLDER = /UTCP_ARG_([A-Za-z0-9_]+?)_UTCP_END/;
const WHOLE_PLACEHOLDER = /^UTCP_ARG_([A-Za-z0-9_]+?)_UTCP_END$/;
const OUTPUT_REFERENCE = /^\$(?:CMD_(\d+)_OUTPUT|\{CMD_(\d+)_OUTPUT\})/;

/** One word of a command after splitting: literal text, a tool argument, or an earlier command's output. */
type Word = { kind: 'literal'; text: string } | { kind: 'argument'; name: string } | { kind: 'output'; index: number };

interface Step {
  executable: string;
  name: string;
  words: Word[];
  append: boolean;
  /** Placeholders (argument names, `CMD_<i>_OUTPUT`) whose value may start with `-` here. */
  options: ReadonlySet<string>;
}

/**
 * `cli`: runs the template's `commands` in order, as the UTCP reference does, and returns the output
 * of the commands marked `append_to_final_output` (by default only the last), parsed as JSON when it
 * is JSON. Unlike the reference there is never a shell: each command is split into words once, from
 * the template (sh quoting rules, nothing else), and run with `spawn` (`shell: false`). A
 * `UTCP_ARG_<name>_UTCP_END` placeholder must be a whole word and becomes exactly one argv element
 * holding the argument's value (strings as-is, numbers and booleans as text, objects as JSON; never
 * re-split or interpreted); `$CMD_<i>_OUTPUT` likewise, with command `i`'s output (trailing newlines
 * removed, as `$(…)` does). Only allow-listed executables run (as discovery resolves them), with a
 * scrubbed environment plus `env_vars`, stdin closed, in a fresh private working directory (also
 * `HOME`, removed afterwards; the template's `working_dir` is not used), each in its own process group,
 * killed on timeout, cancellation or exit. Everything is checked before the first command runs.
 * A value starting with `-` would be read as an option (`echo --help`, `date -r/etc/shadow`), so it
 * is refused unless the step lists its placeholder in `allow_option_arguments` (a registry extension):
 * arguments before anything runs, an earlier command's output before the command using it runs.
 *
 * Throws BAD_USER_INPUT (an argument a placeholder needs is missing or holds a NUL byte),
 * INVALID_ARGUMENTS (a value starting with `-` where the template allows no option),
 * EGRESS_DENIED `command_not_allowed`, UPSTREAM_UNAVAILABLE (executable not found or not startable),
 * UPSTREAM_TIMEOUT (the whole call exceeded `timeoutMs`), UPSTREAM_TOO_LARGE (more than `maxBytes`
 * of output), EXECUTION_FAILED (non-zero exit, killed by a signal, or a template the executor
 * refuses, `reason: invalid_template`). stderr is never read: it may hold secrets.
 */
export const executeCli: Executor = async (request) => {
  const deadline = Date.now() + request.timeoutMs;
  const steps = await planSteps(request);
  const values = argumentValues(steps, request.arguments);
  for (const step of steps) {
    for (const word of step.words) if (word.kind === 'argument') refuseOption(step, word.name, values.get(word.name)!, { argument: word.name });
  }
  request.signal?.throwIfAborted();

  const output = await withWorkingDirectory(async (cwd) => {
    const env = scrubbedEnvironment(templateVariables(request.callTemplate.env_vars), cwd);
    const outputs: string[] = [];
    const parts: Buffer[] = [];
    let total = 0;
    for (const [index, step] of steps.entries()) {
      const args = step.words.map((word) => {
        if (word.kind === 'literal') return word.text;
        if (word.kind === 'argument') return values.get(word.name)!;
        const output = outputs[word.index]!.replace(/\n+$/, '');
        refuseOption(step, `CMD_${word.index}_OUTPUT`, output, { output: word.index });
        return output;
      });
      const stdout = await runStep(step, args, { cwd, env, deadline, request });
      outputs[index] = stdout.toString('utf8');
      if (!step.append) continue;
      // As the reference's `echo "$CMD_i_OUTPUT"` does, appended outputs are separated by a newline.
      const separator = parts.length > 0 && parts.at(-1)!.at(-1) !== 0x0a ? Buffer.from('\n') : undefined;
      for (const part of separator ? [separator, stdout] : [stdout]) {
        total += part.length;
        parts.push(part);
      }
      if (total > request.maxBytes) throw tooLarge(step.name, request.maxBytes);
    }
    return Buffer.concat(parts, total);
  });
  return outcome(output);
};

/** Splits and resolves every command, and checks its words, before anything runs. */
async function planSteps(request: ExecutionRequest): Promise<Step[]> {
  const commands = request.callTemplate.commands;
  if (!Array.isArray(commands) || commands.length === 0) throw invalidTemplate('The cli call template needs a non-empty `commands` list');
  const steps: Step[] = [];
  for (const [index, entry] of commands.entries()) {
    if (!isObject(entry) || typeof entry.command !== 'string' || !entry.command.trim()) {
      throw invalidTemplate(`\`commands[${index}].command\` must be a non-empty string`);
    }
    const [first, ...words] = splitWords(entry.command, index);
    if (first!.kind !== 'literal') throw invalidTemplate(`\`commands[${index}]\` must start with a literal executable, not a placeholder or output reference`);
    for (const word of words) {
      if (word.kind === 'output' && word.index >= index) {
        throw invalidTemplate(`\`commands[${index}]\` refers to $CMD_${word.index}_OUTPUT, which is not the output of an earlier command`);
      }
    }
    const executable = await resolveExecutable(first!.text, request.cliAllow);
    const append = typeof entry.append_to_final_output === 'boolean' ? entry.append_to_final_output : index === commands.length - 1;
    steps.push({ executable, name: path.basename(first!.text), words, append, options: optionPlaceholders(entry.allow_option_arguments, words, index) });
  }
  return steps;
}

/** The step's `allow_option_arguments`, each of which must name one of its placeholders. */
function optionPlaceholders(raw: unknown, words: Word[], index: number): ReadonlySet<string> {
  if (raw === undefined || raw === null) return new Set();
  if (!Array.isArray(raw) || raw.some((name) => typeof name !== 'string')) throw invalidTemplate(`\`commands[${index}].allow_option_arguments\` must be a list of placeholder names`);
  const placeholders = new Set(words.flatMap((word) => (word.kind === 'argument' ? [word.name] : word.kind === 'output' ? [`CMD_${word.index}_OUTPUT`] : [])));
  for (const name of raw as string[]) {
    if (!placeholders.has(name)) throw invalidTemplate(`\`commands[${index}].allow_option_arguments\` names "${name}", which is not a placeholder of that command`);
  }
  return new Set(raw as string[]);
}

/**
 * INVALID_ARGUMENTS when `value`, put in place of `placeholder` in `step`, starts with `-` (an option:
 * `-r/etc/shadow`, `--reference=/etc/passwd`, `--help`, `-`) and the step does not allow an option there.
 */
function refuseOption(step: Step, placeholder: string, value: string, details: Record<string, unknown>): void {
  if (!value.startsWith('-') || step.options.has(placeholder)) return;
  const what = 'argument' in details ? `The argument "${placeholder}"` : `The output of command ${String(details.output)}`;
  const message = `${what} starts with "-", which "${step.name}" would read as an option; this tool accepts no option there`;
  const at = 'argument' in details ? appendPath('$', placeholder) : '$';
  throw new RegistryError(ErrorCode.INVALID_ARGUMENTS, message, { ...details, command: step.name, errors: [{ path: at, message: 'must not start with "-" (an option)' }] });
}

/** The argv value of every argument a placeholder names; BAD_USER_INPUT naming one that is missing. */
function argumentValues(steps: Step[], args: Record<string, unknown>): Map<string, string> {
  const values = new Map<string, string>();
  for (const step of steps) {
    for (const word of step.words) {
      if (word.kind !== 'argument' || values.has(word.name)) continue;
      const value = Object.hasOwn(args, word.name) ? args[word.name] : undefined;
      if (value === undefined) {
        throw new RegistryError(ErrorCode.BAD_USER_INPUT, `The argument "${word.name}" is required by the command of this tool`, { argument: word.name });
      }
      const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
      if (text.includes('\0')) {
        throw new RegistryError(ErrorCode.BAD_USER_INPUT, `The argument "${word.name}" may not contain a NUL character`, { argument: word.name });
      }
      values.set(word.name, text);
    }
  }
  return values;
}

function templateVariables(extra: unknown): Record<string, string> {
  const variables = rethrow(() => processVariables(extra, 'The cli call template’s `env_vars`'));
  for (const [name, value] of Object.entries(variables)) {
    if (name.includes('=') || name.includes('\0') || value.includes('\0')) throw invalidTemplate(`The cli call template’s \`env_vars\` has an invalid variable "${name.replaceAll('\0', '')}"`);
  }
  return variables;
}

/** Discovery's allow-list resolution, with its refusals recoded for execution. */
async function resolveExecutable(command: string, allow: readonly string[]): Promise<string> {
  const name = path.basename(command);
  try {
    return await allowedExecutable(command, allow, registryPath());
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    const reason = error.extensions.reason;
    if (reason === 'command_not_allowed') {
      throw new RegistryError(
        ErrorCode.EGRESS_DENIED,
        `The command "${name}" is not allow-listed; an operator must add it (by name or absolute path) to the CLI allow-list`,
        { reason, command: name },
      );
    }
    if (reason === 'not_found') throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The command "${name}" was not found or is not executable`, { reason, command: name });
    throw new RegistryError(ErrorCode.EXECUTION_FAILED, error.message, { reason, command: name });
  }
}

/** Runs `body`, recoding a discovery helper's `invalid_template` refusal as EXECUTION_FAILED. */
function rethrow<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof RegistryError && error.code === ErrorCode.DISCOVERY_FAILED) throw invalidTemplate(error.message);
    throw error;
  }
}

interface RunContext {
  cwd: string;
  env: Record<string, string>;
  deadline: number;
  request: ExecutionRequest;
}

/**
 * Runs one command in its own process group, stdin and stderr on /dev/null, and resolves with its
 * stdout once it has exited with 0. The group is killed when the deadline passes, the output exceeds
 * `maxBytes`, the call is cancelled, and after the command ended (so nothing it started lingers).
 */
function runStep(step: Step, args: string[], context: RunContext): Promise<Buffer> {
  const { request } = context;
  const remaining = context.deadline - Date.now();
  if (remaining <= 0) return Promise.reject(timedOut(step.name, request.timeoutMs));
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(step.executable, args, {
        cwd: context.cwd,
        env: context.env,
        shell: false,
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
        windowsHide: true,
      });
    } catch {
      reject(new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The command "${step.name}" could not be started`, { command: step.name }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: unknown;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group has already ended.
      }
    };
    const stop = (error: unknown) => {
      failure ??= error;
      killGroup();
    };
    const timer = setTimeout(() => stop(timedOut(step.name, request.timeoutMs)), remaining);
    const onAbort = () => stop(request.signal!.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      size += chunk.length;
      if (size > request.maxBytes) stop(tooLarge(step.name, request.maxBytes));
      else chunks.push(chunk);
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      stop(new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The command "${step.name}" could not be started${error.code ? ` (${error.code})` : ''}`, { command: step.name }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      killGroup();
      if (failure !== undefined) reject(failure);
      else if (code === 0) resolve(Buffer.concat(chunks, size));
      else if (code !== null) {
        reject(new RegistryError(ErrorCode.EXECUTION_FAILED, `The command "${step.name}" exited with code ${code}`, { command: step.name, exitCode: code }));
      } else {
        reject(new RegistryError(ErrorCode.EXECUTION_FAILED, `The command "${step.name}" was ended by ${signal ?? 'a signal'}`, { command: step.name, signal }));
      }
    });
  });
}

/** The final output as the result: JSON when it parses as JSON, else the text minus one trailing newline. */
function outcome(output: Buffer): ExecutionOutcome {
  const text = output.toString('utf8');
  let result: unknown;
  try {
    result = JSON.parse(text);
  } catch {
    result = text.replace(/\r?\n$/, '');
  }
  return { result, bytes: output.length };
}

/**
 * Splits a command line into words with sh quoting (single quotes literal, double quotes with `\"`
 * `\\` `\$` `` \` `` escapes, backslash outside quotes) and nothing else: pipes, redirections and `$`
 * expansions are refused, except `$CMD_<i>_OUTPUT` (or `${CMD_<i>_OUTPUT}`) as a whole word.
 * Placeholders are recognised after quote removal and must be whole words too.
 */
export function splitWords(line: string, index: number): Word[] {
  const where = `\`commands[${index}]\``;
  const shell = (what: string) => invalidTemplate(`${where} uses ${what}; commands run without a shell`);
  const words: Word[] = [];
  let text = '';
  let references: number[] = [];
  let inWord = false;
  let quote: '"' | "'" | undefined;

  const dollar = (at: number): number => {
    const match = OUTPUT_REFERENCE.exec(line.slice(at));
    if (!match) throw shell('expansion (`$`, backquotes) other than $CMD_<i>_OUTPUT');
    references.push(Number(match[1] ?? match[2]));
    return at + match[0].length - 1;
  };
  const finish = () => {
    if (references.length > 0) {
      if (references.length > 1 || text !== '') throw invalidTemplate(`${where} uses $CMD_${references[0]}_OUTPUT inside a larger word; it must be a whole word`);
      words.push({ kind: 'output', index: references[0]! });
    } else {
      const whole = WHOLE_PLACEHOLDER.exec(text);
      if (whole) words.push({ kind: 'argument', name: whole[1]! });
      else if (PLACEHOLDER.test(text)) {
        throw invalidTemplate(`${where} has the placeholder ${PLACEHOLDER.exec(text)![0]} inside a larger word; a placeholder must be a whole word`);
      } else words.push({ kind: 'literal', text });
    }
    text = '';
    references = [];
    inWord = false;
  };

  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else text += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) text += line[++i];
      else if (ch === '$') i = dollar(i);
      else if (ch === '`') throw shell('expansion (`$`, backquotes)');
      else text += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) finish();
      continue;
    }
    inWord = true;
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '\\' && i + 1 < line.length) text += line[++i];
    else if ('|&;<>()'.includes(ch)) throw shell('pipes, redirections or command lists');
    else if (ch === '$') i = dollar(i);
    else if (ch === '`') throw shell('expansion (`$`, backquotes)');
    else text += ch;
  }
  if (quote) throw invalidTemplate(`${where} has an unclosed ${quote} quote`);
  if (inWord) finish();
  if (words.length === 0) throw invalidTemplate(`${where} is empty`);
  return words;
}

function invalidTemplate(message: string): RegistryError {
  return new RegistryError(ErrorCode.EXECUTION_FAILED, message, { reason: 'invalid_template' });
}

function timedOut(name: string, timeoutMs: number): RegistryError {
  return new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `The command "${name}" did not finish within ${timeoutMs} ms`, { command: name, timeoutMs });
}

function tooLarge(name: string, maxBytes: number): RegistryError {
  return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The command "${name}" printed more than ${maxBytes} bytes`, { command: name, maxBytes });
}
