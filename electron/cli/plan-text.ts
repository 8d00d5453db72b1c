// The dry-run plan as text for a terminal (the app shows the same object).
import { plannedTree, type MigrationPlan } from '../../shared/plan.js';
import { displayIdentifier } from '../../shared/identifiers.js';
import { countOf, formatBytes } from '../../shared/text.js';
import { formatWorkload } from './workload-text.js';

const n = (value: number): string => Math.round(value).toLocaleString('en-US');

export function formatPlan(plan: MigrationPlan, options: { ddl: boolean }): string {
  const t = plan.target;
  const p = plan.partitions;
  const lines: string[] = [];
  const estimate = plan.exact ? '' : '~';
  const upTo = (value: number, max: number): string => (max > value ? `, up to ${n(max)}` : '');
  lines.push(
    `Plan for ${displayIdentifier(t.schema)}.${displayIdentifier(t.table)} by ${displayIdentifier(t.keyColumn)}, at most ${countOf(t.bucketLimit, 'row')} per bucket`,
  );
  lines.push(`  PostgreSQL ${plan.serverVersion}`);
  lines.push(`  counts           ${plan.counting.note}`);
  lines.push(
    `  rows             ${estimate}${n(plan.table.rows)}  (${formatBytes(plan.table.totalBytes)} with indexes)`,
  );
  const keysExact = plan.counting.method !== 'statistics';
  lines.push(
    `  keys             ${keysExact ? '' : '~'}${n(plan.key.distinctKeys)}${upTo(plan.key.distinctKeys, p.maxLevelOne)}  ${plan.key.column} ${plan.key.type}${plan.key.nullable ? ', nullable' : ''}`,
  );
  if (plan.key.largest.length > 0) {
    lines.push(
      `  largest keys     ${plan.key.largest
        .slice(0, 5)
        .map((k) => `${k.keyValue} (${estimate}${n(k.rows)})`)
        .join(', ')}`,
    );
  }
  const tree = plannedTree(plan);
  lines.push(
    `  partitions       ${keysExact ? '' : '~'}${n(tree.levelOne)} level-1${upTo(tree.levelOne, tree.maxLevelOne)}${p.placement ? ' (the pool one of them)' : ''}; ${estimate}${n(tree.leaves)} leaves${upTo(tree.leaves, tree.maxLeaves)}${p.placement ? `; a partition per key: ${keysExact ? '' : '~'}${n(p.levelOne)} level-1, ${estimate}${n(p.leaves)} leaves` : ''}`,
  );
  if (p.placement) {
    const s = p.placement;
    lines.push(
      `  small keys share ${estimate}${countOf(s.pooledKeys, 'key')} under ${countOf(s.threshold, 'row')} (${estimate}${n(s.pooledRows)} rows) in one pool of ${estimate}${countOf(s.poolBuckets, 'bucket')}`,
    );
    lines.push(
      `  relations        ${estimate}${n(s.relationsShared)} with small keys sharing, ${estimate}${n(s.relationsPerKey)} with a partition per key (partitions, their indexes, leaves' TOAST tables and TOAST indexes)`,
    );
  }
  lines.push(
    `  lock table       ${plan.exact ? '' : plan.counting.method === 'index' ? 'up to ' : 'about '}${n(p.lockedByFullScan)} relations per unfiltered query, of ${n(p.lockTableCapacity)} locks`,
  );
  lines.push(`  disk             about ${formatBytes(plan.diskBytesNeeded)} free needed`);
  lines.push(`  time             about ${n(plan.estimatedSeconds)} s`);
  lines.push(
    `  new names        ${plan.names.partitionedTable} (partitioned), ${plan.names.backupTable} (the original, until finalize)`,
  );
  if (plan.uniqueness?.length) {
    lines.push('', 'Unique keys (--unique NAME=table|bucket):');
    for (const key of plan.uniqueness) {
      const how =
        key.enforcement === 'table'
          ? `unique across the whole table (registry, about ${formatBytes(key.registryBytes)})`
          : 'unique per bucket only';
      const note =
        key.enforcement !== key.defaultEnforcement
          ? ' (chosen)'
          : key.registryAvailable
            ? ''
            : ' (no registry possible)';
      lines.push(`  ${displayIdentifier(key.name)} (${key.columns}): ${how}${note}`);
    }
  }
  const groups: [string, string][] = [
    ['blocker', 'BLOCKERS (nothing runs until they are fixed)'],
    ['warning', 'Warnings'],
    ['info', 'Notes'],
  ];
  for (const [severity, title] of groups) {
    const issues = plan.issues.filter((i) => i.severity === severity);
    if (issues.length === 0) continue;
    lines.push('', `${title}:`);
    for (const issue of issues) {
      lines.push(`  - ${issue.message}`);
      if (issue.fix) lines.push(`    fix: ${issue.fix}`);
    }
  }
  if (plan.workload) lines.push(...formatWorkload(plan.workload));
  const statements = `${estimate}${countOf(plan.ddlStatements, 'DDL statement')}${upTo(plan.ddlStatements, plan.maxDdlStatements)}`;
  if (options.ddl) {
    lines.push('', `DDL (${statements}):`);
    for (const statement of plan.ddl) lines.push(`  ${statement}`);
  } else {
    lines.push('', `(${statements}: add --ddl to print them)`);
  }
  return lines.join('\n');
}
