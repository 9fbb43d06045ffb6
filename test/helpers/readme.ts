import { type DefinitionNode, Kind, parse } from 'graphql';

/**
 * The README's runnable examples and the conventions that make them tests
 * (test/integration/readme-examples.test.ts; documented in README's "README examples are tests").
 */

/** One fenced code block of a Markdown document. */
export interface FencedBlock {
  /** The first word of the info string, lower-cased (`bash`, `graphql`, …); '' without one. */
  lang: string;
  /** The block's text, without its fences. */
  code: string;
  /** The nearest ATX heading above the block ('' before the first). */
  heading: string;
  /** 1-based position among the blocks of that heading that have the same `lang`. */
  index: number;
  /** 1-based line of the opening fence. */
  line: number;
}

const OPENING = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;

/**
 * The fenced code blocks of a CommonMark document, in order: backtick or tilde fences of three or
 * more, indented up to three spaces, closed by a fence of the same character at least as long (or
 * by the end of the document). Headings are ATX headings (`## Title`); setext headings and
 * indented code blocks are not recognised (the README uses neither).
 */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: FencedBlock[] = [];
  const counts = new Map<string, number>();
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const open = OPENING.exec(lines[i]!);
    if (!open || (open[2]![0] === '`' && open[3]!.includes('`'))) {
      const title = HEADING.exec(lines[i]!);
      if (title) heading = (title[2] ?? '').trim();
      continue;
    }
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const closing = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}[ \\t]*$`);
    const body: string[] = [];
    const line = i + 1;
    for (i++; i < lines.length && !closing.test(lines[i]!); i++) {
      // Content lines lose up to as many leading spaces as the opening fence had.
      body.push(lines[i]!.replace(new RegExp(`^ {0,${indent.length}}`), ''));
    }
    const lang = (info.trim().split(/\s+/)[0] ?? '').toLowerCase();
    const key = `${heading}\u0000${lang}`;
    const index = (counts.get(key) ?? 0) + 1;
    counts.set(key, index);
    blocks.push({ lang, code: body.join('\n'), heading, index, line });
  }
  return blocks;
}

/** Whether a block is a shell example the README test runs. */
export const isShell = (block: FencedBlock) => ['bash', 'sh', 'shell'].includes(block.lang);

/** One operation of a ```graphql block, with the conventions its comments declare. */
export interface ReadmeOperation {
  kind: 'query' | 'mutation' | 'subscription';
  /** The operation as written, with the block's fragments appended. */
  document: string;
  /** `# as: <role>` above it: who sends it (`admin` when absent; `anonymous`: no token). */
  as: string;
  /** `# variables: {json}` above it. A string value `"$.a.b"` stands for `a.b` of the latest earlier answer that has it. */
  variables?: Record<string, unknown>;
  /** `# → …` lines below it: the expected response, in shape (see {@link matchesShape}). */
  expected?: string;
}

/** A ```graphql block: operations to run, or type definitions (SDL) to check. */
export type GraphqlBlock =
  | { kind: 'operations'; operations: ReadmeOperation[] }
  | { kind: 'sdl'; types: { name: string; keys: string[] }[] };

const CONVENTION = /^\s*#\s*(as|variables):\s*(.*)$/;
const EXPECTED = /^\s*#\s*→\s?(.*)$/;

/**
 * Splits a ```graphql block into its operations (each sent on its own, so a block may show
 * several anonymous ones) and reads the comment conventions around each: `# as:` and
 * `# variables:` lines between the previous definition and this one, `# →` lines between this
 * definition and the next. A block of type definitions only is returned as SDL, with each object
 * type's `@key(fields: …)` values. Throws on a block that does not parse, mixes the two, or
 * carries a malformed convention.
 */
export function graphqlBlock(code: string): GraphqlBlock {
  const document = parse(code);
  const definitions = document.definitions;
  const executable = definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION || d.kind === Kind.FRAGMENT_DEFINITION);
  if (executable.length === 0) {
    return { kind: 'sdl', types: objectTypeKeys(definitions) };
  }
  if (executable.length !== definitions.length) throw new Error('A ```graphql block holds either operations or type definitions, not both');
  const text = (node: DefinitionNode) => code.slice(node.loc!.start, node.loc!.end);
  const fragments = definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map(text);
  const operations: ReadmeOperation[] = [];
  definitions.forEach((definition, i) => {
    if (definition.kind !== Kind.OPERATION_DEFINITION) return;
    const before = code.slice(i === 0 ? 0 : definitions[i - 1]!.loc!.end, definition.loc!.start).split('\n');
    const after = code.slice(definition.loc!.end, definitions[i + 1]?.loc!.start ?? code.length).split('\n');
    const operation: ReadmeOperation = { kind: definition.operation, document: [text(definition), ...fragments].join('\n'), as: 'admin' };
    for (const line of before) {
      const convention = CONVENTION.exec(line);
      if (convention?.[1] === 'as') operation.as = convention[2]!.trim();
      if (convention?.[1] === 'variables') {
        try {
          operation.variables = JSON.parse(convention[2]!) as Record<string, unknown>;
        } catch (error) {
          throw new Error(`\`# variables:\` is not JSON: ${convention[2]} (${(error as Error).message})`);
        }
      }
    }
    const expected = after.flatMap((line) => EXPECTED.exec(line)?.[1] ?? []);
    if (expected.length > 0) operation.expected = expected.join('\n');
    operations.push(operation);
  });
  return { kind: 'operations', operations };
}

/** Each object type (or extension) of these definitions with the `fields` of its `@key` directives. */
export function objectTypeKeys(definitions: readonly DefinitionNode[]): { name: string; keys: string[] }[] {
  return definitions.flatMap((d) =>
    d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION
      ? [
          {
            name: d.name.value,
            keys: (d.directives ?? [])
              .filter((directive) => directive.name.value === 'key')
              .flatMap((directive) => directive.arguments ?? [])
              .flatMap((argument) => (argument.name.value === 'fields' && argument.value.kind === Kind.STRING ? [argument.value.value] : [])),
          },
        ]
      : [],
  );
}

/** A `# →` line of a shell block: the output expected of the commands since the previous one. */
export const EXPECTED_OUTPUT = EXPECTED;

/** Sentinel for a bare `…` in an expected JSON value. */
const ANY = '\u0000…';

/** Parses an expected output: JSON where a bare `…` is any value; other text stays text. */
function parseExpected(expected: string): { json: true; value: unknown } | { json: false; value: string } {
  let out = '';
  let inString = false;
  for (let i = 0; i < expected.length; i++) {
    const c = expected[i]!;
    if (inString && c === '\\') {
      out += c + (expected[++i] ?? '');
      continue;
    }
    if (c === '"') inString = !inString;
    out += !inString && c === '…' ? JSON.stringify(ANY) : c;
  }
  try {
    return { json: true, value: JSON.parse(out) };
  } catch {
    return { json: false, value: expected };
  }
}

/** A string pattern where `…` stands for any characters. */
function textPattern(expected: string): RegExp {
  return new RegExp(`^${expected.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);
}

function shapeMismatch(actual: unknown, expected: unknown, path: string): string | undefined {
  if (expected === ANY) return undefined;
  if (typeof expected === 'string') {
    return typeof actual === 'string' && textPattern(expected).test(actual) ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: expected an array of ${expected.length}, got ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const mismatch = shapeMismatch(actual[i], expected[i], `${path}[${i}]`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in actual)) return `${path}.${key}: missing`;
      const mismatch = shapeMismatch((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  return Object.is(actual, expected) ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/**
 * Why `actual` (a command's output, or a GraphQL response) does not match an expected output
 * written in the README, or undefined when it does. An expected output that is JSON is matched
 * in shape: every key it shows must be there (others may be too), arrays have its length, a bare
 * `…` is any value and `…` inside a string any characters; other values are compared exactly. An
 * expected output that is not JSON is compared with the trimmed text, `…` matching anything.
 */
export function matchesShape(actual: string | unknown, expected: string): string | undefined {
  const parsed = parseExpected(expected.trim());
  if (!parsed.json) {
    const text = typeof actual === 'string' ? actual.trim() : JSON.stringify(actual);
    return textPattern(parsed.value).test(text) ? undefined : `expected output ${parsed.value}, got ${text}`;
  }
  let value = actual;
  if (typeof actual === 'string') {
    try {
      value = JSON.parse(actual);
    } catch {
      return `expected JSON output ${expected}, got ${actual.trim()}`;
    }
  }
  return shapeMismatch(value, parsed.value, '$');
}

/** The value at a dotted path (`executeTool.id`), or undefined. */
export function atPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
