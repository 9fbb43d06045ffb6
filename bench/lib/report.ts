import { mkdir, writeFile } from 'node:fs/promises';

/** The headline figures of issue 7, each next to its target. */
export interface Summary {
  catalogRatio: number;
  searchP99Ms100k: number;
  searchGrowth10kTo100k: number;
  searchTop3: number;
  executeAddedP50Ms: number;
  executeAddedP99Ms: number;
  executeThroughputRatio: number;
  attackP99Ratio: number;
  rejectMs: number;
  shieldOverhead: number;
  rssMb100k: number;
}

type Target = { op: '>=' | '<='; value: number; text: string };

export const TARGETS: Record<keyof Summary, Target> = {
  catalogRatio: { op: '>=', value: 0.5, text: '≥ 0.5 × floor' },
  searchP99Ms100k: { op: '<=', value: 20, text: '≤ 20 ms' },
  searchGrowth10kTo100k: { op: '<=', value: 2, text: '≤ 2×' },
  searchTop3: { op: '>=', value: 0.9, text: '≥ 0.9' },
  executeAddedP50Ms: { op: '<=', value: 2, text: '≤ 2 ms' },
  executeAddedP99Ms: { op: '<=', value: 5, text: '≤ 5 ms' },
  executeThroughputRatio: { op: '>=', value: 0.5, text: '≥ 0.5 × direct' },
  attackP99Ratio: { op: '<=', value: 2, text: '≤ 2×' },
  rejectMs: { op: '<=', value: 1, text: '≤ 1 ms' },
  shieldOverhead: { op: '<=', value: 0.1, text: '≤ 10%' },
  rssMb100k: { op: '<=', value: 400, text: '≤ 400 MB' },
};

/** Whether `value` meets the target of `key`; false for NaN (a figure that could not be measured). */
export function meets(key: keyof Summary, value: number): boolean {
  const target = TARGETS[key];
  if (!Number.isFinite(value)) return false;
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

/** A number for a table: fixed decimals, thousands separated. */
export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** One row of the Markdown table. */
export interface Row {
  measure: string;
  registry: string;
  baseline: string;
  key: keyof Summary;
  figure: string;
}

/** The Markdown table of a run: each measure, its floor or baseline, the tracked figure, target and verdict. */
export function markdownTable(rows: Row[], summary: Summary): string {
  const lines = [
    '| measure | registry | floor / baseline | figure | target | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.measure} | ${r.registry} | ${r.baseline} | ${r.figure} | ${TARGETS[r.key].text} | ${meets(r.key, summary[r.key]) ? 'yes' : '**no**'} |`),
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
