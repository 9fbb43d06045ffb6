/**
 * A Try-it call as text to paste elsewhere: a curl command or a GraphQL document. Neither holds
 * the console's token: the curl command reads `$TOKEN` from the shell.
 */

const SELECTION = 'id status result durationMs error { code message details }';

/** The executeTool request with `$input`, as a client would send it. */
const DOCUMENT = `mutation ExecuteTool($input: ExecuteToolInput!) { executeTool(input: $input) { ${SELECTION} } }`;

/** `text` inside single quotes for a POSIX shell. */
const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** A curl command that runs the call on the registry at `origin` with the token in `$TOKEN`. */
export function asCurl(origin: string, tool: string, args: unknown): string {
  const body = JSON.stringify({ query: DOCUMENT, variables: { input: { tool, arguments: args } } });
  return [`curl -sS ${shellQuote(`${origin}/graphql`)}`, `-H 'content-type: application/json'`, `-H "authorization: Bearer $TOKEN"`, `--data-raw ${shellQuote(body)}`].join(' \\\n  ');
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** A JSON value as a GraphQL literal, or null when an object key is not a GraphQL name (then only a variable can carry it). */
function literal(value: unknown, indent: string): string | null {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    const items = value.map((v) => literal(v, inner));
    return items.includes(null) ? null : `[${items.join(', ')}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const parts: string[] = [];
  for (const [key, v] of entries) {
    const text = literal(v, inner);
    if (!NAME.test(key) || text === null) return null;
    parts.push(`${inner}${key}: ${text}`);
  }
  return `{\n${parts.join('\n')}\n${indent}}`;
}

/**
 * The call as a GraphQL mutation with its arguments written in place; when they cannot be written
 * as a literal (a key that is not a GraphQL name), the mutation takes `$input` and the variables follow.
 */
export function asGraphQL(tool: string, args: unknown): string {
  const selection = `    ${SELECTION}\n  }\n}`;
  const inline = literal(args, '    ');
  if (inline !== null) return `mutation ExecuteTool {\n  executeTool(input: {\n    tool: ${JSON.stringify(tool)}\n    arguments: ${inline}\n  }) {\n${selection}`;
  return `mutation ExecuteTool($input: ExecuteToolInput!) {\n  executeTool(input: $input) {\n${selection}\n\n# Variables:\n${JSON.stringify({ input: { tool, arguments: args } }, null, 2).replace(/^/gm, '# ')}`;
}
