// The partition tree, bucket fill levels, sizes, and the tracker metadata of
// the tables Partwise manages.
import { z } from 'zod';
import { KeyState, RetiredKeyPolicy } from './keys.js';

export const ManagedTable = z.object({
  configId: z.number().int(),
  schema: z.string(),
  table: z.string(),
  partitionedTable: z.string(),
  keyColumn: z.string(),
  bucketColumn: z.string(),
  bucketLimit: z.number(),
  mode: z.enum(['building', 'routing']),
  keys: z.number(),
  leaves: z.number(),
  /** The original table kept by a migration until it is finalized, if any. */
  backupTable: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ManagedTable = z.infer<typeof ManagedTable>;

export const BucketNode = z.object({
  bucketId: z.number().int(),
  leaf: z.string(),
  /** Tickets handed out to this bucket: an upper bound of its rows (exact rows only on request). */
  assigned: z.number(),
  /** Rows counted or estimated, see rowsExact. */
  rows: z.number(),
  rowsExact: z.boolean(),
  capacity: z.number(),
});
export type BucketNode = z.infer<typeof BucketNode>;

/**
 * How full a bucket is, as a fraction of its capacity. With exact counts the
 * counted rows are the truth; otherwise the tickets handed out are an upper
 * bound of the rows, and estimated rows beyond that (rows written around the
 * router) still count.
 */
export function bucketFill(bucket: Pick<BucketNode, 'assigned' | 'rows' | 'rowsExact' | 'capacity'>): number {
  const used = bucket.rowsExact ? bucket.rows : Math.max(bucket.assigned, bucket.rows);
  if (bucket.capacity <= 0) return used > 0 ? Infinity : 0;
  return used / bucket.capacity;
}

/** Bands of 10% of the bucket limit: 0 is 0-10%, 9 is 90-100% (a full bucket included), 10 is over the limit. */
export const FILL_BANDS = 11;

export function fillBand(fill: number): number {
  if (fill > 1) return 10;
  return Math.min(Math.max(Math.floor(fill * 10), 0), 9);
}

export function fillBandLabel(band: number): string {
  return band >= 10 ? 'over 100%' : `${band * 10}-${band * 10 + 10}%`;
}

export const LevelOneNode = z.object({
  keyValue: z.string(),
  partition: z.string(),
  rows: z.number(),
  currentBucketId: z.number().int(),
  buckets: z.array(BucketNode),
  /** See shared/keys.ts: a detached key's partition is a standalone table (its buckets still listed). */
  state: KeyState,
  /** The key's own bucket limit (partwise key limit), if it has one. */
  bucketLimit: z.number().nullable(),
  /**
   * The key shares the pool of small keys (partition is the pool's): it has
   * no buckets of its own, and its rows are counted only with exact counts
   * (0 otherwise).
   */
  pooled: z.boolean(),
});
export type LevelOneNode = z.infer<typeof LevelOneNode>;

/** The pool of small keys of a table whose small keys share: one level-1 partition (the DEFAULT one) and its buckets. */
export const PoolNode = z.object({
  partition: z.string(),
  keys: z.number().int(),
  rows: z.number(),
  currentBucketId: z.number().int(),
  buckets: z.array(BucketNode),
});
export type PoolNode = z.infer<typeof PoolNode>;

/** A key whose partitions were dropped (partwise key drop). */
export const RetiredKey = z.object({
  keyValue: z.string(),
  onInsert: RetiredKeyPolicy,
  rowsDropped: z.number(),
  bytesDropped: z.number(),
  retiredAt: z.string(),
});
export type RetiredKey = z.infer<typeof RetiredKey>;

export const PartitionTree = z.object({
  table: ManagedTable,
  levelOne: z.array(LevelOneNode),
  /** The pool of small keys, when the table has one. */
  pool: PoolNode.nullable(),
  retired: z.array(RetiredKey),
  /**
   * What the partitioned table holds. Detached keys are standalone tables
   * outside it, so they are counted apart rather than in its rows and leaves.
   */
  totals: z.object({
    rows: z.number(),
    leaves: z.number(),
    levelOne: z.number(),
    detached: z.object({ keys: z.number(), rows: z.number(), leaves: z.number() }),
  }),
});
export type PartitionTree = z.infer<typeof PartitionTree>;

/**
 * Bytes on disk of every leaf (heap, indexes and TOAST), by leaf name. Apart
 * from the tree because measuring opens every leaf: the tree shows at once and
 * its sizes follow.
 */
export const LeafSizes = z.object({
  configId: z.number().int(),
  bytes: z.record(z.string(), z.number()),
  /** The partitioned table's leaves only: a detached key's tables are outside it. */
  totalBytes: z.number(),
});
export type LeafSizes = z.infer<typeof LeafSizes>;

export const SizesReport = z.object({
  configId: z.number().int(),
  /** The original table a migration keeps until it is finalized, and its size: what the tree compares with. */
  backup: z.object({ table: z.string(), bytes: z.number() }).nullable(),
  largestLevelOne: z.array(
    z.object({ keyValue: z.string(), partition: z.string(), bytes: z.number(), rows: z.number() }),
  ),
  /** How full buckets are: count of buckets per band of `fillBand` (index 0 = 0-10%, 9 = 90-100%, 10 = over-full). */
  fillBands: z.array(z.object({ band: z.string(), buckets: z.number() })),
  tableBytes: z.number(),
  indexBytes: z.number(),
  toastBytes: z.number(),
});
export type SizesReport = z.infer<typeof SizesReport>;

export const TrackerRow = z.object({
  keyValue: z.string(),
  levelOnePartition: z.string(),
  currentBucketId: z.number().int(),
  currentLeaf: z.string(),
  currentCapacity: z.number(),
  currentAssigned: z.number(),
  rowsAssigned: z.number(),
  lastUpdated: z.string(),
});
export type TrackerRow = z.infer<typeof TrackerRow>;

export const MaintenanceFinding = z.object({
  /** The key the finding is about; null: the pool of small keys (a table whose small keys share). */
  keyValue: z.string().nullable(),
  /** outgrown: a pooled key holding the table's threshold of rows or more (a partition of its own would suit it). */
  kind: z.enum(['missing_leaf', 'untracked_leaf', 'over_full', 'empty', 'tracker_drift', 'created_ahead', 'outgrown']),
  bucketId: z.number().int().nullable(),
  leaf: z.string().nullable(),
  rows: z.number().nullable(),
  capacity: z.number().nullable(),
  detail: z.string(),
});
export type MaintenanceFinding = z.infer<typeof MaintenanceFinding>;

export const MaintenanceReport = z.object({
  configId: z.number().int(),
  keysChecked: z.number().int(),
  findings: z.array(MaintenanceFinding),
});
export type MaintenanceReport = z.infer<typeof MaintenanceReport>;
