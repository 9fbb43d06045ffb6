import { type ChildProcess, spawn } from 'node:child_process';

/** A registry started as its own OS process, as an operator would run it. */
export interface RegistryProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` (`https://` when serving TLS), read from the startup log line. */
  url: string;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/** Environment without anything that would point the registry elsewhere than the test wants. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(DATABASE_|REDIS_|REGISTRY_|PORT$|HOST$|LOG_LEVEL$|NODE_ENV$)/.test(key)) delete env[key];
  }
  return { ...env, HOST: '127.0.0.1', PORT: '0', ...extra };
}

/**
 * Spawns `command args` and waits for the "ready at" log line (up to `timeoutMs`). Rejects with
 * the process output when it exits or times out before that.
 */
export function spawnRegistry(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 90_000,
): Promise<RegistryProcess> {
  const child = spawn(command, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`registry did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready at (https?:\/\/[\d.]+:\d+)\/graphql/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`registry exited with ${code} before it was ready:\n${output}`));
    });
  });
}

/** Runs a command to completion and returns its exit code and output. */
export function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

/** Whether a process with this pid still exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A `client_credentials` access token from the registry at `url` (a spawned process); throws unless it answers 200. */
export async function clientCredentialsToken(url: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  if (response.status !== 200) throw new Error(`/oauth/token answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
