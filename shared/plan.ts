// The dry-run plan of a migration: read-only, fast (catalog statistics unless
// exact counts are asked for), typed for the renderer and printable as text.
import { z } from 'zod';
import { WorkloadReport } from './workload.js';

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
    .int('Bucket limit must be a whole number')
    .positive('Bucket limit must be a positive integer')
    .max(2_000_000_000),
  /** Migrate although frequent statements do not filter by the key (recorded with the run). */
  acceptKeylessQueries: z.boolean().optional(),
  /** Per constraint (or unique index) name; those not listed get the plan's default. */
  uniqueness: z.record(z.string().min(1).max(63), UniqueEnforcement).optional(),
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
    /** Relations a query that does not prune locks: partitions plus their indexes. */
    lockedByFullScan: z.number(),
    lockTableCapacity: z.number(),
  }),
  /** Names the migration will give its objects. */
  names: z.object({
    partitionedTable: z.string(),
    backupTable: z.string(),
    bucketColumn: z.string(),
  }),
  /** Free disk space the copy needs (the table and its indexes once more). */
  diskBytesNeeded: z.number(),
  ddl: z.array(z.string()),
  issues: z.array(PlanIssue),
  /** Every PRIMARY KEY, UNIQUE constraint and unique index, and how each stays enforced. */
  uniqueness: z.array(UniqueKeyPlan).optional(),
  /** Estimated duration in seconds, from the row count (rough). */
  estimatedSeconds: z.number(),
  /** The statements run on the table (pg_stat_statements) and which do not filter by the key. */
  workload: WorkloadReport.optional(),
});
export type MigrationPlan = z.infer<typeof MigrationPlan>;

export function blockers(plan: MigrationPlan): PlanIssue[] {
  return plan.issues.filter((issue) => issue.severity === 'blocker');
}
