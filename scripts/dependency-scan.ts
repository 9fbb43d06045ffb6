import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/**
 * The dependency scan CI runs (`node scripts/dependency-scan.ts`): `npm audit --omit=dev --json` over
 * the production dependencies, failing on any high or critical advisory that `.ci/audit-allowlist.json`
 * does not accept. Every allow-list entry names the advisory, why it is accepted, when and until when;
 * an expired entry fails the scan whether or not the advisory is still reported, so each acceptance is
 * reviewed again. A report npm could not produce (the advisory service unreachable) fails too: a scan
 * that did not run must not pass.
 */

/** Severities that fail the scan. */
export const FAILING_SEVERITIES: ReadonlySet<string> = new Set(['high', 'critical']);

/** One accepted advisory. */
export interface AllowListEntry {
  /** The GitHub advisory id (`GHSA-xxxx-xxxx-xxxx`) or npm's numeric advisory id (`source` in the report). */
  id: string;
  /** The package the advisory is about. */
  package: string;
  /** Why it is accepted: why the vulnerable code is not reachable, or what mitigates it. */
  reason: string;
  /** When it was accepted, YYYY-MM-DD. */
  date: string;
  /** The last day it is accepted, YYYY-MM-DD: from the day after, the scan fails until it is reviewed. */
  expires: string;
}

/** An advisory found in the report. */
export interface Finding {
  id: string;
  source: string;
  package: string;
  severity: string;
  title: string;
  url: string;
}

/** What the scan decided, and why. */
export interface ScanDecision {
  ok: boolean;
  /** High and critical advisories no valid entry accepts. */
  failing: Finding[];
  /** High and critical advisories an unexpired entry accepts. */
  allowed: Finding[];
  /** Entries past their expiry date. */
  expired: AllowListEntry[];
  /** Problems with the report or the allow-list itself. */
  errors: string[];
  /** npm produced no report (the advisory service could not be reached or refused the request). */
  noReport: boolean;
}

/** The part of an advisory `npm audit --json` (report version 2) lists in a vulnerability's `via`. */
interface AuditAdvisory {
  source: number | string;
  name: string;
  title?: string;
  url?: string;
  severity: string;
}

interface AuditReport {
  auditReportVersion?: number;
  vulnerabilities?: Record<string, { via?: (AuditAdvisory | string)[] }>;
  error?: { summary?: string };
  message?: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The advisories of a report, once each (a vulnerable package's dependents repeat them by name only). */
function advisoriesOf(report: AuditReport): Finding[] {
  const found = new Map<string, Finding>();
  for (const vulnerability of Object.values(report.vulnerabilities ?? {})) {
    for (const via of vulnerability.via ?? []) {
      if (typeof via === 'string') continue;
      const url = via.url ?? '';
      const ghsa = /GHSA(-[0-9a-z]{4}){3}/i.exec(url)?.[0];
      const source = String(via.source);
      found.set(source, { id: ghsa ?? source, source, package: via.name, severity: via.severity, title: via.title ?? '', url });
    }
  }
  return [...found.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** The allow-list's problems: entries missing a field or with a malformed date. */
function allowListErrors(entries: AllowListEntry[]): string[] {
  const errors: string[] = [];
  entries.forEach((entry, index) => {
    for (const field of ['id', 'package', 'reason', 'date', 'expires'] as const) {
      if (typeof entry[field] !== 'string' || entry[field].trim() === '') errors.push(`allow-list entry ${index + 1} has no ${field}`);
    }
    for (const field of ['date', 'expires'] as const) {
      if (typeof entry[field] === 'string' && (!DAY.test(entry[field]) || Number.isNaN(Date.parse(entry[field])))) {
        errors.push(`allow-list entry ${index + 1} (${entry.id}): ${field} must be a YYYY-MM-DD date`);
      }
    }
  });
  return errors;
}

/**
 * Decides whether a report passes: no high or critical advisory outside the allow-list, no expired or
 * malformed allow-list entry, and a report npm actually produced. `today` is YYYY-MM-DD (UTC).
 */
export function decide(report: unknown, allowList: AllowListEntry[], today: string): ScanDecision {
  const errors = allowListErrors(allowList);
  const audit = (report ?? {}) as AuditReport;
  const noReport = Boolean(audit.error || audit.message || audit.auditReportVersion !== 2 || typeof audit.vulnerabilities !== 'object');
  if (audit.error || audit.message || audit.auditReportVersion !== 2 || typeof audit.vulnerabilities !== 'object') {
    const why = audit.error?.summary || audit.message || 'not an npm audit report (version 2)';
    errors.push(`npm audit produced no report: ${why}`);
  }
  const expired = allowList.filter((entry) => typeof entry.expires === 'string' && entry.expires < today);
  const valid = allowList.filter((entry) => !expired.includes(entry));
  const failing: Finding[] = [];
  const allowed: Finding[] = [];
  for (const finding of advisoriesOf(audit)) {
    if (!FAILING_SEVERITIES.has(finding.severity)) continue;
    const accepted = valid.some((entry) => (entry.id === finding.id || entry.id === finding.source) && entry.package === finding.package);
    (accepted ? allowed : failing).push(finding);
  }
  return { ok: failing.length === 0 && expired.length === 0 && errors.length === 0, failing, allowed, expired, errors, noReport };
}

/** The decision as lines for the CI log. */
export function describeDecision(decision: ScanDecision): string[] {
  const lines: string[] = [];
  for (const error of decision.errors) lines.push(`error: ${error}`);
  for (const f of decision.failing) lines.push(`FAIL ${f.severity} ${f.id} in ${f.package}: ${f.title} ${f.url}`.trimEnd());
  for (const e of decision.expired) lines.push(`FAIL allow-list entry ${e.id} (${e.package}) expired on ${e.expires}: review it, then fix, or renew with a new reason and date`);
  for (const f of decision.allowed) lines.push(`allowed ${f.severity} ${f.id} in ${f.package} (see .ci/audit-allowlist.json)`);
  lines.push(decision.ok ? 'dependency scan passed' : 'dependency scan FAILED');
  return lines;
}

/** Runs `npm audit --omit=dev --json` and parses its output (npm exits non-zero when it finds anything). */
async function runNpmAudit(): Promise<unknown> {
  const stdout = await new Promise<string>((resolve) => {
    execFile('npm', ['audit', '--omit=dev', '--json'], { maxBuffer: 64 * 1024 * 1024 }, (_error, out) => resolve(String(out)));
  });
  try {
    return JSON.parse(stdout);
  } catch {
    return { message: 'npm audit printed no JSON' };
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const allowListPath = process.env.AUDIT_ALLOWLIST ?? '.ci/audit-allowlist.json';
  const allowList = (JSON.parse(await readFile(allowListPath, 'utf8')) as { entries: AllowListEntry[] }).entries;
  const reportPath = process.argv[2];
  const report = reportPath ? JSON.parse(await readFile(reportPath, 'utf8')) : await runNpmAudit();
  const decision = decide(report, allowList, new Date().toISOString().slice(0, 10));
  for (const line of describeDecision(decision)) console.log(line);
  // 3: the only problem is that npm produced no report (no advisory service reachable); 1: anything else.
  const onlyNoReport = decision.noReport && decision.errors.length === 1 && decision.expired.length === 0;
  process.exitCode = decision.ok ? 0 : onlyNoReport ? 3 : 1;
}
