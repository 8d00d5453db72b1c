// How the original table's indexes become indexes of the partitioned table,
// assembled from pg_index's fields (as pg_repack's repack_indexdef does), never
// by editing pg_get_indexdef's text: per key column its expression, collation,
// operator class with its parameters, DESC and NULLS order; then INCLUDE,
// NULLS NOT DISTINCT, storage parameters, tablespace and predicate.
//
// PostgreSQL requires every unique index (and the primary key) of a
// partitioned table to contain the partition columns, so those are widened
// with the key column and the bucket column; the plan says so for each one,
// and offers to keep the original guarantee with a registry (unique-registry).
import { ident } from '../db/sql.js';
import type { IndexColumn, IndexInfo, TableInfo } from './catalog.js';
import { derivedName } from './names.js';

export interface IndexPlan {
  kind: 'primary' | 'unique_constraint' | 'unique' | 'plain';
  sourceName: string;
  /** The original index (its name is the constraint's for constraints). */
  index: IndexInfo;
  /** Name while the original still exists; at the swap the original's index is renamed away and this takes its name. */
  newName: string;
  /** The original key, as people read it: `id, lower(email)`. */
  sourceColumns: string;
  /** The widened key, as people read it. */
  columns: string[];
  widened: boolean;
  /** The statement for `relation` (the partitioned table, or one leaf with a name of its own). */
  statement(relation: string, name?: string): string;
}

/** `name='value'` pairs of a reloptions array, as WITH (...) takes them. */
export function storageParameters(options: readonly string[]): string {
  return options
    .map((option) => {
      const at = option.indexOf('=');
      const name = at < 0 ? option : option.slice(0, at);
      const value = at < 0 ? 'true' : option.slice(at + 1);
      return `${ident(name)}='${value.replace(/'/g, "''")}'`;
    })
    .join(', ');
}

/** One key element of CREATE INDEX: column or expression, collation, operator class (with parameters), order. */
export function indexElement(column: IndexColumn, ordered: boolean): string {
  let element = column.column !== null ? ident(column.column) : column.expression!;
  if (column.collation) element += ` COLLATE ${column.collation}`;
  element += ` ${column.opclass}`;
  if (column.opclassOptions?.length) element += ` (${storageParameters(column.opclassOptions)})`;
  if (ordered) {
    if (column.descending) element += column.nullsFirst ? ' DESC' : ' DESC NULLS LAST';
    else if (column.nullsFirst) element += ' NULLS FIRST';
  }
  return element;
}

function includeClause(index: IndexInfo): string {
  return index.include.length > 0 ? ` INCLUDE (${index.include.map(ident).join(', ')})` : '';
}

/** WITH (storage parameters) and the tablespace, as CREATE INDEX or a constraint (USING INDEX TABLESPACE) spells it. */
function storageClauses(index: IndexInfo, tablespaceKeyword: 'TABLESPACE' | 'USING INDEX TABLESPACE'): string {
  return (
    (index.reloptions?.length ? ` WITH (${storageParameters(index.reloptions)})` : '') +
    (index.tablespace ? ` ${tablespaceKeyword} ${index.tablespace}` : '')
  );
}

/** `CREATE [UNIQUE] INDEX name ON relation USING method (...)`, with extra plain key columns appended. */
export function createIndexStatement(
  index: IndexInfo,
  relation: string,
  name: string,
  extraColumns: readonly string[] = [],
): string {
  const elements = [...index.columns.map((c) => indexElement(c, index.ordered)), ...extraColumns.map(ident)];
  return (
    `CREATE ${index.isUnique ? 'UNIQUE ' : ''}INDEX ${ident(name)} ON ${relation} USING ${ident(index.method)} (${elements.join(', ')})` +
    includeClause(index) +
    (index.nullsNotDistinct ? ' NULLS NOT DISTINCT' : '') +
    storageClauses(index, 'TABLESPACE') +
    (index.predicate ? ` WHERE ${index.predicate}` : '')
  );
}

/** `PRIMARY KEY (...)` or `UNIQUE [NULLS NOT DISTINCT] (...)` of a constraint's index, with its options and deferral. */
export function uniqueConstraintClause(index: IndexInfo, columns: readonly string[]): string {
  const head =
    index.constraintType === 'p' ? 'PRIMARY KEY' : `UNIQUE${index.nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''}`;
  return (
    `${head} (${columns.map(ident).join(', ')})` +
    includeClause(index) +
    storageClauses(index, 'USING INDEX TABLESPACE') +
    deferral(index.deferrable, index.deferred)
  );
}

export function deferral(deferrable: boolean, deferred: boolean): string {
  if (!deferrable) return '';
  return deferred ? ' DEFERRABLE INITIALLY DEFERRED' : ' DEFERRABLE';
}

/** A key element as people read it: the column name or the expression. */
function keyText(column: IndexColumn): string {
  return column.column !== null ? ident(column.column) : column.expression!;
}

export function indexPlans(info: TableInfo, keyColumn: string, bucketColumn: string): IndexPlan[] {
  const plans: IndexPlan[] = [];
  for (const index of info.indexes) {
    if (!index.isValid || index.constraintType === 'x') continue;
    const sourceColumns = index.columns.map(keyText).join(', ');
    const keyNames = index.keyColumns;
    const extra = index.isUnique ? [...(keyNames.includes(keyColumn) ? [] : [keyColumn]), bucketColumn] : [];
    const columns = [...index.columns.map(keyText), ...extra.map(ident)];
    if (index.constraintType === 'p' || index.constraintType === 'u') {
      // Constraint indexes have plain columns only (no expressions, operator classes or order).
      const widenedColumns = [...(keyNames as string[]), ...extra];
      const constraintName = derivedName(index.constraintName!, '_new');
      plans.push({
        kind: index.constraintType === 'p' ? 'primary' : 'unique_constraint',
        sourceName: index.constraintName!,
        index,
        newName: constraintName,
        sourceColumns,
        columns,
        widened: true,
        statement: (relation, name = constraintName) =>
          `ALTER TABLE ${relation} ADD CONSTRAINT ${ident(name)} ${uniqueConstraintClause(index, widenedColumns)};`,
      });
      continue;
    }
    const newName = derivedName(index.name, '_new');
    plans.push({
      kind: index.isUnique ? 'unique' : 'plain',
      sourceName: index.name,
      index,
      newName,
      sourceColumns,
      columns,
      widened: index.isUnique,
      statement: (relation, name = newName) => `${createIndexStatement(index, relation, name, extra)};`,
    });
  }
  return plans;
}
