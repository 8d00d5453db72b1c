// What the database says about one key: its state, its level-1 partition
// (attached or not), leaves, rows and bytes. Catalog and metadata reads only.
import type { Queryable } from '../catalog.js';
import { ident, qualified } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import type { ManagedConfig } from '../maintain.js';
import type { KeyState } from '../../../shared/keys.js';

/** Keys whose partitions total less than this are counted exactly; larger ones estimated from statistics. */
export const EXACT_COUNT_BYTES = 1024 ** 3;

export interface KeyFacts {
  config: ManagedConfig;
  keyValue: string;
  state: KeyState;
  /** Quoted, qualified name of the level-1 partition; null once dropped. */
  levelOne: string | null;
  levelOneOid: number | null;
  /** In the tree (pg_inherits); detachPending: a DETACH ... CONCURRENTLY was interrupted (14+). */
  attached: boolean;
  detachPending: boolean;
  leaves: string[];
  rows: number;
  rowsExact: boolean;
  bytes: number;
  bucketLimit: number | null;
  serverMajor: number;
  /**
   * The key shares the pool of small keys (sql/functions/17_key_pool.sql):
   * levelOne is the pool, leaves are the pool leaves holding the key's rows,
   * and keyFilter selects them (`"customer_id" = '5'::integer`, quoted by
   * PostgreSQL's format(), for COPY, which takes no parameters).
   */
  inPool: boolean;
  keyFilter: string | null;
  /** The table has a pool (a DEFAULT partition): DETACH ... CONCURRENTLY is refused, and attaching scans the pool. */
  tableHasPool: boolean;
}

export async function serverMajor(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS v`);
  return rows[0]!.v;
}

/** The facts of a key; a clear error for a key the table does not have (a dropped key reads as retired). */
export async function keyFacts(
  db: Queryable,
  installSchema: string,
  config: ManagedConfig,
  keyValue: string,
  options: { count?: boolean } = {},
): Promise<KeyFacts> {
  const q = ident(installSchema);
  const major = await serverMajor(db);
  const { rows } = await db.query<{
    state: KeyState;
    level_one: string;
    oid: number;
    bucket_limit: string | null;
    in_pool: boolean;
    table_has_pool: boolean;
  }>(
    // in_pool and key_pool came with migration 0009: read so that an older installation reads as isolated.
    `SELECT state, level_one_partition::text AS level_one, level_one_partition::oid::int AS oid, bucket_limit,
            coalesce((to_jsonb(t) ->> 'in_pool')::boolean, false) AS in_pool,
            to_regclass($3) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = to_regclass($4) AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') AS table_has_pool
       FROM ${q}.partition_tracker t WHERE config_id = $1 AND key_value = $2`,
    [config.configId, keyValue, `${q}.key_pool`, qualified(config.schema, config.partitionedTable)],
  );
  const tracker = rows[0];
  if (!tracker) {
    const retired = await db.query(`SELECT 1 FROM ${q}.retired_key WHERE config_id = $1 AND key_value = $2`, [
      config.configId,
      keyValue,
    ]);
    if (retired.rows.length > 0) {
      return {
        config,
        keyValue,
        state: 'retired',
        levelOne: null,
        levelOneOid: null,
        attached: false,
        detachPending: false,
        leaves: [],
        rows: 0,
        rowsExact: true,
        bytes: 0,
        bucketLimit: null,
        serverMajor: major,
        inPool: false,
        keyFilter: null,
        tableHasPool: false,
      };
    }
    throw new PartwiseError(
      'not_found',
      `${config.schema}.${config.table} has no key ${keyValue} (${config.keyColumn} = ${keyValue} has no partition)`,
      { hint: 'Check the value; the Explorer lists the keys of the table.' },
    );
  }
  if (tracker.in_pool) return pooledKeyFacts(db, installSchema, config, keyValue, tracker, major);
  const inherits = await db.query<{ pending: boolean }>(
    `SELECT ${major >= 14 ? 'inhdetachpending' : 'false'} AS pending FROM pg_inherits WHERE inhrelid = $1`,
    [tracker.oid],
  );
  const leaves = await db.query<{ leaf: string; reltuples: number; bytes: string }>(
    `SELECT p.relid::regclass::text AS leaf, c.reltuples::float8 AS reltuples, pg_total_relation_size(p.relid) AS bytes
       FROM pg_partition_tree($1::oid::regclass) p JOIN pg_class c ON c.oid = p.relid
      WHERE p.isleaf ORDER BY p.relid::regclass::text`,
    [tracker.oid],
  );
  const bytes = leaves.rows.reduce((sum, l) => sum + Number(l.bytes), 0);
  const unanalyzed = leaves.rows.some((l) => l.reltuples < 0);
  let rowCount = leaves.rows.reduce((sum, l) => sum + Math.max(l.reltuples, 0), 0);
  let exact = false;
  if (options.count !== false && (bytes < EXACT_COUNT_BYTES || unanalyzed)) {
    const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${tracker.level_one}`);
    rowCount = Number(counted.rows[0]!.n);
    exact = true;
  }
  return {
    config,
    keyValue,
    state: tracker.state,
    levelOne: tracker.level_one,
    levelOneOid: tracker.oid,
    attached: inherits.rows.length > 0,
    detachPending: inherits.rows[0]?.pending ?? false,
    leaves: leaves.rows.map((l) => l.leaf),
    rows: Math.round(rowCount),
    rowsExact: exact,
    bytes,
    bucketLimit: tracker.bucket_limit === null ? null : Number(tracker.bucket_limit),
    serverMajor: major,
    inPool: false,
    keyFilter: null,
    tableHasPool: tracker.table_has_pool,
  };
}

/**
 * A pooled key's figures, from its rows in the pool: the leaves holding them,
 * their count, and their bytes as stored (pg_column_size of each row; the
 * leaves' pages and indexes are shared with other keys). Reads the key's rows
 * a group of pool leaves per statement (pool_leaf_batches, as maintenance
 * does; the buckets a parameter, pruned when planned): one read of the whole
 * pool locks every leaf with its indexes (8,414 relations for 1,200 buckets
 * with 6 indexes, more than the default lock table). ACCESS SHARE on a group
 * of leaves at a time, when not called inside a transaction.
 */
async function pooledKeyFacts(
  db: Queryable,
  installSchema: string,
  config: ManagedConfig,
  keyValue: string,
  tracker: { state: KeyState; level_one: string; oid: number; bucket_limit: string | null },
  major: number,
): Promise<KeyFacts> {
  const { rows: filters } = await db.query<{ filter: string }>(
    `SELECT format('%I = %L::%s', a.attname, $3::text, format_type(a.atttypid, a.atttypmod)) AS filter
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2`,
    [qualified(config.schema, config.partitionedTable), config.keyColumn, keyValue],
  );
  const keyFilter = filters[0]!.filter;
  const { rows: batches } = await db.query<{ buckets: number[] }>(
    `SELECT b AS buckets FROM ${ident(installSchema)}.pool_leaf_batches($1) b`,
    [config.configId],
  );
  const rows: Array<{ leaf: string; n: string; bytes: string }> = [];
  for (const { buckets } of batches) {
    const read = await db.query<{ leaf: string; n: string; bytes: string }>(
      `SELECT p.tableoid::regclass::text AS leaf, count(*) AS n, sum(pg_column_size(p.*)) AS bytes
         FROM ${tracker.level_one} p WHERE ${keyFilter} AND p.${ident(config.bucketColumn)} = ANY ($1::int[])
        GROUP BY 1`,
      [buckets],
    );
    rows.push(...read.rows);
  }
  rows.sort((a, b) => (a.leaf < b.leaf ? -1 : a.leaf > b.leaf ? 1 : 0));
  return {
    config,
    keyValue,
    state: tracker.state,
    levelOne: tracker.level_one,
    levelOneOid: tracker.oid,
    attached: true,
    detachPending: false,
    leaves: rows.map((r) => r.leaf),
    rows: rows.reduce((sum, r) => sum + Number(r.n), 0),
    rowsExact: true,
    bytes: rows.reduce((sum, r) => sum + Number(r.bytes), 0),
    bucketLimit: tracker.bucket_limit === null ? null : Number(tracker.bucket_limit),
    serverMajor: major,
    inPool: true,
    keyFilter,
    tableHasPool: true,
  };
}
