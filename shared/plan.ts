// The dry-run plan of a migration: read-only, fast (catalog statistics unless
// exact counts are asked for), typed for the renderer and printable as text.
import { z } from 'zod';
import { WorkloadReport } from './workload.js';

export const BUCKET_COLUMN_DEFAULT = 'bucket_id';

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
  /** Estimated duration in seconds, from the row count (rough). */
  estimatedSeconds: z.number(),
  /** The statements run on the table (pg_stat_statements) and which do not filter by the key. */
  workload: WorkloadReport.optional(),
});
export type MigrationPlan = z.infer<typeof MigrationPlan>;

export function blockers(plan: MigrationPlan): PlanIssue[] {
  return plan.issues.filter((issue) => issue.severity === 'blocker');
}
