// The workload part of the plan as text: the statements on the table that do
// not filter by the key (most called first), then the rest in a line each.
import {
  describeCost,
  formatMilliseconds,
  statementPreview,
  type WorkloadReport,
  type WorkloadStatement,
} from '../../shared/workload.js';

const n = (value: number): string => Math.round(value).toLocaleString('en-US');

const SHOWN = 10;

function line(statement: WorkloadStatement): string {
  const after = statement.expectedMeanMs === null ? '' : ` -> ~${formatMilliseconds(statement.expectedMeanMs)}`;
  const calls = `${n(statement.calls)} calls`.padStart(14);
  const mean = `${formatMilliseconds(statement.meanMs)}${after}`.padEnd(24);
  return `  ${calls}  ${mean}  ${statementPreview(statement.query, 100)}${statement.frequent ? '  [frequent]' : ''}`;
}

/** Lines to print, or none when the workload is unknown (the plan's warning says how to enable it). */
export function formatWorkload(report: WorkloadReport): string[] {
  if (!report.source.available) return [];
  const since = report.source.since ? `, calls since ${report.source.since.replace('T', ' ').slice(0, 16)} UTC` : '';
  const lines = ['', `Statements on ${report.schema}.${report.table} (pg_stat_statements${since}):`];
  const groups: [WorkloadStatement['verdict'], string][] = [
    ['keyless', `do not filter by ${report.keyColumn}: plan, lock and read all ${n(report.leaves)} leaves`],
    ['key_at_run_time', `get ${report.keyColumn} only while running: plan and lock all ${n(report.leaves)} leaves`],
  ];
  for (const [verdict, title] of groups) {
    const statements = report.statements.filter((s) => s.verdict === verdict);
    if (statements.length === 0) continue;
    lines.push(`  ${statements.length} ${title}${report.phase === 'before' ? ' (today -> afterwards)' : ''}`);
    lines.push(...statements.slice(0, SHOWN).map(line));
    if (statements.length > SHOWN) lines.push(`  ... and ${statements.length - SHOWN} more (--json lists all)`);
  }
  const keyed = report.statements.filter((s) => s.verdict === 'key');
  if (keyed.length > 0) {
    const calls = keyed.reduce((sum, s) => sum + s.calls, 0);
    lines.push(
      `  ${keyed.length} filter by ${report.keyColumn} (${n(calls)} calls): read only the buckets of their keys`,
    );
  }
  const notAnalysed = report.statements.filter((s) => s.verdict === 'not_analysed');
  if (notAnalysed.length > 0) {
    lines.push(`  ${notAnalysed.length} not analysed:`);
    for (const s of notAnalysed.slice(0, SHOWN)) lines.push(`    ${statementPreview(s.query, 70)}: ${s.reason}`);
  }
  if (report.statements.length === 0) lines.push('  none recorded');
  if (report.cost) lines.push(`  cost: ${describeCost(report.cost)}`);
  else if (report.costNote) lines.push(`  cost: ${report.costNote}`);
  for (const note of report.source.notes) lines.push(`  note: ${note}`);
  return lines;
}
