// Read-only views of managed tables for the app: the configuration, the
// partition tree with bucket fill, sizes, and the tracker. Anything that opens
// partitions (sizes, exact counts) goes in batches, one short transaction
// each, so that thousands of partitions never fill the lock table.
import type pg from 'pg';
import {
  bucketFill,
  fillBand,
  fillBandLabel,
  FILL_BANDS,
  type BucketNode,
  type LeafSizes,
  type LevelOneNode,
  type ManagedTable,
  type PartitionTree,
  type PoolNode,
  type RetiredKey,
  type SizesReport,
  type TrackerRow,
} from '../../shared/explorer.js';
import type { KeyState } from '../../shared/keys.js';
import { PartwiseError } from '../db/errors.js';
import { ident, relationExists } from '../db/sql.js';
import type { Queryable } from './catalog.js';
import { inBatches, measureLeaves, totalOf } from './relation-sizes.js';
import { liveTickets } from './tickets.js';

function installed(db: Queryable, schema: string): Promise<boolean> {
  return relationExists(db, schema, 'partition_config');
}

export async function listManagedTables(db: Queryable, schema: string): Promise<ManagedTable[]> {
  if (!(await installed(db, schema))) return [];
  const q = ident(schema);
  const { rows } = await db.query(
    `SELECT c.config_id, c.table_schema, c.table_name, c.partitioned_table, c.key_column, c.bucket_column, c.bucket_limit, c.mode,
            c.created_at, c.updated_at,
            (SELECT count(*) FROM ${q}.partition_tracker t WHERE t.config_id = c.config_id)::int AS keys,
            (SELECT count(*) FROM ${q}.partition_bucket b WHERE b.config_id = c.config_id)::int
              + ${(await hasPool(db, schema)) ? `(SELECT count(*) FROM ${q}.pool_bucket pb WHERE pb.config_id = c.config_id)::int` : '0'} AS leaves,
            (SELECT mt.backup_table FROM ${q}.migration_target mt
              WHERE mt.config_id = c.config_id AND mt.status = 'done' AND to_regclass(format('%I.%I', mt.table_schema, mt.backup_table)) IS NOT NULL
              ORDER BY mt.run_id DESC LIMIT 1) AS backup_table
       FROM ${q}.partition_config c ORDER BY c.table_schema, c.table_name`,
  );
  return rows.map((r) => ({
    configId: r.config_id,
    schema: r.table_schema,
    table: r.table_name,
    partitionedTable: r.partitioned_table,
    keyColumn: r.key_column,
    bucketColumn: r.bucket_column,
    bucketLimit: Number(r.bucket_limit),
    mode: r.mode,
    keys: r.keys,
    leaves: r.leaves,
    backupTable: r.backup_table ?? null,
    createdAt: (r.created_at as Date).toISOString(),
    updatedAt: (r.updated_at as Date).toISOString(),
  }));
}

export async function managedTable(db: pg.Pool, schema: string, configId: number): Promise<ManagedTable> {
  const table = (await listManagedTables(db, schema)).find((t) => t.configId === configId);
  if (!table) throw new PartwiseError('not_found', `No managed table has configuration id ${configId}`);
  return table;
}

/** Exact row counts of leaves: one UNION ALL statement per batch, committed on its own (counting locks each leaf). */
async function countLeaves(db: pg.Pool, leaves: readonly number[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  await inBatches(leaves, async (batch) => {
    const { rows: names } = await db.query<{ oid: number; name: string }>(
      `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY ($1::oid[])`,
      [batch],
    );
    if (names.length === 0) return;
    const statement = names
      .map((r) => `SELECT ${Number(r.oid)}::int AS oid, count(*) AS n FROM ${r.name}`)
      .join(' UNION ALL ');
    const counted = await db.query<{ oid: number; n: string }>(statement);
    for (const row of counted.rows) counts.set(row.oid, Number(row.n));
  });
  return counts;
}

/**
 * A key's state, moving or compacting while a move or compaction of it is
 * under way (or was interrupted): routing goes on then, so the tracker says
 * active and the key-action journal tells (see shared/keys.ts).
 */
function storageState(q: string): string {
  return `CASE WHEN t.state = 'active' THEN coalesce((
            SELECT CASE a.action WHEN 'move' THEN 'moving' ELSE 'compacting' END FROM ${q}.key_action a
             WHERE a.config_id = t.config_id AND a.key_value = t.key_value AND a.status = 'running'
               AND a.action IN ('move', 'compact')
             ORDER BY a.action_id DESC LIMIT 1), t.state) ELSE t.state END`;
}

/**
 * The tree: keys, their level-1 partitions and buckets with fill levels.
 * Without exact counts it reads only catalogs and sequences (row estimates
 * from pg_class), never a leaf, so it is quick at any size; the bytes on disk
 * come apart from `leafSizes`, which has to open every leaf.
 */
export async function partitionTree(
  db: pg.Pool,
  schema: string,
  configId: number,
  exactCounts: boolean,
): Promise<PartitionTree> {
  return (await treeWithLeaves(db, schema, configId, exactCounts)).tree;
}

/**
 * Key states came with migration 0006: a database Partwise has not upgraded
 * yet (nothing ran since) has every key active and none dropped.
 */
function hasKeyStates(db: Queryable, schema: string): Promise<boolean> {
  return relationExists(db, schema, 'retired_key');
}

/** The pool of small keys came with migration 0009. */
async function hasPool(db: Queryable, schema: string): Promise<boolean> {
  return relationExists(db, schema, 'key_pool');
}

interface PoolRows {
  partition: string;
  currentBucketId: number;
  tickets: number;
  buckets: Array<{
    bucket_id: number;
    leaf_oid: number;
    leaf: string;
    first_ticket: string;
    capacity: string;
    estimate: string;
  }>;
}

/** The pool of a table whose small keys share, or null: its buckets and its live ticket count. */
async function poolRows(db: pg.Pool, schema: string, configId: number): Promise<PoolRows | null> {
  if (!(await hasPool(db, schema))) return null;
  const q = ident(schema);
  const { rows } = await db.query<{ partition: string; current_bucket_id: number; tickets: string }>(
    `SELECT c.relname AS partition, p.current_bucket_id,
            greatest(p.rows_assigned, coalesce(pg_sequence_last_value(p.ticket_sequence), 0)) AS tickets
       FROM ${q}.key_pool p JOIN pg_class c ON c.oid = p.pool_partition WHERE p.config_id = $1`,
    [configId],
  );
  const pool = rows[0];
  if (!pool) return null;
  const { rows: buckets } = await db.query<PoolRows['buckets'][number]>(
    `SELECT b.bucket_id, b.leaf_partition::oid::int AS leaf_oid, coalesce(c.relname::text, b.leaf_partition::text) AS leaf,
            b.first_ticket, b.capacity, greatest(coalesce(c.reltuples, 0), 0)::bigint AS estimate
       FROM ${q}.pool_bucket b LEFT JOIN pg_class c ON c.oid = b.leaf_partition
      WHERE b.config_id = $1 ORDER BY b.bucket_id`,
    [configId],
  );
  return { partition: pool.partition, currentBucketId: pool.current_bucket_id, tickets: Number(pool.tickets), buckets };
}

/** Rows of each pooled key, by canonical key text: one scan of the pool (exact counts only). */
async function pooledKeyRows(
  db: pg.Pool,
  schema: string,
  table: ManagedTable,
  pool: string,
): Promise<Map<string, number>> {
  const parent = `${ident(table.schema)}.${ident(table.partitionedTable)}`;
  const { rows: expression } = await db.query<{ sql: string }>(
    `SELECT ${ident(schema)}.key_text_sql_for($1::regclass, $2, $3) AS sql`,
    [parent, table.keyColumn, `p.${ident(table.keyColumn)}`],
  );
  const { rows } = await db.query<{ key_value: string; n: string }>(
    `SELECT ${expression[0]!.sql} AS key_value, count(*) AS n FROM ${ident(table.schema)}.${ident(pool)} p GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.key_value, Number(r.n)]));
}

/** The tree, and the oid of each bucket's leaf (by leaf name) for the size measurements. */
async function treeWithLeaves(
  db: pg.Pool,
  schema: string,
  configId: number,
  exactCounts: boolean,
): Promise<{ tree: PartitionTree; leafOids: Map<string, number> }> {
  const table = await managedTable(db, schema, configId);
  const q = ident(schema);
  const keyActions = await hasKeyStates(db, schema);
  const [{ rows: trackers }, { rows: buckets }, assignedByKey] = await Promise.all([
    db.query<{
      key_value: string;
      level_one: string;
      current_bucket_id: number;
      state: KeyState;
      bucket_limit: string | null;
      in_pool: boolean;
    }>(
      `SELECT t.key_value, t.level_one_partition::text AS level_one, t.current_bucket_id,
              ${keyActions ? `${storageState(q)} AS state, t.bucket_limit` : `'active' AS state, NULL AS bucket_limit`},
              coalesce((to_jsonb(t) ->> 'in_pool')::boolean, false) AS in_pool
         FROM ${q}.partition_tracker t WHERE t.config_id = $1 ORDER BY t.key_value`,
      [configId],
    ),
    db.query<{
      key_value: string;
      bucket_id: number;
      leaf_oid: number;
      leaf: string;
      first_ticket: string;
      capacity: string;
      estimate: string;
    }>(
      `SELECT b.key_value, b.bucket_id, b.leaf_partition::oid::int AS leaf_oid, coalesce(c.relname::text, b.leaf_partition::text) AS leaf,
              b.first_ticket, b.capacity, greatest(coalesce(c.reltuples, 0), 0)::bigint AS estimate
         FROM ${q}.partition_bucket b LEFT JOIN pg_class c ON c.oid = b.leaf_partition
        WHERE b.config_id = $1 ORDER BY b.key_value, b.bucket_id`,
      [configId],
    ),
    liveTickets(db, schema, configId),
  ]);
  const pool = await poolRows(db, schema, configId);
  const counts = exactCounts
    ? await countLeaves(db, [...buckets.map((b) => b.leaf_oid), ...(pool?.buckets.map((b) => b.leaf_oid) ?? [])])
    : null;
  const pooledRows =
    exactCounts && pool && trackers.some((t) => t.in_pool)
      ? await pooledKeyRows(db, schema, table, pool.partition)
      : new Map<string, number>();
  const leafOids = new Map<string, number>();
  const bucketsByKey = new Map<string, BucketNode[]>();
  for (const b of buckets) {
    const live = assignedByKey.get(b.key_value) ?? 0;
    const first = Number(b.first_ticket);
    const capacity = Number(b.capacity);
    const assigned = Math.max(0, Math.min(capacity, live - first + 1));
    leafOids.set(b.leaf, b.leaf_oid);
    const list = bucketsByKey.get(b.key_value) ?? [];
    list.push({
      bucketId: b.bucket_id,
      leaf: b.leaf,
      assigned,
      rows: counts ? (counts.get(b.leaf_oid) ?? 0) : Number(b.estimate),
      rowsExact: exactCounts,
      capacity,
    });
    bucketsByKey.set(b.key_value, list);
  }
  const levelOne: LevelOneNode[] = trackers.map((t) => {
    const list = bucketsByKey.get(t.key_value) ?? [];
    return {
      keyValue: t.key_value,
      partition: t.level_one.replace(/^.*\./, '').replace(/^"(.*)"$/, '$1'),
      rows: t.in_pool ? (pooledRows.get(t.key_value) ?? 0) : list.reduce((sum, b) => sum + b.rows, 0),
      currentBucketId: t.in_pool ? (pool?.currentBucketId ?? 0) : t.current_bucket_id,
      buckets: list,
      state: t.state,
      bucketLimit: t.bucket_limit === null ? null : Number(t.bucket_limit),
      pooled: t.in_pool,
    };
  });
  const poolNode: PoolNode | null = pool && {
    partition: pool.partition,
    keys: levelOne.filter((l) => l.pooled).length,
    currentBucketId: pool.currentBucketId,
    buckets: pool.buckets.map((b) => {
      leafOids.set(b.leaf, b.leaf_oid);
      const capacity = Number(b.capacity);
      return {
        bucketId: b.bucket_id,
        leaf: b.leaf,
        assigned: Math.max(0, Math.min(capacity, pool.tickets - Number(b.first_ticket) + 1)),
        rows: counts ? (counts.get(b.leaf_oid) ?? 0) : Number(b.estimate),
        rowsExact: exactCounts,
        capacity,
      };
    }),
    rows: 0,
  };
  if (poolNode) poolNode.rows = poolNode.buckets.reduce((sum, b) => sum + b.rows, 0);
  const { rows: retired } = await db.query<{
    key_value: string;
    on_insert: RetiredKey['onInsert'];
    rows_dropped: string;
    bytes_dropped: string;
    retired_at: Date;
  }>(
    keyActions
      ? `SELECT key_value, on_insert, rows_dropped, bytes_dropped, retired_at FROM ${q}.retired_key
          WHERE config_id = $1 ORDER BY retired_at DESC, key_value`
      : 'SELECT NULL WHERE $1::int IS NULL',
    [configId],
  );
  const own = levelOne.filter((l) => !l.pooled);
  const totals = totalsOf(own.filter(inTree));
  const tree: PartitionTree = {
    table,
    levelOne,
    pool: poolNode,
    retired: retired.map((r) => ({
      keyValue: r.key_value,
      onInsert: r.on_insert,
      rowsDropped: Number(r.rows_dropped),
      bytesDropped: Number(r.bytes_dropped),
      retiredAt: r.retired_at.toISOString(),
    })),
    // The pool is one level-1 partition, whatever the number of keys it holds.
    totals: {
      rows: totals.rows + (poolNode?.rows ?? 0),
      leaves: totals.leaves + (poolNode?.buckets.length ?? 0),
      levelOne: totals.levelOne + (poolNode ? 1 : 0),
      detached: detachedTotals(own.filter((l) => !inTree(l))),
    },
  };
  return { tree, leafOids };
}

/** A detached key's partition is a standalone table: no longer part of the partitioned table. */
function inTree(key: { state: KeyState }): boolean {
  return key.state !== 'detached';
}

function totalsOf(keys: LevelOneNode[]) {
  return {
    rows: keys.reduce((sum, l) => sum + l.rows, 0),
    leaves: keys.reduce((sum, l) => sum + l.buckets.length, 0),
    levelOne: keys.length,
  };
}

function detachedTotals(keys: LevelOneNode[]) {
  const { rows, leaves, levelOne } = totalsOf(keys);
  return { keys: levelOne, rows, leaves };
}

/** Bytes on disk of every leaf of a managed table (heap, indexes and TOAST), by leaf name. */
export async function leafSizes(db: pg.Pool, schema: string, configId: number): Promise<LeafSizes> {
  const q = ident(schema);
  const keyActions = await hasKeyStates(db, schema);
  const { rows } = await db.query<{ leaf_oid: number; leaf: string; in_tree: boolean }>(
    `SELECT b.leaf_partition::oid::int AS leaf_oid, c.relname::text AS leaf,
            ${keyActions ? `t.state IS DISTINCT FROM 'detached'` : 'true'} AS in_tree
       FROM ${q}.partition_bucket b JOIN pg_class c ON c.oid = b.leaf_partition
       ${keyActions ? `LEFT JOIN ${q}.partition_tracker t ON t.config_id = b.config_id AND t.key_value = b.key_value` : ''}
      WHERE b.config_id = $1
     ${
       (await hasPool(db, schema))
         ? `UNION ALL SELECT pb.leaf_partition::oid::int, c.relname::text, true
              FROM ${q}.pool_bucket pb JOIN pg_class c ON c.oid = pb.leaf_partition WHERE pb.config_id = $1`
         : ''
     }`,
    [configId],
  );
  const sizes = await measureLeaves(
    db,
    rows.map((r) => r.leaf_oid),
  );
  const bytes: Record<string, number> = {};
  let totalBytes = 0;
  for (const row of rows) {
    const leaf = totalOf(sizes.get(row.leaf_oid));
    bytes[row.leaf] = leaf;
    if (row.in_tree) totalBytes += leaf;
  }
  return { configId, bytes, totalBytes };
}

export async function sizesReport(db: pg.Pool, schema: string, configId: number): Promise<SizesReport> {
  const { tree, leafOids } = await treeWithLeaves(db, schema, configId, false);
  // The partitioned table's figures: a detached key's tables are outside it.
  const keys = tree.levelOne.filter(inTree);
  const poolBuckets = tree.pool?.buckets ?? [];
  const oids = [
    ...keys.flatMap((l1) => l1.buckets.map((bucket) => leafOids.get(bucket.leaf)!)),
    ...poolBuckets.map((bucket) => leafOids.get(bucket.leaf)!),
  ];
  const [sizes, backup] = await Promise.all([measureLeaves(db, oids), backupSize(db, tree.table)]);
  let tableBytes = 0;
  let indexBytes = 0;
  let toastBytes = 0;
  for (const size of sizes.values()) {
    tableBytes += size.heapBytes;
    indexBytes += size.indexBytes;
    toastBytes += size.toastBytes;
  }
  const bands = Array.from({ length: FILL_BANDS }, (_, band) => ({ band: fillBandLabel(band), buckets: 0 }));
  const levelOne = keys
    .filter((l1) => !l1.pooled)
    .map((l1) => {
      let bytes = 0;
      for (const bucket of l1.buckets) {
        bytes += totalOf(sizes.get(leafOids.get(bucket.leaf)!));
        bands[fillBand(bucketFill(bucket))]!.buckets++;
      }
      return { keyValue: l1.keyValue, partition: l1.partition, bytes, rows: l1.rows };
    });
  for (const bucket of poolBuckets) bands[fillBand(bucketFill(bucket))]!.buckets++;
  return {
    configId,
    backup,
    largestLevelOne: levelOne.sort((a, b) => b.bytes - a.bytes).slice(0, 20),
    fillBands: bands,
    tableBytes,
    indexBytes,
    toastBytes,
  };
}

/** The original table a migration kept, measured as every other table is (pg_total_relation_size). */
async function backupSize(db: pg.Pool, table: ManagedTable): Promise<SizesReport['backup']> {
  if (!table.backupTable) return null;
  const { rows } = await db.query<{ bytes: string | null }>(
    `SELECT pg_total_relation_size(to_regclass(format('%I.%I', $1::text, $2::text))) AS bytes`,
    [table.schema, table.backupTable],
  );
  return rows[0]?.bytes === null || rows[0]?.bytes === undefined
    ? null
    : { table: table.backupTable, bytes: Number(rows[0].bytes) };
}

export async function trackerRows(db: pg.Pool, schema: string, configId: number): Promise<TrackerRow[]> {
  const q = ident(schema);
  // A pooled key's next row goes to the pool's current bucket: that is its current bucket.
  const { rows } = await db.query(
    (await hasPool(db, schema))
      ? `SELECT t.key_value, t.level_one_partition::text AS level_one, t.in_pool,
                coalesce(t.current_bucket_id, p.current_bucket_id) AS current_bucket_id,
                coalesce(t.current_leaf, p.current_leaf)::text AS leaf,
                coalesce(t.current_first_ticket, p.current_first_ticket) AS current_first_ticket,
                coalesce(t.current_capacity, p.current_capacity) AS current_capacity,
                CASE WHEN t.in_pool THEN greatest(p.rows_assigned, coalesce(pg_sequence_last_value(p.ticket_sequence), 0)) END AS pool_tickets,
                t.last_updated
           FROM ${q}.partition_tracker t LEFT JOIN ${q}.key_pool p ON p.config_id = t.config_id
          WHERE t.config_id = $1 ORDER BY t.key_value`
      : `SELECT key_value, level_one_partition::text AS level_one, false AS in_pool, current_bucket_id, current_leaf::text AS leaf,
                current_first_ticket, current_capacity, NULL AS pool_tickets, last_updated
           FROM ${q}.partition_tracker WHERE config_id = $1 ORDER BY key_value`,
    [configId],
  );
  const live = await liveTickets(db, schema, configId);
  return rows.map((r) => {
    // A pooled key has no tickets of its own: its current bucket fills with the pool's.
    const assigned = r.in_pool ? Number(r.pool_tickets) : (live.get(r.key_value) ?? 0);
    const capacity = Number(r.current_capacity);
    return {
      keyValue: r.key_value,
      levelOnePartition: r.level_one,
      currentBucketId: r.current_bucket_id,
      currentLeaf: r.leaf,
      currentCapacity: capacity,
      currentAssigned: Math.max(0, Math.min(assigned - Number(r.current_first_ticket) + 1, capacity)),
      rowsAssigned: r.in_pool ? 0 : assigned,
      lastUpdated: (r.last_updated as Date).toISOString(),
    };
  });
}

export async function setBucketLimit(
  db: pg.Pool,
  schema: string,
  configId: number,
  bucketLimit: number,
): Promise<ManagedTable> {
  await db.query(`SELECT ${ident(schema)}.set_bucket_limit($1, $2)`, [configId, bucketLimit]);
  return managedTable(db, schema, configId);
}
