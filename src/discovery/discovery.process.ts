import { constants } from 'node:fs';
import { access, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { discoveryFailed, stringRecord } from './discovery.document.js';

/** Environment variables a provider may not set: they change how an allow-listed executable loads code. */
const FORBIDDEN_ENV = /^(LD_|DYLD_)|^(NODE_OPTIONS|NODE_PATH|PYTHONSTARTUP|PYTHONPATH|PERL5OPT|PERL5LIB|RUBYOPT|BASH_ENV|ENV|IFS)$/i;

/**
 * The variables a template asks its process to get (`env_vars`, an MCP server's `env`), checked:
 * strings only, and none that change how an executable loads code (`LD_PRELOAD`, `NODE_OPTIONS`, …).
 */
export function processVariables(extra: unknown, what: string): Record<string, string> {
  const variables = stringRecord(extra, `${what} variable`);
  for (const name of Object.keys(variables)) {
    if (FORBIDDEN_ENV.test(name)) throw discoveryFailed('invalid_template', `${what} may not set ${name}: it changes how the executable loads code`);
  }
  return variables;
}

/**
 * The environment of a discovery process: the small set the MCP SDK deems safe to inherit (`LOGNAME`,
 * `PATH`, `SHELL`, `TERM`, `USER`; never the registry's secrets), `HOME` set to the process's private
 * working directory (so no dotfile credentials of the registry's user are picked up), then the
 * template's own `variables`.
 */
export function scrubbedEnvironment(variables: Record<string, string>, home: string): Record<string, string> {
  return { ...getDefaultEnvironment(), HOME: home, ...variables };
}

/** The registry's own `PATH` (as the scrubbed environment inherits it), where bare command names are looked up. */
export function registryPath(): string | undefined {
  return getDefaultEnvironment().PATH;
}

/**
 * Resolves `command` to the absolute path that will run, if the allow-list permits it. A bare name
 * (`git`) is looked up on the registry's `PATH` (never a template's) and allowed when the allow-list names it, or names the
 * absolute path it resolves to; an absolute path is allowed only when the allow-list holds that path
 * (compared after resolving symlinks), so a basename entry never allows `/anywhere/git`. Relative
 * paths are refused. Throws DISCOVERY_FAILED `command_not_allowed` or `not_found`.
 */
export async function allowedExecutable(command: string, allow: readonly string[], envPath: string | undefined): Promise<string> {
  const name = path.basename(command);
  const refuse = () =>
    discoveryFailed(
      'command_not_allowed',
      `The command "${name}" is not allow-listed for discovery; an operator must add it (by name or absolute path) to the CLI allow-list`,
      { command: name },
    );
  const absoluteEntries = allow.filter((entry) => path.isAbsolute(entry));
  if (!command.includes('/') && !command.includes('\\')) {
    const byName = allow.includes(command);
    if (!byName && absoluteEntries.length === 0) throw refuse();
    const resolved = await findOnPath(command, envPath);
    if (!resolved) {
      if (!byName) throw refuse();
      throw discoveryFailed('not_found', `The command "${command}" was not found on the registry's PATH`, { command: name });
    }
    if (byName || (await matchesAny(resolved, absoluteEntries))) return resolved;
    throw refuse();
  }
  if (!path.isAbsolute(command)) {
    throw discoveryFailed('command_not_allowed', `The command "${name}" is a relative path; use an allow-listed name or absolute path`, { command: name });
  }
  if (!(await matchesAny(command, absoluteEntries))) throw refuse();
  if (!(await isExecutableFile(command))) throw discoveryFailed('not_found', `The command "${name}" does not exist or is not executable`, { command: name });
  return path.normalize(command);
}

async function matchesAny(file: string, entries: readonly string[]): Promise<boolean> {
  const normalised = path.normalize(file);
  const real = await realpath(file).catch(() => undefined);
  for (const entry of entries) {
    if (path.normalize(entry) === normalised) return true;
    if (real !== undefined && (await realpath(entry).catch(() => undefined)) === real) return true;
  }
  return false;
}

async function findOnPath(command: string, envPath: string | undefined): Promise<string | undefined> {
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Runs `body` in a fresh private working directory, removed afterwards whatever happens. */
export async function withWorkingDirectory<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'registry-discovery-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}
