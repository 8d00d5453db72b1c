// How the original table's indexes become indexes of the partitioned table.
// PostgreSQL requires every unique index (and the primary key) of a
// partitioned table to contain the partition columns, so those are widened
// with the key column and the bucket column; the plan says so for each one.
import { ident } from '../db/sql.js';
import type { TableInfo } from './catalog.js';
import { derivedName } from './names.js';

export interface IndexPlan {
  kind: 'primary' | 'unique_constraint' | 'unique' | 'plain';
  sourceName: string;
  /** Name while the original still exists; at the swap the original's index is renamed away and this takes its name. */
  newName: string;
  sourceColumns: string;
  columns: string[];
  widened: boolean;
  /** The statement for `relation` (the partitioned table, or one leaf with a name of its own). */
  statement(relation: string, name?: string): string;
}

interface ParsedIndex {
  unique: boolean;
  method: string;
  keys: string;
  rest: string;
}

/** Splits pg_get_indexdef output into its parts; the key list may hold expressions with parentheses and quotes. */
export function parseIndexDefinition(definition: string): ParsedIndex {
  const head = /^CREATE (UNIQUE )?INDEX .*? ON (?:ONLY )?.*? USING (\w+) \(/s.exec(definition);
  if (!head) throw new Error(`unexpected index definition: ${definition}`);
  let depth = 1;
  let i = head[0].length;
  let quote: string | null = null;
  for (; i < definition.length && depth > 0; i++) {
    const ch = definition[i]!;
    if (quote) {
      if (ch === quote) {
        if (definition[i + 1] === quote) i++;
        else quote = null;
      }
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
  }
  if (depth !== 0) throw new Error(`unbalanced index definition: ${definition}`);
  return {
    unique: head[1] !== undefined,
    method: head[2]!,
    keys: definition.slice(head[0].length, i - 1),
    rest: definition.slice(i),
  };
}

export function indexPlans(info: TableInfo, keyColumn: string, bucketColumn: string): IndexPlan[] {
  const plans: IndexPlan[] = [];
  for (const index of info.indexes) {
    if (!index.isValid || index.constraintType === 'x') continue;
    const newName = derivedName(index.name, '_new');
    if (index.constraintType === 'p' || index.constraintType === 'u') {
      const columns = index.keyColumns.filter((c): c is string => c !== null);
      const widenedColumns = [...columns, ...(columns.includes(keyColumn) ? [] : [keyColumn]), bucketColumn];
      const kind = index.constraintType === 'p' ? 'primary' : 'unique_constraint';
      const constraintName = derivedName(index.constraintName ?? index.name, '_new');
      plans.push({
        kind,
        sourceName: index.constraintName ?? index.name,
        newName: constraintName,
        sourceColumns: columns.join(', '),
        columns: widenedColumns,
        widened: true,
        statement: (relation, name = constraintName) =>
          `ALTER TABLE ${relation} ADD CONSTRAINT ${ident(name)} ${kind === 'primary' ? 'PRIMARY KEY' : 'UNIQUE'} (${widenedColumns.map(ident).join(', ')});`,
      });
      continue;
    }
    const parsed = parseIndexDefinition(index.definition);
    const keyNames = index.keyColumns;
    const extra = parsed.unique ? [...(keyNames.includes(keyColumn) ? [] : [keyColumn]), bucketColumn] : [];
    const keys = extra.length > 0 ? `${parsed.keys}, ${extra.map(ident).join(', ')}` : parsed.keys;
    plans.push({
      kind: parsed.unique ? 'unique' : 'plain',
      sourceName: index.name,
      newName,
      sourceColumns: parsed.keys,
      columns: [parsed.keys, ...extra],
      widened: parsed.unique,
      statement: (relation, name = newName) =>
        `CREATE ${parsed.unique ? 'UNIQUE ' : ''}INDEX ${ident(name)} ON ${relation} USING ${parsed.method} (${keys})${parsed.rest};`,
    });
  }
  return plans;
}
