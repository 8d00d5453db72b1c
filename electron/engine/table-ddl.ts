// The empty partitioned table beside the original: its columns come from
// LIKE (types, NOT NULL, defaults, generated expressions, storage, comments,
// statistics, compression); identity columns and CHECK constraints are added
// from the catalog's fields, because LIKE would name the identity sequences
// after the new table, copy NOT VALID checks as valid (and fail on the rows
// that break them) and refuse NO INHERIT ones on a partitioned table.
import { ident } from '../db/sql.js';
import type { ColumnInfo, TableInfo } from './catalog.js';
import { checkClause, checksBeforeCopy } from './constraint-ddl.js';
import { identityStatement } from './migration/sequences.js';

export interface PartitionedTableShape {
  /** The new table, quoted and qualified. */
  partitioned: string;
  key: ColumnInfo;
  bucketColumn: string;
  serverVersionNum: number;
  /** The temporary name of each identity column's new sequence, by column. */
  identitySequenceNames: ReadonlyMap<string, string>;
}

export function partitionedTableStatements(info: TableInfo, shape: PartitionedTableShape): string[] {
  const including = [
    'DEFAULTS',
    'GENERATED',
    'STORAGE',
    'COMMENTS',
    'STATISTICS',
    ...(shape.serverVersionNum >= 140000 ? ['COMPRESSION'] : []),
  ];
  const statements = [
    // Defaults come along unchanged: a serial column's default still draws
    // from the original sequence, so ids continue across the swap.
    `CREATE TABLE ${shape.partitioned} (LIKE ${info.qualified} ${including.map((i) => `INCLUDING ${i}`).join(' ')}, ` +
      `${ident(shape.bucketColumn)} integer NOT NULL DEFAULT 0) PARTITION BY LIST (${ident(shape.key.name)})`,
  ];
  if (!shape.key.notNull)
    statements.push(`ALTER TABLE ${shape.partitioned} ALTER COLUMN ${ident(shape.key.name)} SET NOT NULL`);
  for (const sequence of info.sequences.filter((s) => s.kind === 'identity')) {
    const name = shape.identitySequenceNames.get(sequence.column) ?? `${sequence.name}_partitioned`;
    statements.push(identityStatement(shape.partitioned, sequence, name));
  }
  for (const check of checksBeforeCopy(info.constraints)) {
    statements.push(`ALTER TABLE ${shape.partitioned} ADD CONSTRAINT ${ident(check.name)} ${checkClause(check)}`);
  }
  return statements;
}
