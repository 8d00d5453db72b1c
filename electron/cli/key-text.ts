// A key action's plan, as the CLI prints it before acting (and for --dry-run),
// and the journal of actions on keys (partwise key history).
import type { KeyActionEntry, KeyPlan } from '../../shared/keys.js';
import { formatMs } from '../../shared/runs.js';
import { countOf, formatBytes } from '../../shared/text.js';

export function formatKeyPlan(plan: KeyPlan): string {
  const rows = `${plan.rowsExact ? '' : '~'}${plan.rows.toLocaleString('en-US')} rows`;
  const lines = [
    `${plan.action} key ${plan.keyValue} of ${plan.schema}.${plan.table} (${plan.keyColumn}; state ${plan.state}; ` +
      `${plan.levelOne || 'no partitions'}: ${countOf(plan.leaves.length, 'leaf', 'leaves')}, ${rows}, ${formatBytes(plan.bytes)}; PostgreSQL ${plan.serverMajor})`,
  ];
  if (plan.steps.length === 0) lines.push('  Nothing to do.');
  else lines.push('  Steps:', ...plan.steps.map((s, i) => `    ${i + 1}. ${s}`));
  if (plan.ddl.length > 0) lines.push('  DDL:', ...plan.ddl.map((d) => `    ${d};`));
  if (plan.locks.length > 0)
    lines.push('  Locks:', ...plan.locks.map((l) => `    ${l.mode} on ${l.relation}: ${l.held}`));
  for (const note of plan.notes) lines.push(`  Note: ${note}`);
  return lines.join('\n');
}

/** `partwise key history`: the journal of actions on keys, newest first, as aligned columns. */
export function formatKeyHistory(entries: KeyActionEntry[]): string {
  if (entries.length === 0) return 'No actions on keys in this database.';
  const header = ['#', 'started', 'took', 'table', 'key', 'action', 'status', 'rows, bytes', 'step'];
  const rows = entries.map((e) => [
    String(e.actionId),
    e.startedAt.replace('T', ' ').slice(0, 19),
    e.finishedAt ? formatMs(Math.max(0, Date.parse(e.finishedAt) - Date.parse(e.startedAt))) : '',
    `${e.schema}.${e.table}`,
    e.keyValue,
    e.action,
    e.status,
    [e.rows !== null ? `${e.rows.toLocaleString('en-US')} rows` : null, e.bytes !== null ? formatBytes(e.bytes) : null]
      .filter(Boolean)
      .join(', '),
    // Where an action that did not succeed is, or stopped, and why.
    e.status === 'succeeded'
      ? ''
      : `${e.status === 'running' ? '' : 'stopped at: '}${e.step}${e.error ? ` (${e.error})` : ''}`,
  ]);
  const widths = header.map((h, column) => Math.max(h.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === 0 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
