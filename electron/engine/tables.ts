// What the Tables screen lists: the database's tables with sizes, and the
// columns of one with what makes each a good or bad partition key. Catalog
// and statistics only: fast, no table is scanned.
import type pg from 'pg';
import type { ColumnSummary, TableDetail, TableSummary } from '../../shared/catalog.js';
import { PartwiseError } from '../db/errors.js';
import { ident } from '../db/sql.js';
import { keyTypeVerdict, tableKeyTypeFacts } from './key-types.js';
import { roundBucketLimit, suggestBucketLimit, TARGET_LEAF_BYTES } from './bucket-suggestion.js';

export async function listTables(db: pg.Pool, installSchema: string, schema?: string): Promise<TableSummary[]> {
  const { rows: present } = await db.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
    `${ident(installSchema)}.partition_config`,
  ]);
  const managed = present[0]!.ok
    ? `EXISTS (SELECT 1 FROM ${ident(installSchema)}.partition_config pc WHERE pc.table_schema = n.nspname AND pc.table_name = c.relname)`
    : 'false';
  // A partitioned table has no storage of its own: its size is its leaves'.
  const { rows } = await db.query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, ${managed} AS managed,
            CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(l.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) t
                                              JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
                 ELSE greatest(c.reltuples, 0) END::float8 AS rows,
            CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(l.relpages::bigint), 0) * current_setting('block_size')::bigint
                                              FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
                 WHEN c.relkind = 'r' THEN pg_total_relation_size(c.oid)
                 ELSE 0 END::float8 AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\\_%'
        AND ($2::text IS NULL OR n.nspname = $2)
        AND (c.relkind <> 'v' OR ${managed})
      ORDER BY 1, 2`,
    [installSchema, schema ?? null],
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    kind: r.kind === 'p' ? 'partitioned' : r.kind === 'v' ? 'view' : 'table',
    rowEstimate: Math.round(Number(r.rows)),
    totalBytes: Number(r.bytes),
    managed: r.managed,
  }));
}

export async function tableDetail(db: pg.Pool, schema: string, table: string): Promise<TableDetail> {
  const { rows: base } = await db.query<{ oid: number; rows: number; bytes: number; analyzed: boolean }>(
    `SELECT c.oid::int AS oid, greatest(c.reltuples, 0)::float8 AS rows, pg_table_size(c.oid)::float8 AS bytes,
            c.reltuples >= 0 AS analyzed
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  if (!base[0]) throw new PartwiseError('not_found', `Table ${schema}.${table} does not exist`);
  const { oid, rows, bytes, analyzed } = base[0];
  const { rows: columns } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            s.n_distinct, s.null_frac, s.most_common_freqs::float8[] AS common_freqs
       FROM pg_attribute a
       LEFT JOIN pg_stats s ON s.schemaname = $2 AND s.tablename = $3 AND s.attname = a.attname AND NOT s.inherited
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid, schema, table],
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
