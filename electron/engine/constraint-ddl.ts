// CHECK and FOREIGN KEY constraints of the original table, rebuilt for the
// partitioned table from pg_constraint's fields. Only a CHECK's expression
// comes from PostgreSQL's deparser (pg_get_expr of conbin): it names columns,
// which the partitioned table has under the same names.
import { ident } from '../db/sql.js';
import type { ConstraintInfo, ForeignKeyAction } from './catalog.js';
import { deferral } from './index-ddl.js';

const ACTIONS: Record<ForeignKeyAction, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** `CHECK (expr) [NOT ENFORCED]`. NO INHERIT is left out: a partitioned table refuses it (the plan says so). */
export function checkClause(constraint: ConstraintInfo): string {
  return `CHECK (${constraint.expression!})${constraint.enforced ? '' : ' NOT ENFORCED'}`;
}

/** `FOREIGN KEY (...) REFERENCES table (...) [MATCH ...] [ON UPDATE ...] [ON DELETE ...] [DEFERRABLE ...] [NOT ENFORCED]`. */
export function foreignKeyClause(constraint: ConstraintInfo): string {
  let text = `FOREIGN KEY (${constraint.columns.map(ident).join(', ')}) REFERENCES ${constraint.referencedTable!} (${constraint.referencedColumns.map(ident).join(', ')})`;
  if (constraint.matchType === 'f') text += ' MATCH FULL';
  else if (constraint.matchType === 'p') text += ' MATCH PARTIAL';
  if (constraint.onUpdate && constraint.onUpdate !== 'a') text += ` ON UPDATE ${ACTIONS[constraint.onUpdate]}`;
  if (constraint.onDelete && constraint.onDelete !== 'a') {
    text += ` ON DELETE ${ACTIONS[constraint.onDelete]}`;
    if (constraint.deleteSetColumns.length > 0) text += ` (${constraint.deleteSetColumns.map(ident).join(', ')})`;
  }
  text += deferral(constraint.deferrable, constraint.deferred);
  if (!constraint.enforced) text += ' NOT ENFORCED';
  return text;
}

/** CHECK constraints added to the empty partitioned table; NOT VALID ones wait until the rows are in (rows may break them). */
export function checksBeforeCopy(constraints: readonly ConstraintInfo[]): ConstraintInfo[] {
  return constraints.filter((c) => c.type === 'c' && (c.validated || !c.enforced));
}

export function checksAfterCopy(constraints: readonly ConstraintInfo[]): ConstraintInfo[] {
  return constraints.filter((c) => c.type === 'c' && !c.validated && c.enforced);
}
