// The dry-run plan of a migration: read-only, fast (an exact count of tables
// small enough, catalog statistics with their bounds otherwise), typed for the
// renderer and printable as text.
import { z } from 'zod';
import { WorkloadReport } from './workload.js';
import { MAX_BUCKET_LIMIT } from './bucket-limit.js';

export const BUCKET_COLUMN_DEFAULT = 'bucket_id';

/**
 * How a PRIMARY KEY, UNIQUE constraint or unique index stays enforced after
 * the migration: across the whole table (a registry keeps it, at a cost per
 * write), or per bucket only (the partitioned table's own widened index).
 */
export const UniqueEnforcement = z.enum(['table', 'bucket']);
export type UniqueEnforcement = z.infer<typeof UniqueEnforcement>;

export const MigrationTarget = z.object({
  schema: z.string().min(1).max(63),
  table: z.string().min(1).max(63),
  keyColumn: z.string().min(1).max(63),
  bucketLimit: z
    .number()
    .int('The bucket limit must be a whole number of rows')
    .min(1, 'The bucket limit must be at least 1 row')
    .max(MAX_BUCKET_LIMIT, `The bucket limit can be at most ${MAX_BUCKET_LIMIT.toLocaleString('en-US')} rows`),
  /** Migrate although frequent statements do not filter by the key (recorded with the run). */
  acceptKeylessQueries: z.boolean().optional(),
  /** Per constraint (or unique index) name; those not listed get the plan's default. */
  uniqueness: z.record(z.string().min(1).max(63), UniqueEnforcement).optional(),
  /**
   * Shared placement: keys with fewer rows than this share the pool of small
   * keys (the table's DEFAULT partition, bucketed) instead of a level-1
   * partition each; absent: every key gets its own.
   */
  shareBelow: z
    .number()
    .int('The shared placement threshold must be a whole number of rows')
    .min(1, 'The shared placement threshold must be at least 1 row')
    .max(Number.MAX_SAFE_INTEGER)
    .optional(),
});
export type MigrationTarget = z.infer<typeof MigrationTarget>;

export const IssueSeverity = z.enum(['blocker', 'warning', 'info']);
export type IssueSeverity = z.infer<typeof IssueSeverity>;

export const PlanIssue = z.object({
  /** Stable identifier, e.g. `null_keys`, `unique_index_widened`. */
  code: z.string(),
  severity: IssueSeverity,
  message: z.string(),
  /** What to do about it; copyable SQL where there is one. */
  fix: z.string().optional(),
});
export type PlanIssue = z.infer<typeof PlanIssue>;

export const KeyEstimate = z.object({
  keyValue: z.string(),
  rows: z.number(),
});

export { DEFAULT_WORKERS, MAX_WORKERS, RUN_EXTRA_CONNECTIONS, connectionsForRun } from './workers.js';
/** A unique key of the original table that widening with the partition columns would weaken. */
export const UniqueKeyPlan = z.object({
  /** The constraint's name (the index's, for a unique index that is not a constraint). */
  name: z.string(),
  kind: z.enum(['primary', 'unique_constraint', 'unique']),
  /** Its columns as people read them. */
  columns: z.string(),
  /** What the migration will do (the target's choice, else the default). */
  enforcement: UniqueEnforcement,
  defaultEnforcement: UniqueEnforcement,
  /** Whether a registry can keep it across the whole table. */
  registryAvailable: z.boolean(),
  /** Why no registry can keep it, or why the default is per bucket. */
  reason: z.string().optional(),
  deferrable: z.boolean(),
  /** Disk a registry would take, about (its columns once more, with a unique index). */
  registryBytes: z.number(),
});
export type UniqueKeyPlan = z.infer<typeof UniqueKeyPlan>;

export const MigrationPlan = z.object({
  target: MigrationTarget,
  /** Whether counts are exact (scanned) or estimated from statistics. */
  exact: z.boolean(),
  counting: z.object({
    /** scanned: exact; index: keys exact, rows per key estimated; statistics: estimated. */
    method: z.enum(['scanned', 'index', 'statistics']),
    /** How the figures were obtained and, for estimates, how far off they can be. */
    note: z.string(),
  }),
  serverVersion: z.string(),
  table: z.object({
    rows: z.number(),
    totalBytes: z.number(),
    indexBytes: z.number(),
    owner: z.string(),
  }),
  key: z.object({
    column: z.string(),
    type: z.string(),
    nullable: z.boolean(),
    distinctKeys: z.number(),
    nullRows: z.number(),
    /** The largest keys, biggest first (estimated from statistics unless exact). */
    largest: z.array(KeyEstimate),
  }),
  partitions: z.object({
    levelOne: z.number(),
    leaves: z.number(),
    /** Upper bounds of levelOne and leaves (equal to them when counted): what every check uses. */
    maxLevelOne: z.number(),
    maxLeaves: z.number(),
    /** Relations a query that does not prune locks: partitions plus their indexes (upper bound). */
    lockedByFullScan: z.number(),
    lockTableCapacity: z.number(),
    /** The one max_locks_per_transaction to recommend for the swap, or null when the current one is enough. */
    recommendedMaxLocks: z.number().nullable(),
    /**
     * The tree's relations both ways (partitions, their indexes, and each
     * leaf's TOAST table and its index where the table has TOAST): one
     * level-1 partition per key, and with keys under target.shareBelow in the
     * pool (its level-1 partition and buckets). Absent without shareBelow.
     */
    placement: z
      .object({
        threshold: z.number(),
        pooledKeys: z.number(),
        pooledRows: z.number(),
        poolBuckets: z.number(),
        /** Level-1 partitions (the pool counts as one) and leaves with small keys sharing. */
        levelOne: z.number(),
        leaves: z.number(),
        relationsPerKey: z.number(),
        relationsShared: z.number(),
      })
      .optional(),
  }),
  /** Names the migration will give its objects. */
  names: z.object({
    partitionedTable: z.string(),
    backupTable: z.string(),
    bucketColumn: z.string(),
  }),
  /** Free disk space the copy needs (the table and its indexes once more). */
  diskBytesNeeded: z.number(),
  /** The first statements of the migration's DDL (a comment says how many more). */
  ddl: z.array(z.string()),
  /** Statements the migration runs to create the tree, its indexes and the view; and their upper bound. */
  ddlStatements: z.number(),
  maxDdlStatements: z.number(),
  issues: z.array(PlanIssue),
  /** Every PRIMARY KEY, UNIQUE constraint and unique index, and how each stays enforced. */
  uniqueness: z.array(UniqueKeyPlan).optional(),
  /** Estimated duration in seconds, from the row count (rough). */
  estimatedSeconds: z.number(),
  /** The statements run on the table (pg_stat_statements) and which do not filter by the key. */
  workload: WorkloadReport.optional(),
});
export type MigrationPlan = z.infer<typeof MigrationPlan>;

/**
 * The tree the migration makes: with small keys sharing, the keys at or above
 * the threshold's partitions and the pool (one level-1 partition, its buckets
 * the leaves); else a level-1 partition per key. Upper bounds as the plan's.
 */
export function plannedTree(plan: MigrationPlan): {
  levelOne: number;
  leaves: number;
  maxLevelOne: number;
  maxLeaves: number;
} {
  const p = plan.partitions;
  const shared = p.placement ?? p;
  return {
    levelOne: shared.levelOne,
    leaves: shared.leaves,
    maxLevelOne: shared.levelOne + p.maxLevelOne - p.levelOne,
    maxLeaves: shared.leaves + p.maxLeaves - p.leaves,
  };
}

export function blockers(plan: MigrationPlan): PlanIssue[] {
  return plan.issues.filter((issue) => issue.severity === 'blocker');
}
