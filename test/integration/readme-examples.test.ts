import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateSigningJwk } from '../../src/security/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { cleanEnv, type RegistryProcess, spawnRegistry } from '../helpers/process.js';
import { atPath, EXPECTED_OUTPUT, type FencedBlock, fencedBlocks, graphqlBlock, isShell, matchesShape, objectTypeKeys, type ReadmeOperation } from '../helpers/readme.js';

/**
 * README.md is executed: every ```bash/```sh/```shell and ```graphql block runs, in README order,
 * against one registry started as the Quick start starts it. The conventions are documented in
 * README's "README examples are tests"; the parser is test/helpers/readme.ts.
 */

const ROOT = new URL('../../', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');
const BLOCKS = fencedBlocks(README).filter((block) => isShell(block) || block.lang === 'graphql');

/** The origin the README's examples address; replaced by the test registry's own. */
const README_ORIGIN = /\b(https?|wss?):\/\/(?:127\.0\.0\.1|localhost):4000\b/g;

/**
 * Shell commands deliberately not run, each with its reason. A matching line (with its `\`
 * continuation lines) is replaced by a no-op; the rest of its block still runs.
 */
const NOT_RUN: { pattern: RegExp; reason: string }[] = [
  {
    pattern: /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*npm (?:ci && npm )?start\b/,
    reason: 'serves in the foreground: the test runs that server itself (dist/src/main.js, built by the global setup) with the variables the Quick start’s `npm start` lines set',
  },
  { pattern: /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*npm (?:ci && npm )?test\b/, reason: 'runs the whole suite, this file included' },
  { pattern: /^createdb\b/, reason: 'creates a database on the reader’s PostgreSQL server; with TEST_DATABASE_URL every example runs on a scratch database there' },
  { pattern: /(?:^|\s)(?:>>?\s*\.env|\.\s+\.\/\.env)\b/, reason: 'writes or reads the reader’s .env in the project root' },
  { pattern: /\bnpm run admin:create\b/, reason: 'creates an admin in the reader’s database `registry`; the test’s admin is the one the start prints (or REGISTRY_BOOTSTRAP_CLIENT_ID on PostgreSQL)' },
  { pattern: /^docker compose\b/, reason: 'needs Docker and builds images' },
  { pattern: /\bnpm run bench/, reason: 'minutes of load on the whole machine: benchmarks are measured by `npm run bench`, never in tests' },
];

/** Error codes that only say a public host could not be reached; tolerated when the test machine cannot resolve that host either. */
const OFFLINE_CODES = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', 'DISCOVERY_FAILED']);

/** The environment of the Quick start’s `VAR=value npm start` lines, which the test registry is started with. */
function quickStartEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const block of BLOCKS.filter((b) => isShell(b) && b.heading === 'Quick start')) {
    for (const line of block.code.split('\n')) {
      const start = /^((?:[A-Z_][A-Z0-9_]*=\S*\s+)+)npm start\b/.exec(line.trim());
      for (const assignment of start?.[1]!.trim().split(/\s+/) ?? []) {
        const [name, ...value] = assignment.split('=');
        env[name!] = value.join('=');
      }
    }
  }
  return env;
}

/** A shell block made runnable: commands on the skip list become no-ops, `# →` lines print markers between outputs. */
function prepareShell(code: string): { script: string; runs: boolean; expected: string[] } {
  const out: string[] = [];
  const expected: string[] = [];
  let runs = false;
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const arrow = EXPECTED_OUTPUT.exec(line);
    if (arrow) {
      expected.push(arrow[1]!);
      out.push(`printf '\\n@@readme-output-${expected.length}@@\\n'`);
      continue;
    }
    const skip = NOT_RUN.find((entry) => entry.pattern.test(line.trim()));
    if (skip) {
      out.push(': not run');
      while (lines[i]!.trimEnd().endsWith('\\') && i + 1 < lines.length) {
        i++;
        out.push('');
      }
      continue;
    }
    if (line.trim() && !line.trim().startsWith('#')) runs = true;
    out.push(line);
  }
  return { script: out.join('\n'), runs, expected };
}

let registry: RegistryProcess;
let database: TestDatabase | undefined;
let admin: { clientId: string; clientSecret: string };
const tokens = new Map<string, string | undefined>([['anonymous', undefined]]);
/** Variables the README’s shell blocks set, carried into the next ones as one shell session would. */
const shellState: Record<string, string> = {};
/** Every `data` answered so far, newest last (for `"$.path"` variables). */
const answers: unknown[] = [];
let scratch: string;

async function tokenFor(clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${registry.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function post(query: string, token: string | undefined, variables?: Record<string, unknown>) {
  const response = await fetch(`${registry.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, unknown> | null; errors?: unknown[] } };
}

/** The token for `# as: <role>`: the admin's, none for `anonymous`, else a principal with that one role, created once. */
async function tokenAs(role: string): Promise<string | undefined> {
  if (!tokens.has(role)) {
    const { body } = await post(
      'mutation($input: CreatePrincipalInput!) { createPrincipal(input: $input) { principal { clientId } clientSecret userErrors { message } } }',
      tokens.get('admin'),
      { input: { name: `readme ${role}`, kind: 'SERVICE', roles: [role] } },
    );
    const created = body.data?.createPrincipal as { principal: { clientId: string }; clientSecret: string } | undefined;
    if (!created?.principal) throw new Error(`could not create a principal with role ${role}: ${JSON.stringify(body)}`);
    tokens.set(role, await tokenFor(created.principal.clientId, created.clientSecret));
  }
  return tokens.get(role);
}

/** `"$.a.b"` variable values, resolved from the latest earlier answer that has `a.b`. */
function resolveVariables(variables: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!variables) return undefined;
  const resolve = (value: unknown): unknown => {
    if (typeof value === 'string' && value.startsWith('$.')) {
      for (const answer of [...answers].reverse()) {
        const found = atPath(answer, value.slice(2));
        if (found !== undefined) return found;
      }
      throw new Error(`no earlier answer has ${value.slice(2)} (variable ${value})`);
    }
    if (Array.isArray(value)) return value.map(resolve);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
    return value;
  };
  return resolve(variables) as Record<string, unknown>;
}

/**
 * Whether a failure only says that a public host could not be reached while the test machine
 * cannot resolve it either (it is offline): an unreachable-upstream code, and a host named in the
 * message or in a URL of the example that does not resolve here.
 */
async function offline(code: unknown, message: unknown, example: string): Promise<boolean> {
  if (!OFFLINE_CODES.has(String(code))) return false;
  const hosts = [
    ...[...String(message).matchAll(/"([a-z0-9.-]+\.[a-z]{2,})"/gi)].map((m) => m[1]!),
    ...[...example.matchAll(/\bhttps?:\/\/([a-z0-9.-]+\.[a-z]{2,})\b/gi)].map((m) => m[1]!),
  ];
  for (const host of hosts) {
    if (await lookup(host).then(() => false, () => true)) return true;
  }
  return false;
}

/** Fails on every non-empty `userErrors` in an answer, and on a tool call that did not succeed, unless only the network is missing. */
async function expectNoFailures(data: unknown, name: string, example: string): Promise<void> {
  const problems: string[] = [];
  const walk = async (value: unknown, path: string): Promise<void> => {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) await walk(item, `${path}[${i}]`);
      return;
    }
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'userErrors' && Array.isArray(child)) {
        for (const error of child as { code?: string; message?: string }[]) {
          if (!(await offline(error.code, error.message, example))) problems.push(`${path}.userErrors: ${JSON.stringify(error)}`);
        }
      } else await walk(child, `${path}.${key}`);
    }
  };
  await walk(data, name);
  const execution = (data as { executeTool?: { status?: string; error?: { code?: string; message?: string } | null } } | null)?.executeTool;
  if (execution && !['SUCCEEDED', 'QUEUED', 'RUNNING'].includes(execution.status ?? '')) {
    if (!(await offline(execution.error?.code, execution.error?.message, example))) problems.push(`executeTool: ${JSON.stringify(execution)}`);
  }
  expect(problems, 'the example failed').toEqual([]);
}

async function runOperation(operation: ReadmeOperation): Promise<void> {
  const token = await tokenAs(operation.as);
  const variables = resolveVariables(operation.variables);
  if (operation.kind === 'subscription') {
    const received = await subscribeOnce(operation.document, token, variables);
    expect(received.errors, `subscription errors: ${JSON.stringify(received.errors)}`).toBeUndefined();
    if (received.first) answers.push(received.first);
    if (operation.expected) expect(matchesShape(received.first, operation.expected)).toBeUndefined();
    return;
  }
  const { status, body } = await post(operation.document, token, variables);
  expect(body.errors, `GraphQL errors for\n${operation.document}`).toBeUndefined();
  expect(status).toBe(200);
  answers.push(body.data);
  await expectNoFailures(body.data, operation.kind, operation.document);
  if (operation.expected) expect(matchesShape(body, operation.expected)).toBeUndefined();
}

/** Subscribes over graphql-ws and waits up to 3 s for the first event, the end, or an error. */
async function subscribeOnce(query: string, token: string | undefined, variables?: Record<string, unknown>) {
  const client = createClient({
    url: `${registry.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
  });
  try {
    return await new Promise<{ first?: unknown; errors?: unknown }>((resolve) => {
      const timer = setTimeout(() => resolve({}), 3_000);
      client.subscribe(
        { query, variables },
        {
          next: (message) => {
            clearTimeout(timer);
            resolve(message.errors ? { errors: message.errors } : { first: message.data });
          },
          error: (error) => {
            clearTimeout(timer);
            resolve({ errors: error instanceof Error ? error.message : ((error as { reason?: string }).reason ?? error) });
          },
          complete: () => {
            clearTimeout(timer);
            resolve({});
          },
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

/** Runs a shell block with `bash -euo pipefail` in the project root, with the session's variables; returns the outputs between `# →` markers. */
async function runShell(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const stateFile = join(scratch, `state-${randomBytes(4).toString('hex')}`);
  const child = spawn('bash', ['-euo', 'pipefail', '-c', `set -a\n${script}\nenv -0 > ${JSON.stringify(stateFile)}`], {
    cwd: ROOT,
    env: cleanEnv({ ...shellState, CLIENT_ID: admin.clientId, CLIENT_SECRET: admin.clientSecret }),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 90_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code === 0) {
    const before = cleanEnv({});
    const after = Object.fromEntries(
      (await readFile(stateFile, 'utf8'))
        .split('\0')
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
    for (const [name, value] of Object.entries(after)) {
      if (!['PWD', 'OLDPWD', 'SHLVL', '_'].includes(name) && before[name] !== value) shellState[name] = value;
    }
  }
  return { code, stdout, stderr };
}

function title(block: FencedBlock, suffix = ''): string {
  return `${block.heading || '(top)'} › ${block.lang} block ${block.index} (README line ${block.line})${suffix}`;
}

describe('README.md examples, run against a registry started as the Quick start says', () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'readme-'));
    const env: Record<string, string> = quickStartEnv();
    if (process.env.TEST_DATABASE_URL) {
      // "Running against PostgreSQL": server keys, an admin from the environment, the example catalog on request.
      database = await createTestDatabase();
      const config = database.config as { url: string };
      admin = { clientId: 'readme-admin', clientSecret: randomBytes(24).toString('base64url') };
      Object.assign(env, {
        DATABASE_URL: config.url,
        REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
        REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
        REGISTRY_SEED: 'bundled',
        REGISTRY_BOOTSTRAP_CLIENT_ID: admin.clientId,
        REGISTRY_BOOTSTRAP_CLIENT_SECRET: admin.clientSecret,
        ...(process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL } : {}),
      });
    }
    registry = await spawnRegistry(process.execPath, ['dist/src/main.js'], env, 170_000);
    if (!database) {
      // The embedded start prints the admin's client credentials once.
      const clientId = /client_id: +(\S+)/.exec(registry.output())?.[1];
      const clientSecret = /client_secret: +(\S+)/.exec(registry.output())?.[1];
      if (!clientId || !clientSecret) throw new Error(`no admin credentials in the start-up output:\n${registry.output()}`);
      admin = { clientId, clientSecret };
    }
    tokens.set('admin', await tokenFor(admin.clientId, admin.clientSecret));
  }, 180_000);

  afterAll(async () => {
    if (registry) {
      process.kill(-registry.child.pid!, 'SIGTERM');
      await registry.exited;
    }
    await database?.drop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('finds the examples, and every command on the skip list is still in the README', () => {
    expect(BLOCKS.filter(isShell).length).toBeGreaterThan(3);
    expect(BLOCKS.filter((b) => b.lang === 'graphql').length).toBeGreaterThan(3);
    const lines = BLOCKS.filter(isShell).flatMap((b) => b.code.split('\n').map((l) => l.trim()));
    for (const entry of NOT_RUN) expect(lines.some((line) => entry.pattern.test(line)), `unused skip entry ${entry.pattern}`).toBe(true);
  });

  for (const block of BLOCKS) {
    if (isShell(block)) {
      const prepared = prepareShell(block.code);
      it(title(block, prepared.runs ? '' : ' — only commands that are not run; syntax checked'), { timeout: 120_000 }, async () => {
        const syntax = await runShellSyntax(block.code);
        expect(syntax.code, `bash -n: ${syntax.stderr}`).toBe(0);
        const { script, expected, runs } = prepareShell(block.code);
        if (!runs) return;
        const result = await runShell(script.replace(README_ORIGIN, (_, scheme: string) => `${scheme}://${new URL(registry.url).host}`));
        expect(result.code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
        const outputs = result.stdout.split(/\n@@readme-output-\d+@@\n/);
        outputs.forEach((output, i) => {
          if (expected[i] !== undefined) expect(matchesShape(output, expected[i]), `output ${i + 1}`).toBeUndefined();
          // Without a `# →` that shows it, an answer carrying GraphQL errors or an OAuth error fails the block (curl exits 0 on them).
          else expect(output, `output ${i + 1} is an error answer`).not.toMatch(/"errors":\[|^\s*\{"error":"/m);
        });
      });
    } else {
      it(title(block), { timeout: 60_000 }, async () => {
        const parsed = graphqlBlock(block.code);
        if (parsed.kind === 'sdl') {
          // Type definitions for another subgraph: each entity it names must be a registry entity with that key.
          const { body } = await post('{ _service { sdl } }', undefined);
          const sdl = (body.data as { _service: { sdl: string } })._service.sdl;
          const entities = new Map(objectTypeKeys(parse(sdl).definitions).map((type) => [type.name, type.keys]));
          for (const type of parsed.types) {
            expect(entities.has(type.name), `the registry has no type ${type.name}`).toBe(true);
            for (const key of type.keys) expect(entities.get(type.name), `${type.name} has no @key(fields: "${key}")`).toContain(key);
          }
          return;
        }
        for (const operation of parsed.operations) await runOperation(operation);
      });
    }
  }
});

/** `bash -n`: the whole block, commands not run included, must at least parse. */
function runShellSyntax(code: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('bash', ['-n'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(code);
  return new Promise((resolve) => child.once('exit', (exit) => resolve({ code: exit, stderr })));
}
