import { execFile } from 'node:child_process';
import path from 'node:path';
import { ErrorCode, RegistryError } from '../errors.js';
import { discoveryFailed, isObject, manualFromDocument, parseJson } from './discovery.document.js';
import { allowedExecutable, processVariables, registryPath, scrubbedEnvironment, withWorkingDirectory } from './discovery.process.js';
import type { DiscoveryContext, Discoverer } from './discovery.types.js';

const PLACEHOLDER = /UTCP_ARG_[A-Za-z0-9_]+?_UTCP_END/;

interface Step {
  executable: string;
  args: string[];
  name: string;
  append: boolean;
}

/**
 * `cli`: as the reference, runs the template's `commands` once, in order, with no tool arguments, and
 * parses the output of the commands marked `append_to_final_output` (by default only the last) as a
 * JSON UTCP manual (falling back, as the Python reference does, to a line that holds one).
 * Unlike the reference, there is no shell: each command is split into words (quotes and backslashes
 * as in sh, nothing else) and run with `execFile`; pipes, redirections, `$` expansions and
 * placeholders are refused. Only allow-listed executables run, with a scrubbed environment plus the
 * template's `env_vars`, in a private working directory that is also their `HOME` (the template's
 * `working_dir` is not used),
 * within the deadline and with at most `maxBytes` of output. A non-zero exit fails the discovery.
 */
export const discoverCli: Discoverer = async (template, context) => {
  const warnings: string[] = [];
  const commands = template.commands;
  if (!Array.isArray(commands) || commands.length === 0) {
    throw discoveryFailed('invalid_template', 'The cli call template needs a non-empty `commands` list');
  }
  if (template.working_dir !== undefined) warnings.push('`working_dir` is not used: discovery runs in a private working directory');
  const variables = processVariables(template.env_vars, 'The cli call template’s `env_vars`');

  const steps: Step[] = [];
  for (const [index, entry] of commands.entries()) {
    if (!isObject(entry) || typeof entry.command !== 'string' || !entry.command.trim()) {
      throw discoveryFailed('invalid_template', `\`commands[${index}].command\` must be a non-empty string`);
    }
    if (PLACEHOLDER.test(entry.command)) {
      throw discoveryFailed('invalid_template', `\`commands[${index}]\` has an argument placeholder; discovery runs the commands without arguments`);
    }
    const [command, ...args] = splitCommand(entry.command, index);
    const executable = await allowedExecutable(command!, context.options.cliAllow, registryPath());
    const append = typeof entry.append_to_final_output === 'boolean' ? entry.append_to_final_output : index === commands.length - 1;
    steps.push({ executable, args, name: path.basename(command!), append });
  }

  const output = await withWorkingDirectory(async (cwd) => {
    const env = scrubbedEnvironment(variables, cwd);
    const parts: Buffer[] = [];
    let total = 0;
    for (const step of steps) {
      const stdout = await run(step, cwd, env, context);
      if (!step.append) continue;
      total += stdout.length;
      if (total > context.options.maxBytes) throw tooLarge(step.name, context.options.maxBytes);
      parts.push(stdout);
    }
    return Buffer.concat(parts).toString('utf8');
  });

  const source = 'The output of the discovery command';
  let document: unknown;
  try {
    document = parseJson(output, source);
  } catch (error) {
    // The Python reference also accepts a manual printed on one line among other output.
    document = output
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith('{') && line.endsWith('}'))
      .map((line) => {
        try {
          return JSON.parse(line) as unknown;
        } catch {
          return undefined;
        }
      })
      .find((candidate) => isObject(candidate) && Array.isArray(candidate.tools));
    if (document === undefined) throw error;
  }
  const result = await manualFromDocument(document, source, { openApi: false });
  return { manual: result.manual, warnings: [...warnings, ...result.warnings] };
};

function run(step: Step, cwd: string, env: Record<string, string>, context: DiscoveryContext): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      step.executable,
      step.args,
      {
        cwd,
        env,
        shell: false,
        encoding: 'buffer',
        maxBuffer: context.options.maxBytes,
        timeout: context.remainingMs(),
        killSignal: 'SIGKILL',
        signal: context.signal,
        windowsHide: true,
      },
      (error, stdout) => {
        if (!error) {
          resolve(stdout);
          return;
        }
        const failure = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: NodeJS.Signals | null };
        if (failure.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') reject(tooLarge(step.name, context.options.maxBytes));
        else if (failure.name === 'AbortError' || failure.killed || failure.signal === 'SIGKILL') {
          reject(new RegistryError(ErrorCode.UPSTREAM_TIMEOUT, `The discovery command "${step.name}" did not finish in time`, { command: step.name }));
        } else if (failure.code === 'ENOENT') {
          reject(discoveryFailed('not_found', `The discovery command "${step.name}" could not be started (not found)`, { command: step.name }));
        } else if (typeof failure.code === 'string') {
          reject(discoveryFailed('process_failed', `The discovery command "${step.name}" could not be started (${failure.code})`, { command: step.name }));
        } else if (typeof failure.code === 'number') {
          reject(
            discoveryFailed('process_failed', `The discovery command "${step.name}" exited with code ${failure.code}`, {
              command: step.name,
              exitCode: failure.code,
            }),
          );
        } else {
          reject(discoveryFailed('process_failed', `The discovery command "${step.name}" was ended by ${failure.signal ?? 'an error'}`, { command: step.name }));
        }
      },
    );
    // A command waiting for input would otherwise hang until the deadline.
    child.stdin?.end();
  });
}

function tooLarge(name: string, maxBytes: number): RegistryError {
  return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The discovery command "${name}" printed more than ${maxBytes} bytes`, { command: name, maxBytes });
}

/**
 * Splits a command line into words as sh would for quoting (single quotes literal, double quotes
 * with `\"` `\\` escapes, backslash outside quotes), and refuses what would need a shell.
 */
export function splitCommand(line: string, index: number): string[] {
  const shell = (what: string) =>
    discoveryFailed('invalid_template', `\`commands[${index}]\` uses ${what}; discovery runs commands without a shell`);
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word += line[++i];
      else if (ch === '$' || ch === '`') throw shell('expansion (`$`, backquotes)');
      else word += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '\\' && i + 1 < line.length) word += line[++i];
    else if ('|&;<>()'.includes(ch)) throw shell('pipes, redirections or command lists');
    else if (ch === '$' || ch === '`') throw shell('expansion (`$`, backquotes)');
    else word += ch;
  }
  if (quote) throw discoveryFailed('invalid_template', `\`commands[${index}]\` has an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw discoveryFailed('invalid_template', `\`commands[${index}].command\` is empty`);
  return words;
}
