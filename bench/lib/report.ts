import { mkdir, writeFile } from 'node:fs/promises';

/**
 * The headline figures of issues 7 and 17, measured side by side in one run. Figures with an entry
 * in TARGETS are judged; the peers' own throughput is the reference the ratios divide by. Further
 * numeric figures may be added at run time (e.g. from the search benchmark), hence the index signature.
 */
export interface Summary {
  [figure: string]: number;
  peerCatalogRps: number;
  catalogHitVsPeer: number;
  catalogMissVsPeer: number;
  catalogSqlPerHit: number;
  executeSqlPerCall: number;
  executeAddedP50Ms: number;
  executeAddedP99Ms: number;
  peerExecuteRps: number;
  executeVsPeer: number;
  searchP99Ms100k: number;
  searchGrowth10kTo100k: number;
  searchTop3: number;
  attackP99Ratio: number;
  rejectP50Ms: number;
  rejectP99Ms: number;
  shieldOverhead: number;
  rssMb100k: number;
  rssMbUnderLoad: number;
  openapiImportMs: number;
  openapiImportRssMb: number;
}

type Target = { op: '>=' | '<='; value: number; text: string };

/** The targets of issue 17 (and of issue 7 where it set them). Figures without one are references. */
export const TARGETS: Record<string, Target> = {
  catalogHitVsPeer: { op: '>=', value: 3, text: '≥ 3 × peer' },
  catalogMissVsPeer: { op: '>=', value: 1, text: '≥ 1 × peer' },
  catalogSqlPerHit: { op: '<=', value: 0, text: '0' },
  executeSqlPerCall: { op: '<=', value: 4, text: '≤ 4' },
  executeAddedP50Ms: { op: '<=', value: 3, text: '≤ 3 ms' },
  executeAddedP99Ms: { op: '<=', value: 10, text: '≤ 10 ms' },
  executeVsPeer: { op: '>=', value: 0.5, text: '≥ 0.5 × peer' },
  searchP99Ms100k: { op: '<=', value: 20, text: '≤ 20 ms' },
  searchGrowth10kTo100k: { op: '<=', value: 2, text: '≤ 2×' },
  searchTop3: { op: '>=', value: 0.9, text: '≥ 0.9' },
  attackP99Ratio: { op: '<=', value: 2, text: '≤ 2×' },
  rejectP50Ms: { op: '<=', value: 1, text: '≤ 1 ms' },
  rejectP99Ms: { op: '<=', value: 1, text: '≤ 1 ms' },
  shieldOverhead: { op: '<=', value: 0.1, text: '≤ 10%' },
  rssMb100k: { op: '<=', value: 400, text: '≤ 400 MB' },
  rssMbUnderLoad: { op: '<=', value: 300, text: '≤ 300 MB' },
  openapiImportMs: { op: '<=', value: 10_000, text: '≤ 10 s' },
  openapiImportRssMb: { op: '<=', value: 150, text: '≤ 150 MB' },
};

/** Whether `value` meets the target of `key`; false for NaN (a figure that could not be measured), null without a target. */
export function meets(key: string, value: number | undefined): boolean | null {
  const target = TARGETS[key];
  if (!target) return null;
  if (value === undefined || !Number.isFinite(value)) return false;
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

/** The `targets` of the results: each judged figure of `summary`, its target and whether it was met. */
export function targetsOf(summary: Summary): Record<string, { target: string; met: boolean }> {
  return Object.fromEntries(
    Object.keys(summary)
      .filter((key) => TARGETS[key])
      .map((key) => [key, { target: TARGETS[key]!.text, met: meets(key, summary[key]) === true }]),
  );
}

/** A number for a table: fixed decimals, thousands separated. */
export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** One row of the Markdown table: a figure of the summary (`key`), or a secondary line without one. */
export interface Row {
  measure: string;
  registry: string;
  baseline: string;
  /** The summary figure of this row; none for a secondary line. */
  key?: string;
  figure: string;
}

/**
 * The Markdown table of a run: each measure, its peer or baseline, the figure, its target and
 * verdict ("—" where the figure has no target, e.g. a peer's own throughput or a secondary line).
 */
export function markdownTable(rows: Row[], summary: Summary): string {
  const verdict = (r: Row) => {
    const met = r.key ? meets(r.key, summary[r.key]) : null;
    return met === null ? '—' : met ? 'yes' : '**no**';
  };
  const lines = [
    '| measure | registry | peer / baseline | figure | target | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.measure} | ${r.registry} | ${r.baseline} | ${r.figure} | ${(r.key && TARGETS[r.key]?.text) ?? '—'} | ${verdict(r)} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** JSON with NaN and infinities written as null, numbers rounded to 4 decimals. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? (Number.isFinite(v) ? Math.round(v * 1e4) / 1e4 : null) : v), 2)}\n`;
}

/** Writes `<name>.json` and `<name>.md` into `dir` (and returns their paths). */
export async function writeResults(dir: URL, name: string, json: unknown, markdown: string): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const jsonPath = new URL(`${name}.json`, dir);
  const mdPath = new URL(`${name}.md`, dir);
  await writeFile(jsonPath, toJson(json));
  await writeFile(mdPath, markdown);
  return { json: jsonPath.pathname, markdown: mdPath.pathname };
}
