// A key action's plan, as the CLI prints it before acting (and for --dry-run).
import type { KeyPlan } from '../../shared/keys.js';
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
