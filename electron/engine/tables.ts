// What the Tables screen lists: the database's tables with sizes, and the
// columns of one with what makes each a good or bad partition key. Catalog
// and statistics for rows, file sizes for bytes: no table is scanned.
import type { ColumnSummary, TableDetail, TableSummary } from '../../shared/catalog.js';
import { PartwiseError } from '../db/errors.js';
import { roundBucketLimit, suggestBucketLimit, TARGET_LEAF_BYTES } from './bucket-suggestion.js';
import type { Queryable } from './catalog.js';
import { listManagedTables } from './explorer.js';
import { keyTypeVerdict, tableKeyTypeFacts } from './key-types.js';
import { treeFigures } from './relation-sizes.js';

/**
 * Every table a DBA may want to partition or look at: plain tables,
 * partitioned tables, and the tables Partwise manages (whose name is a
 * routing view once migrated), with the same figures everywhere: statistics
 * for rows, pg_total_relation_size for bytes, both summed over the leaves of
 * a partition tree. A managed table shows its tree's figures; its partitioned
 * table and backup say whose parts they are.
 */
export async function listTables(db: Queryable, installSchema: string, schema?: string): Promise<TableSummary[]> {
  const managed = await listManagedTables(db, installSchema);
  const { rows } = await db.query<{
    oid: number;
    schema: string;
    name: string;
    kind: string;
    rows: number;
    bytes: number;
  }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            greatest(c.reltuples, 0)::float8 AS rows,
            CASE WHEN c.relkind = 'r' THEN pg_total_relation_size(c.oid) ELSE 0 END::float8 AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\\_%'
        AND ($2::text IS NULL OR n.nspname = $2)
        AND (c.relkind <> 'v' OR (n.nspname, c.relname) IN (SELECT * FROM unnest($3::text[], $4::text[])))
      ORDER BY 1`,
    [installSchema, schema ?? null, managed.map((t) => t.schema), managed.map((t) => t.table)],
  );
  const trees = await treeFigures(
    db,
    rows.filter((r) => r.kind === 'p').map((r) => r.oid),
  );
  const byName = new Map(rows.map((r) => [`${r.schema}.${r.name}`, r]));
  const own = (r: (typeof rows)[number]) => {
    const tree = trees.get(r.oid);
    return tree
      ? { rowEstimate: Math.round(tree.rowEstimate), totalBytes: tree.totalBytes, leaves: tree.leaves }
      : { rowEstimate: Math.round(Number(r.rows)), totalBytes: Number(r.bytes), leaves: null };
  };
  const managedByName = new Map(managed.map((t) => [`${t.schema}.${t.table}`, t]));
  const parts = new Map<string, TableSummary['partOf']>();
  for (const t of managed) {
    parts.set(`${t.schema}.${t.partitionedTable}`, { table: t.table, role: 'partitioned' });
    if (t.backupTable) parts.set(`${t.schema}.${t.backupTable}`, { table: t.table, role: 'backup' });
  }
  return rows.map((r) => {
    const key = `${r.schema}.${r.name}`;
    const config = managedByName.get(key);
    // Once migrated the name is a view with no figures of its own: it shows its tree's.
    const tree = config && r.kind === 'v' ? byName.get(`${r.schema}.${config.partitionedTable}`) : undefined;
    return {
      schema: r.schema,
      name: r.name,
      kind: r.kind === 'p' ? 'partitioned' : r.kind === 'v' ? 'view' : 'table',
      ...(tree ? own(tree) : own(r)),
      managedTable: config
        ? {
            configId: config.configId,
            partitionedTable: config.partitionedTable,
            backupTable: config.backupTable,
            keyColumn: config.keyColumn,
            bucketLimit: config.bucketLimit,
            keys: config.keys,
            mode: config.mode,
          }
        : null,
      partOf: parts.get(key) ?? null,
    };
  });
}

export async function tableDetail(db: Queryable, schema: string, table: string): Promise<TableDetail> {
  const { rows: base } = await db.query<{ oid: number; kind: string; rows: number; bytes: number; analyzed: boolean }>(
    `SELECT c.oid::int AS oid, c.relkind AS kind, greatest(c.reltuples, 0)::float8 AS rows,
            pg_table_size(c.oid)::float8 AS bytes, c.reltuples >= 0 AS analyzed
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  if (!base[0]) throw new PartwiseError('not_found', `Table ${schema}.${table} does not exist`);
  const { oid, kind, analyzed } = base[0];
  let { rows, bytes } = base[0];
  if (kind === 'p') {
    // A partitioned table has no rows or pages of its own: its leaves have them.
    const tree = (await treeFigures(db, [oid])).get(oid)!;
    rows = tree.rowEstimate;
    bytes = tree.totalBytes;
  }
  // ANALYZE of a partitioned table records statistics of the whole tree, marked inherited.
  const { rows: columns } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            s.n_distinct, s.null_frac, s.most_common_freqs::float8[] AS common_freqs
       FROM pg_attribute a
       LEFT JOIN pg_stats s ON s.schemaname = $2 AND s.tablename = $3 AND s.attname = a.attname AND s.inherited = $4
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid, schema, table, kind === 'p'],
  );
  const keyTypes = await tableKeyTypeFacts(db, oid);
  const bytesPerRow = rows > 0 ? bytes / rows : 200;
  const summaries: ColumnSummary[] = columns.map((c) => {
    const verdict = keyTypeVerdict(keyTypes.get(c.name)!);
    const distinct =
      c.n_distinct === null ? null : c.n_distinct < 0 ? Math.round(-c.n_distinct * rows) : Math.round(c.n_distinct);
    let reason = verdict.usable ? undefined : verdict.reason;
    if (verdict.usable && distinct !== null && rows > 0 && distinct > rows * 0.5) {
      reason = 'nearly every row has its own value: each would get its own partition';
    }
    const usableAsKey = verdict.usable && reason === undefined;
    // Per key column: the leaves a limit gives depend on how its rows spread over its keys.
    const suggestion =
      usableAsKey && distinct !== null
        ? suggestBucketLimit(
            {
              rows,
              distinct,
              commonKeyRows: ((c.common_freqs as number[] | null) ?? []).map((f) => f * rows),
              nullRows: Number(c.null_frac ?? 0) * rows,
            },
            bytesPerRow,
          )
        : null;
    return {
      name: c.name,
      type: c.type,
      nullable: !c.not_null,
      distinctEstimate: distinct,
      nullFraction: c.null_frac === null ? null : Number(c.null_frac),
      usableAsKey,
      ...(reason ? { reason } : {}),
      ...(suggestion ? { suggestedBucketLimit: suggestion.bucketLimit, suggestedLeaves: suggestion.leaves } : {}),
    };
  });
  return {
    schema,
    name: table,
    rowEstimate: Math.round(rows),
    analyzed,
    columns: summaries,
    suggestedBucketLimit: roundBucketLimit(TARGET_LEAF_BYTES / Math.max(bytesPerRow, 1)),
  };
}
