import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
/** The Node flags `npm start` and the Dockerfile run the registry with: the bench measures the registry as deployed. */
export const REGISTRY_NODE_FLAGS = ['--max-semi-space-size=8'];

/** A free loopback port (there is a small race until the registry binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** `pid` and every process below it (Linux: /proc/<pid>/task/<tid>/children), e.g. the registry's workers. */
async function processTree(pid: number): Promise<number[]> {
  const tree = [pid];
  for (let i = 0; i < tree.length; i += 1) {
    const tasks = await readdir(`/proc/${tree[i]}/task`).catch(() => [] as string[]);
    for (const task of tasks) {
      const children = await readFile(`/proc/${tree[i]}/task/${task}/children`, 'utf8').catch(() => '');
      tree.push(...children.split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return tree;
}

/**
 * Resident memory of a process and the processes it started (worker processes count: they are the
 * registry's too), from /proc (Linux) or `ps` (that process alone), in MB. The peak is the sum of
 * each process's own peak (VmHWM): an upper bound of the tree's peak.
 */
export async function residentMemory(pid: number): Promise<{ rssMb: number; peakRssMb: number | null; processes: number }> {
  try {
    let rssKb = 0;
    let peakKb = 0;
    const pids = await processTree(pid);
    for (const [i, each] of pids.entries()) {
      const status = await readFile(`/proc/${each}/status`, 'utf8').catch((error: unknown) => {
        if (i === 0) throw error;
        return ''; // a worker that just exited
      });
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      rssKb += kb('VmRSS');
      peakKb += kb('VmHWM');
    }
    return { rssMb: rssKb / 1024, peakRssMb: peakKb / 1024, processes: pids.length };
  } catch {
    const { execFileSync } = await import('node:child_process');
    const rss = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim());
    return { rssMb: rss / 1024, peakRssMb: null, processes: 1 };
  }
}

/**
 * The built registry (`dist/src/main.js`) as a real child process on its own port, so its memory
 * is its own and no load generator shares its event loop. Its output goes to `logFile`.
 */
export class RegistryProcess {
  private child?: ChildProcess;
  private log?: WriteStream;
  private readonly env: Record<string, string>;
  private readonly logFile: string;
  private readonly nodeArgs: string[];
  port = 0;

  constructor(env: Record<string, string>, logFile: string, nodeArgs: string[] = []) {
    this.env = env;
    this.logFile = logFile;
    this.nodeArgs = nodeArgs;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Set when the child exited without being stopped. */
  exited?: string;

  get pid(): number {
    if (this.exited) throw new Error(this.exited);
    if (!this.child?.pid) throw new Error('the registry is not running');
    return this.child.pid;
  }

  /** Starts it and waits until `/readyz` answers 200; rejects when it exits or is not ready in time. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.exited = undefined;
    this.port = await freePort();
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...REGISTRY_NODE_FLAGS, ...this.nodeArgs, MAIN], {
      env: { PATH: process.env.PATH ?? '', ...this.env, HOST: '127.0.0.1', PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    const log = this.log;
    child.once('exit', (code, signal) => {
      // An exit the harness did not ask for shows in the log and in the next measurement's error.
      if (this.child === child) {
        this.exited = `the registry (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}`;
        log.write(`[bench] ${this.exited}\n`);
      }
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the registry exited with ${child.exitCode} while starting; see ${this.logFile}`);
      try {
        const response = await fetch(`${this.url}/readyz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the registry was not ready within ${timeoutMs} ms; see ${this.logFile}`);
  }

  /** SIGTERM, then waits for the process to drain and exit (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 20_000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.stop();
    this.log?.end();
  }
}

/** A GraphQL response whose `errors` are turned into an exception. */
export async function graphql<T>(url: string, token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length || !body.data) {
    throw new Error(`GraphQL ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

/** An access token by the client credentials grant. */
export async function accessToken(url: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = (await response.json()) as { access_token?: string };
  if (!response.ok || !body.access_token) throw new Error(`token request failed (${response.status}): ${JSON.stringify(body)}`);
  return body.access_token;
}
