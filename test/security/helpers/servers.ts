/**
 * Private PostgreSQL and Redis servers for fault tests: each test that needs a database or Redis to
 * go away starts its own on a free port, stops and restarts it at will, and removes it afterwards.
 * The machine's shared servers are never touched.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The newest PostgreSQL server binaries installed (Debian layout), if any. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

const PG_BIN = postgresBin();

/** Whether this machine can run a private PostgreSQL (initdb and pg_ctl) and a private redis-server. */
export const HAS_PRIVATE_POSTGRES = PG_BIN !== undefined;
export const HAS_PRIVATE_REDIS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some(existsSync);

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** initdb refuses to run as root: as root, run the server as the `postgres` system user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no postgres user to run a private PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: a server URL test databases are created on. */
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it fast (open connections are cut) and starts it again. */
  restart(): Promise<void>;
  /** Stops it and removes its data directory. */
  remove(): Promise<void>;
}

/** Starts a throwaway PostgreSQL cluster (trust auth, fsync off) on a free port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (!PG_BIN) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const dir = await mkdtemp(path.join(tmpdir(), 'private-pg-'));
  const data = path.join(dir, 'data');
  const user = postgresUser();
  if (user) await chown(dir, user.uid, user.gid);
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  await run(path.join(PG_BIN, 'initdb'), ['-A', 'trust', '-U', 'postgres', '-D', data, '--no-sync'], { ...as, env: { ...process.env, LC_ALL: 'C' } });
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
  const ctl = (...args: string[]) => run(path.join(PG_BIN, 'pg_ctl'), ['-D', data, '-w', '-t', '60', ...args], { ...as, env: { ...process.env, LC_ALL: 'C' } });
  const start = async () => {
    await ctl('-o', options, '-l', path.join(dir, 'log'), 'start');
  };
  const stop = async () => {
    await ctl('-m', 'fast', 'stop').catch(() => undefined);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async remove() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Counts rows with plain SQL on a database, for checks that must not go through the registry. */
export async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL): connections drop at once, as in a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** Starts a throwaway redis-server (no persistence) on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 15_000);
      started.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/i.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
    });
    started.stdout!.resume();
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async kill() {
      const current = child;
      if (!current || current.exitCode !== null) return;
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill('SIGKILL');
      await exited;
    },
  };
}
