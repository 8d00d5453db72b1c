// `partwise status --run N`: the time each phase of each table took, what it
// went through, and how long the table was under the exclusive lock.
import { formatMs, runDurations, type RunSummary } from '../../shared/runs.js';

const number = (value: number): string => Math.round(value).toLocaleString('en-US');

export function timingLines(run: RunSummary): string[] {
  if (run.steps.length === 0) return [];
  const tables = new Map(run.targets.map((t) => [t.targetNo, `${t.schema}.${t.table}`]));
  const rows = run.steps.map((step) => [
    run.targets.length > 1 ? (tables.get(step.targetNo) ?? '') : '',
    step.phase,
    step.durationMs !== null ? formatMs(step.durationMs) : run.status === 'running' ? 'running' : 'stopped',
    step.count !== null && step.unit ? `${number(step.count)} ${step.unit}` : '',
    step.lockMs !== null ? `locked ${formatMs(step.lockMs)}` : '',
  ]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map(
    (row) =>
      `      ${row
        .map((cell, column) =>
          column === 2 || column === 3 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
        )
        .filter((_, column) => widths[column]! > 0)
        .join('  ')
        .trimEnd()}`,
  );
  const durations = runDurations(run);
  const parts = [
    durations.migrationMs !== null ? `migration ${formatMs(durations.migrationMs)}` : null,
    durations.rollbackMs !== null ? `rollback ${formatMs(durations.rollbackMs)}` : null,
    durations.finalizeMs !== null ? `finalize ${formatMs(durations.finalizeMs)}` : null,
  ].filter((part): part is string => part !== null);
  const locked = run.steps.reduce((sum, step) => sum + (step.lockMs ?? 0), 0);
  if (locked > 0) parts.push(`table locked ${formatMs(locked)} in all`);
  return ['    time per phase:', ...lines, `      (${parts.join(', ')})`];
}
