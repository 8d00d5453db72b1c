// Bytes on disk, with one definition on every screen: pg_total_relation_size
// (the heap with its free space and visibility maps, every index, the TOAST
// table and its index) of every leaf of a partition tree, summed. A
// partitioned table and its partitioned indexes have no storage of their own.
//
// Walking a tree and measuring it must fit any lock table: pg_partition_tree
// locks every partition of the tree until its transaction ends (thousands of
// locks for one statement), so the leaves are found from pg_inherits, which
// reads the catalog only; and the leaves are measured in batches, one
// statement each, a few at a time on the pool's connections.
import type { Queryable } from './catalog.js';

/** Leaves per statement: a few hundred relations at a time stay far inside even a small lock table. */
const BATCH = 100;
/** Batches measured at once (the app's pools hold up to 10 connections). */
const PARALLEL_BATCHES = 4;

/** What a leaf takes on disk: its heap (with free space and visibility maps), indexes and TOAST. */
export interface LeafSize {
  heapBytes: number;
  indexBytes: number;
  toastBytes: number;
}

export const totalOf = (size: LeafSize | undefined): number =>
  size ? size.heapBytes + size.indexBytes + size.toastBytes : 0;

/**
 * Runs `work` over the items in batches, a few at a time: each batch is one
 * statement, so whatever it locks is released when it ends.
 */
export async function inBatches<T>(items: readonly T[], work: (batch: T[]) => Promise<void>): Promise<void> {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL_BATCHES, batches.length) }, async () => {
      while (next < batches.length) await work(batches[next++]!);
    }),
  );
}

/**
 * Sizes of relations from their files, split into heap, indexes and TOAST
 * (their sum is pg_total_relation_size). Every size function stats each
 * fork's segments, so each part is read once: the heap's forks, the indexes,
 * the TOAST table with its index (pg_table_size would read TOAST a second time).
 */
export async function measureLeaves(db: Queryable, leaves: readonly number[]): Promise<Map<number, LeafSize>> {
  const sizes = new Map<number, LeafSize>();
  await inBatches(leaves, async (batch) => {
    const { rows } = await db.query<{ oid: number; heap: string; indexes: string; toast: string }>(
      `SELECT c.oid::int AS oid,
              pg_relation_size(c.oid, 'main') + pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm')
                + pg_relation_size(c.oid, 'init') AS heap,
              pg_indexes_size(c.oid) AS indexes,
              coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast
         FROM pg_class c WHERE c.oid = ANY ($1::oid[])`,
      [batch],
    );
    for (const row of rows) {
      sizes.set(row.oid, {
        heapBytes: Number(row.heap),
        indexBytes: Number(row.indexes),
        toastBytes: Number(row.toast),
      });
    }
  });
  return sizes;
}

/** A partition tree's figures: its leaves, their estimated rows (statistics) and their bytes on disk. */
export interface TreeFigures {
  leaves: number;
  rowEstimate: number;
  totalBytes: number;
}

/**
 * The figures of the partition trees under `roots` (partitioned tables), by
 * root oid. Rows are the leaves' statistics (pg_class.reltuples, never
 * negative); bytes are measured leaf by leaf.
 */
export async function treeFigures(db: Queryable, roots: readonly number[]): Promise<Map<number, TreeFigures>> {
  const figures = new Map<number, TreeFigures>(
    roots.map((root) => [root, { leaves: 0, rowEstimate: 0, totalBytes: 0 }]),
  );
  if (roots.length === 0) return figures;
  const { rows } = await db.query<{ root: number; leaf: number; rows: number }>(
    `WITH RECURSIVE tree (root, relid) AS (
       SELECT i.inhparent, i.inhrelid FROM pg_inherits i WHERE i.inhparent = ANY ($1::oid[])
       UNION ALL
       SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.relid
     )
     SELECT t.root::int AS root, t.relid::int AS leaf, greatest(c.reltuples, 0)::float8 AS rows
       FROM tree t JOIN pg_class c ON c.oid = t.relid
      WHERE c.relkind NOT IN ('p', 'I')`,
    [roots],
  );
  const sizes = await measureLeaves(
    db,
    rows.map((row) => row.leaf),
  );
  for (const row of rows) {
    const tree = figures.get(row.root)!;
    tree.leaves++;
    tree.rowEstimate += Number(row.rows);
    tree.totalBytes += totalOf(sizes.get(row.leaf));
  }
  return figures;
}
