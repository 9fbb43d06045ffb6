import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** What a fresh clone runs: sources, tests, benchmarks, scripts, CI and the test config. */
const SCANNED = ['src', 'test', 'bench', 'scripts', '.ci', 'console', 'vitest.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
/** Third-party documents (copied with their licence) and generated code are data, not references. */
const SKIPPED = new Set(['node_modules', 'fixtures', 'generated']);
const SELF = fileURLToPath(import.meta.url);
const ROOT = process.cwd();

/** Hostile inputs of security tests: paths that must be refused, never read. */
const HOSTILE_INPUTS = new Set(['../../../../etc/passwd']);

/** References to things only the authors' machines have. */
const FORBIDDEN: { pattern: RegExp; what: string }[] = [
  { pattern: /\.\.['"`]?\s*[/,]\s*['"`]?shared\b/, what: 'the shared directory beside the repository' },
  { pattern: /(?<![\w.-])\/(?:work|home|Users|root)\/[\w.-]/, what: 'an absolute path on a developer machine' },
  { pattern: /\b[A-Z]:\\\\?[\w.-]+\\/, what: 'an absolute Windows path' },
];

/**
 * The benchmark's results folder holds what runs on this machine wrote (profiles, logs, which name
 * local paths and are ignored by git), except the committed results, which are scanned.
 */
const RESULTS = join('bench', 'results');
const COMMITTED_RESULTS = new Set(['latest.json', 'latest.md']);
function localOutput(path: string): boolean {
  const inResults = relative(join(ROOT, RESULTS), path);
  return !inResults.startsWith('..') && !COMMITTED_RESULTS.has(inResults);
}

async function files(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return localOutput(path) ? [] : [path];
  const entries = (await readdir(path, { withFileTypes: true })).filter((entry) => !SKIPPED.has(entry.name));
  return (await Promise.all(entries.map((entry) => files(join(path, entry.name))))).flat();
}

/** Every reference to a path outside the repository in `file`, as `file:line: why`. */
function escapes(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, index) => {
    const where = `${relative(ROOT, file)}:${index + 1}`;
    for (const { pattern, what } of FORBIDDEN) if (pattern.test(line)) found.push(`${where}: ${what}: ${line.trim()}`);
    // A relative path (an import, `new URL(…, import.meta.url)`, a path joined to the file's directory)
    // that climbs out of the repository from the file that holds it.
    for (const match of line.matchAll(/(?<![\w./])((?:\.\.\/)+[^\s'"`$]*)/g)) {
      const path = match[1]!;
      if (HOSTILE_INPUTS.has(path)) continue;
      if (relative(ROOT, resolve(dirname(file), path)).startsWith('..')) found.push(`${where}: ${path} leaves the repository`);
    }
  });
  return found;
}

describe('the repository is self-contained', () => {
  it('has no reference to paths outside it in sources, tests, benchmarks, scripts, CI or config', async () => {
    const scanned = (await Promise.all(SCANNED.map((path) => files(join(ROOT, path))))).flat().filter((file) => file !== SELF);
    expect(scanned.length).toBeGreaterThan(100);
    const found = (await Promise.all(scanned.map(async (file) => escapes(file, await readFile(file, 'utf8'))))).flat();
    expect(found).toEqual([]);
  });

  it('recognises each kind of outside reference', () => {
    const file = join(ROOT, 'test', 'unit', 'example.test.ts');
    expect(escapes(file, "readFile('../" + "shared/openapi/petstore.yaml')")).toHaveLength(1);
    expect(escapes(file, "join(root, '..', '" + "shared')")).toHaveLength(1);
    expect(escapes(file, "const spec = '/" + "work/shared/DESIGN.md';")).toHaveLength(1);
    expect(escapes(file, "import x from '../../../outside/x.js';")).toHaveLength(1);
    expect(escapes(file, "import x from '../../src/errors.js';")).toEqual([]);
    expect(escapes(file, "new URL('../fixtures/openapi/petstore.yaml', import.meta.url)")).toEqual([]);
  });
});
