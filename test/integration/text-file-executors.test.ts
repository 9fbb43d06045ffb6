import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import type { ExecutionOutcome, ExecutionRequest } from '../../src/executors/executor.types.js';
import { executeFile } from '../../src/executors/file.executor.js';
import { executeText } from '../../src/executors/text.executor.js';
import { rejectionOf } from '../helpers/errors.js';

function request(callTemplate: ExecutionRequest['callTemplate'], overrides: Partial<ExecutionRequest> = {}): ExecutionRequest {
  return {
    toolName: 'local.tool',
    callTemplate,
    arguments: {},
    timeoutMs: 5_000,
    maxBytes: 1_000,
    egress: { allowHosts: [], allowCidrs: [] },
    cliAllow: [],
    ...overrides,
  };
}

const text = (content: unknown, overrides: Partial<ExecutionRequest> = {}): Promise<ExecutionOutcome> =>
  executeText(request({ call_template_type: 'text', content }, overrides));

describe('text tools', () => {
  it('return their content parsed when it is JSON', async () => {
    const content = '{"answer": 42, "tags": ["a", "b"]}';
    expect(await text(content)).toEqual({ result: { answer: 42, tags: ['a', 'b'] }, bytes: Buffer.byteLength(content) });
    expect((await text('[1, 2]')).result).toEqual([1, 2]);
  });

  it('return other content as the text itself', async () => {
    expect((await text('Opening hours:\nMon-Fri 9-17\n')).result).toBe('Opening hours:\nMon-Fri 9-17\n');
    expect((await text('{"not": json')).result).toBe('{"not": json');
    expect((await text('')).result).toBe('');
  });

  it('refuse content larger than maxBytes, counted in UTF-8 bytes', async () => {
    const error = await rejectionOf(text('é'.repeat(600)));
    expect(error.extensions).toMatchObject({ code: ErrorCode.UPSTREAM_TOO_LARGE, maxBytes: 1_000 });
    expect((await text('é'.repeat(500))).bytes).toBe(1_000);
  });

  it('refuse a template without string content', async () => {
    const error = await rejectionOf(text({ inline: true }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'invalid_template' });
  });
});

describe('file tools', () => {
  let scratch: string;
  let root: string;
  const file = (filePath: string, overrides: Partial<ExecutionRequest> = {}): Promise<ExecutionOutcome> =>
    executeFile(request({ call_template_type: 'file', file_path: filePath }, { fileRoot: root, ...overrides }));
  const refusal = (promise: Promise<unknown>) => rejectionOf<RegistryError>(promise);

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'file-executor-test-'));
    root = path.join(scratch, 'root');
    await mkdir(path.join(root, 'sub'), { recursive: true });
    await writeFile(path.join(root, 'data.json'), '{"city": "Lyon", "days": [1, 2]}');
    await writeFile(path.join(root, 'sub', 'notes.txt'), 'plain notes\n');
    await writeFile(path.join(root, 'big.txt'), 'y'.repeat(1_001));
    await writeFile(path.join(scratch, 'secret.txt'), 'outside the root');
    await symlink(path.join(scratch, 'secret.txt'), path.join(root, 'escape-link'));
    await symlink(path.join(scratch), path.join(root, 'escape-dir'));
    await symlink('data.json', path.join(root, 'inner-link'));
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
  });

  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('return a file inside the root, by relative or absolute path, parsed when it is JSON', async () => {
    expect(await file('data.json')).toEqual({ result: { city: 'Lyon', days: [1, 2] }, bytes: 32 });
    expect((await file(path.join(root, 'sub', 'notes.txt'))).result).toBe('plain notes\n');
    expect((await file('sub/../data.json')).result).toEqual({ city: 'Lyon', days: [1, 2] });
  });

  it('follow a symlink that stays inside the root', async () => {
    expect((await file('inner-link')).result).toEqual({ city: 'Lyon', days: [1, 2] });
  });

  it.each([
    ['a `..` escape', '../secret.txt'],
    ['a `..` escape through a subdirectory', 'sub/../../secret.txt'],
    ['an absolute path outside the root', () => path.join(scratch, 'secret.txt')],
    ['a symlink leading out', 'escape-link'],
    ['a path through a symlinked directory leading out', 'escape-dir/secret.txt'],
    ['the root itself', '.'],
  ])('refuse %s', async (_, filePath) => {
    const given = typeof filePath === 'function' ? filePath() : filePath;
    const error = await refusal(file(given));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EGRESS_DENIED, reason: 'file_not_allowed' });
    expect(error.message).toContain(JSON.stringify(given));
    if (!path.isAbsolute(given)) expect(error.message).not.toContain(scratch);
  });

  it('refuse every file when no root is configured', async () => {
    const error = await refusal(file(path.join(root, 'data.json'), { fileRoot: undefined }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EGRESS_DENIED, reason: 'file_not_allowed' });
  });

  it('report a configured root that does not exist', async () => {
    const error = await refusal(file('data.json', { fileRoot: path.join(scratch, 'missing-root') }));
    expect(error.extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, reason: 'root_missing' });
  });

  it('report a missing file, a directory and a FIFO (without waiting for a writer)', async () => {
    expect((await refusal(file('nothing-here.json'))).extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, reason: 'not_found' });
    expect((await refusal(file('sub'))).extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, reason: 'not_a_file' });
    expect((await refusal(file('pipe'))).extensions).toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, reason: 'not_a_file' });
  });

  it('refuse a file larger than maxBytes', async () => {
    const error = await refusal(file('big.txt'));
    expect(error.extensions).toMatchObject({ code: ErrorCode.UPSTREAM_TOO_LARGE, maxBytes: 1_000 });
    expect((await file('big.txt', { maxBytes: 1_001 })).bytes).toBe(1_001);
  });

  it('refuse a template without a file path', async () => {
    const error = await refusal(executeFile(request({ call_template_type: 'file' }, { fileRoot: root })));
    expect(error.extensions).toMatchObject({ code: ErrorCode.EXECUTION_FAILED, reason: 'invalid_template' });
  });
});
