// What the partitioned table cannot take over from the original exactly, told
// by the plan (and so before any copy starts: prepare refuses blockers) rather
// than discovered at the swap.
import type { PlanIssue } from '../../shared/plan.js';
import { displayIdentifier } from '../../shared/identifiers.js';
import { ident } from '../db/sql.js';
import type { ServerInfo, TableInfo } from './catalog.js';
import { TriggerRebuildError, whenCondition } from './trigger-ddl.js';

/** Partwise's own change-capture triggers are not the table's. */
export function isPartwiseTrigger(name: string): boolean {
  return name.startsWith('partwise_capture_');
}

export function rebuildIssues(info: TableInfo, server: ServerInfo): PlanIssue[] {
  const issues: PlanIssue[] = [];
  for (const trigger of info.triggers.filter((t) => !isPartwiseTrigger(t.name))) {
    try {
      whenCondition(trigger);
    } catch (error) {
      if (!(error instanceof TriggerRebuildError)) throw error;
      issues.push({
        code: 'trigger_not_rebuildable',
        severity: 'blocker',
        message: `Trigger ${displayIdentifier(trigger.name)} cannot be re-created exactly: ${error.message}.`,
        fix: 'Drop the trigger before the migration and create it again on the partitioned table after the swap.',
      });
    }
  }
  for (const constraint of info.constraints) {
    const name = displayIdentifier(constraint.name);
    if (constraint.type === 'c' && constraint.noInherit) {
      issues.push({
        code: 'check_no_inherit',
        severity: 'info',
        message: `CHECK constraint ${name} is NO INHERIT, which a partitioned table refuses: it is re-created without NO INHERIT, and so applies to every partition, as it applied to every row of the table.`,
      });
    }
    if (constraint.temporal) {
      issues.push({
        code: 'temporal_constraint',
        severity: 'blocker',
        message: `Constraint ${name} is a temporal constraint (WITHOUT OVERLAPS / PERIOD), which Partwise does not re-create on a partitioned table.`,
        fix: `ALTER TABLE ${info.qualified} DROP CONSTRAINT ${ident(constraint.name)};  -- and enforce it another way`,
      });
    }
    if (constraint.type === 'f' && !constraint.validated && constraint.enforced && server.versionNum < 180000) {
      issues.push({
        code: 'foreign_key_not_valid',
        severity: 'blocker',
        message: `Foreign key ${name} is NOT VALID. Before PostgreSQL 18 a partitioned table cannot hold a foreign key that is not validated, and validating it here would fail on the rows it was added without checking.`,
        fix: `ALTER TABLE ${info.qualified} VALIDATE CONSTRAINT ${ident(constraint.name)};  -- after fixing the rows it reports`,
      });
    }
    if (constraint.type === 'n' && (!constraint.validated || constraint.noInherit)) {
      issues.push({
        code: 'not_null_constraint',
        severity: 'blocker',
        message: `NOT NULL constraint ${name} is ${constraint.validated ? 'NO INHERIT, which would leave the partitions without it' : 'NOT VALID, and the copy into columns declared NOT NULL would fail on the rows that break it'}.`,
        fix: constraint.validated
          ? `ALTER TABLE ${info.qualified} ALTER CONSTRAINT ${ident(constraint.name)} INHERIT;`
          : `ALTER TABLE ${info.qualified} VALIDATE CONSTRAINT ${ident(constraint.name)};`,
      });
    }
  }
  return issues;
}
