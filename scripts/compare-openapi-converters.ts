import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { OpenApiConverter } from '@utcp/http';
import { parse as parseYaml } from 'yaml';

/**
 * `npm run build && node scripts/compare-openapi-converters.ts`: converts the OpenAPI fixtures of
 * test/fixtures/openapi with the registry's converter (`src/utcp/openapi.ts`, built) and with the UTCP
 * SDK's `OpenApiConverter` (`@utcp/http`), and prints per document: tools, time, tools the registry's
 * manual validation (`parseManual`) accepts, names UTCP refuses, tools with auth, unresolved `$ref`s
 * left in schemas, JSON size and warnings. The README's "OpenAPI conversion" section quotes its output.
 */
const { convertOpenApi } = (await import(new URL('../dist/src/utcp/openapi.js', import.meta.url).href)) as typeof import('../src/utcp/openapi.ts');
const { parseManual } = (await import(new URL('../dist/src/utcp/manual.schema.js', import.meta.url).href)) as typeof import('../src/utcp/manual.schema.ts');

const FIXTURES = new URL('../test/fixtures/openapi/', import.meta.url);
const DOCUMENTS = ['petstore.yaml', 'petstore-expanded.yaml', 'uspto.yaml', 'api-with-examples.yaml', 'callback-example.yaml', 'link-example.yaml', 'jira-platform.json.gz', 'github-api.json.gz'];
const SOURCE = 'https://api.example.com/openapi.json';

type Tool = { name: string; inputs?: unknown; outputs?: unknown; tool_call_template?: { auth?: unknown } };

function load(file: string): Record<string, unknown> {
  const bytes = readFileSync(new URL(file, FIXTURES));
  const text = file.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
  return (file.endsWith('.yaml') ? parseYaml(text) : JSON.parse(text)) as Record<string, unknown>;
}

/** `$ref`s into the document (`#/components/…`, `#/definitions/…`) left in a schema: a client cannot resolve them. */
function danglingRefs(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((n, v) => n + danglingRefs(v), 0);
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  for (const [key, v] of Object.entries(value)) {
    if (key === '$ref' && typeof v === 'string' && /^#\/(components|definitions|paths)\//.test(v)) n++;
    else n += danglingRefs(v);
  }
  return n;
}

/**
 * Tools of `manual` the registry would store: each alone through its manual validation, after dropping
 * the `timeout` the SDK adds to every http call template (not a field of UTCP 1.1's http template, so
 * the validation would refuse every tool for it alone).
 */
function accepted(tools: Tool[]): number {
  let ok = 0;
  for (const tool of tools) {
    const copy = JSON.parse(JSON.stringify(tool)) as Tool & { tool_call_template?: { timeout?: unknown } };
    delete copy.tool_call_template?.timeout;
    try {
      parseManual({ utcp_version: '1.1.0', manual_version: '1.0.0', tools: [copy] });
      ok++;
    } catch {
      // refused
    }
  }
  return ok;
}

interface Row {
  tools: number;
  ms: number;
  accepted: number;
  withAuth: number;
  danglingRefs: number;
  mb: number;
  warnings: number | string;
  /** Tool names other than `[A-Za-z0-9_]+`, which UTCP tool names (and the registry) refuse. */
  badNames: number;
}

function describe(tools: Tool[], ms: number, warnings: number | string): Row {
  return {
    tools: tools.length,
    ms: Math.round(ms),
    accepted: accepted(tools),
    withAuth: tools.filter((t) => t.tool_call_template?.auth).length,
    danglingRefs: tools.reduce((n, t) => n + danglingRefs(t.inputs) + danglingRefs(t.outputs), 0),
    mb: Math.round((JSON.stringify(tools).length / 2 ** 20) * 10) / 10,
    warnings,
    badNames: tools.filter((t) => !/^[A-Za-z0-9_]+$/.test(t.name)).length,
  };
}

const rows: string[] = ['| document | converter | tools | ms | accepted by parseManual | names not [A-Za-z0-9_] | with auth | dangling $refs | JSON MB | warnings |', '|---|---|---|---|---|---|---|---|---|---|'];
for (const file of DOCUMENTS) {
  const document = load(file);
  let t0 = performance.now();
  const ours = await convertOpenApi(structuredClone(document), { sourceUrl: SOURCE });
  const oursRow = describe((ours.manual as { tools: Tool[] }).tools, performance.now() - t0, ours.warnings.length);
  // The SDK logs what it skips on the console: count those lines as its warnings.
  let logged = 0;
  const { warn, log, error } = console;
  console.warn = console.log = console.error = () => void logged++;
  let sdkRow: Row | string;
  try {
    t0 = performance.now();
    const manual = new OpenApiConverter(structuredClone(document), { specUrl: SOURCE }).convert() as unknown as { tools: Tool[] };
    sdkRow = describe(manual.tools, performance.now() - t0, `${logged} console lines`);
  } catch (e) {
    sdkRow = `threw: ${(e as Error).message.slice(0, 120)}`;
  } finally {
    Object.assign(console, { warn, log, error });
  }
  const line = (who: string, r: Row | string) =>
    typeof r === 'string' ? `| ${file} | ${who} | ${r} | | | | | | | |` : `| ${file} | ${who} | ${r.tools} | ${r.ms} | ${r.accepted} | ${r.badNames} | ${r.withAuth} | ${r.danglingRefs} | ${r.mb} | ${r.warnings} |`;
  rows.push(line('registry', oursRow), line('@utcp/http', sdkRow));
}
process.stdout.write(`${rows.join('\n')}\n`);
