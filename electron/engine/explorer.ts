// Read-only views of managed tables for the app: the configuration, the
// partition tree with bucket fill, sizes, and the tracker. Anything that opens
// partitions (sizes, exact counts) goes in batches, one short transaction
// each, so that thousands of partitions never fill the lock table.
import type pg from 'pg';
import type {
  BucketNode,
  LevelOneNode,
  ManagedTable,
  PartitionTree,
  SizesReport,
  TrackerRow,
} from '../../shared/explorer.js';
import { PartwiseError } from '../db/errors.js';
import { ident } from '../db/sql.js';
import { liveTickets } from './tickets.js';

/**
 * Leaves per statement. Measuring or counting a leaf locks it and each of its
 * indexes until the statement's transaction ends: a few hundred relations per
 * batch stay far inside even a small lock table.
 */
const BATCH = 100;
/** Batches measured at once (the app's pools hold up to 10 connections). */
const PARALLEL_BATCHES = 4;

async function installed(db: pg.Pool, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
    `${ident(schema)}.partition_config`,
  ]);
  return rows[0]!.ok;
}

export async function listManagedTables(db: pg.Pool, schema: string): Promise<ManagedTable[]> {
  if (!(await installed(db, schema))) return [];
  const q = ident(schema);
  const { rows } = await db.query(
    `SELECT c.config_id, c.table_schema, c.table_name, c.partitioned_table, c.key_column, c.bucket_column, c.bucket_limit, c.mode,
            c.created_at, c.updated_at,
            (SELECT count(*) FROM ${q}.partition_tracker t WHERE t.config_id = c.config_id)::int AS keys,
            (SELECT count(*) FROM ${q}.partition_bucket b WHERE b.config_id = c.config_id)::int AS leaves,
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

interface LeafFigures {
  bytes: number;
  tableBytes: number;
  indexBytes: number;
  toastBytes: number;
  rows: number;
}

/** Sizes (and estimated or exact row counts) of leaves, in batches of short transactions. */
async function leafFigures(db: pg.Pool, leaves: number[], exactCounts: boolean): Promise<Map<number, LeafFigures>> {
  const figures = new Map<number, LeafFigures>();
  const batches: number[][] = [];
  for (let i = 0; i < leaves.length; i += BATCH) batches.push(leaves.slice(i, i + BATCH));
  const measure = async (batch: number[]): Promise<void> => {
    // Each size call reads file sizes from the disk: three per leaf, the rest is arithmetic.
    const { rows } = await db.query<{ oid: number; table: string; indexes: string; toast: string; estimate: string }>(
      `SELECT c.oid::int AS oid, pg_table_size(c.oid) AS table, pg_indexes_size(c.oid) AS indexes,
              coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast,
              greatest(c.reltuples, 0)::bigint AS estimate
         FROM pg_class c WHERE c.oid = ANY ($1::oid[])`,
      [batch],
    );
    for (const row of rows) {
      // pg_table_size counts the heap (with its free space and visibility maps) and TOAST.
      const table = Number(row.table);
      const indexes = Number(row.indexes);
      const toast = Number(row.toast);
      figures.set(row.oid, {
        bytes: table + indexes,
        tableBytes: table - toast,
        indexBytes: indexes,
        toastBytes: toast,
        rows: Number(row.estimate),
      });
    }
    if (exactCounts) {
      // One statement per batch, committed on its own: counting locks each leaf.
      const { rows: names } = await db.query<{ oid: number; name: string }>(
        `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY ($1::oid[])`,
        [batch],
      );
      if (names.length > 0) {
        const statement = names
          .map((r) => `SELECT ${Number(r.oid)}::int AS oid, count(*) AS n FROM ${r.name}`)
          .join(' UNION ALL ');
        const counted = await db.query<{ oid: number; n: string }>(statement);
        for (const row of counted.rows) {
          const figure = figures.get(row.oid);
          if (figure) figure.rows = Number(row.n);
        }
      }
    }
  };
  // A few batches at a time, on the pool's connections.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL_BATCHES, batches.length) }, async () => {
      while (next < batches.length) await measure(batches[next++]!);
    }),
  );
  return figures;
}

export async function partitionTree(
  db: pg.Pool,
  schema: string,
  configId: number,
  exactCounts: boolean,
): Promise<PartitionTree> {
  return (await treeWithFigures(db, schema, configId, exactCounts)).tree;
}

/** The tree, and the per-leaf figures it was built from (the sizes report reuses them). */
async function treeWithFigures(
  db: pg.Pool,
  schema: string,
  configId: number,
  exactCounts: boolean,
): Promise<{ tree: PartitionTree; figures: Map<number, LeafFigures> }> {
  const table = await managedTable(db, schema, configId);
  const q = ident(schema);
  const { rows: trackers } = await db.query<{ key_value: string; level_one: string; current_bucket_id: number }>(
    `SELECT t.key_value, t.level_one_partition::text AS level_one, t.current_bucket_id
       FROM ${q}.partition_tracker t WHERE t.config_id = $1 ORDER BY t.key_value`,
    [configId],
  );
  const { rows: buckets } = await db.query<{
    key_value: string;
    bucket_id: number;
    leaf_oid: number;
    leaf: string;
    first_ticket: string;
    capacity: string;
  }>(
    `SELECT b.key_value, b.bucket_id, b.leaf_partition::oid::int AS leaf_oid, coalesce(c.relname::text, b.leaf_partition::text) AS leaf,
            b.first_ticket, b.capacity
       FROM ${q}.partition_bucket b LEFT JOIN pg_class c ON c.oid = b.leaf_partition
      WHERE b.config_id = $1 ORDER BY b.key_value, b.bucket_id`,
    [configId],
  );
  const figures = await leafFigures(
    db,
    buckets.map((b) => b.leaf_oid),
    exactCounts,
  );
  const assignedByKey = await liveTickets(db, schema, configId);
  const bucketsByKey = new Map<string, BucketNode[]>();
  for (const b of buckets) {
    const live = assignedByKey.get(b.key_value) ?? 0;
    const first = Number(b.first_ticket);
    const capacity = Number(b.capacity);
    const assigned = Math.max(0, Math.min(capacity, live - first + 1));
    const figure = figures.get(b.leaf_oid);
    const list = bucketsByKey.get(b.key_value) ?? [];
    list.push({
      bucketId: b.bucket_id,
      leaf: b.leaf,
      assigned,
      rows: figure ? figure.rows : 0,
      rowsExact: exactCounts,
      capacity,
      bytes: figure?.bytes ?? 0,
    });
    bucketsByKey.set(b.key_value, list);
  }
  const levelOne: LevelOneNode[] = trackers.map((t) => {
    const list = bucketsByKey.get(t.key_value) ?? [];
    return {
      keyValue: t.key_value,
      partition: t.level_one.replace(/^.*\./, '').replace(/^"(.*)"$/, '$1'),
      rows: list.reduce((sum, b) => sum + b.rows, 0),
      bytes: list.reduce((sum, b) => sum + b.bytes, 0),
      currentBucketId: t.current_bucket_id,
      buckets: list,
    };
  });
  const tree: PartitionTree = {
    table,
    levelOne,
    totals: {
      rows: levelOne.reduce((sum, l) => sum + l.rows, 0),
      bytes: levelOne.reduce((sum, l) => sum + l.bytes, 0),
      leaves: buckets.length,
      levelOne: levelOne.length,
    },
  };
  return { tree, figures };
}

export async function sizesReport(db: pg.Pool, schema: string, configId: number): Promise<SizesReport> {
  const { tree, figures } = await treeWithFigures(db, schema, configId, false);
  let tableBytes = 0;
  let indexBytes = 0;
  let toastBytes = 0;
  for (const figure of figures.values()) {
    tableBytes += figure.tableBytes;
    indexBytes += figure.indexBytes;
    toastBytes += figure.toastBytes;
  }
  const bands = Array.from({ length: 11 }, (_, i) => ({
    band: i === 10 ? 'over 100%' : `${i * 10}-${i * 10 + 10}%`,
    buckets: 0,
  }));
  for (const l1 of tree.levelOne) {
    for (const bucket of l1.buckets) {
      const fill = bucket.capacity > 0 ? Math.max(bucket.assigned, bucket.rows) / bucket.capacity : 0;
      const band = fill > 1 ? 10 : Math.min(Math.floor(fill * 10), 9);
      bands[band]!.buckets++;
    }
  }
  return {
    configId,
    largestLevelOne: [...tree.levelOne]
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 20)
      .map((l) => ({ keyValue: l.keyValue, partition: l.partition, bytes: l.bytes, rows: l.rows })),
    fillBands: bands,
    tableBytes,
    indexBytes,
    toastBytes,
  };
}

export async function trackerRows(db: pg.Pool, schema: string, configId: number): Promise<TrackerRow[]> {
  const { rows } = await db.query(
    `SELECT key_value, level_one_partition::text AS level_one, current_bucket_id, current_leaf::text AS leaf,
            current_first_ticket, current_capacity, last_updated
       FROM ${ident(schema)}.partition_tracker WHERE config_id = $1 ORDER BY key_value`,
    [configId],
  );
  const live = await liveTickets(db, schema, configId);
  return rows.map((r) => {
    const assigned = live.get(r.key_value) ?? 0;
    const capacity = Number(r.current_capacity);
    return {
      keyValue: r.key_value,
      levelOnePartition: r.level_one,
      currentBucketId: r.current_bucket_id,
      currentLeaf: r.leaf,
      currentCapacity: capacity,
      currentAssigned: Math.max(0, Math.min(assigned - Number(r.current_first_ticket) + 1, capacity)),
      rowsAssigned: assigned,
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
