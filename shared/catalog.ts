// What the Tables screen shows: tables with sizes, and the columns of one
// table with what makes them a good or bad partition key.
import { z } from 'zod';

/** What Partwise manages under a table's name (once migrated, the name is the routing view over the tree). */
export const ManagedSummary = z.object({
  configId: z.number().int(),
  partitionedTable: z.string(),
  /** The original table, kept by the migration until it is finalized. */
  backupTable: z.string().nullable(),
  keyColumn: z.string(),
  bucketLimit: z.number(),
  keys: z.number(),
  mode: z.enum(['building', 'routing']),
});
export type ManagedSummary = z.infer<typeof ManagedSummary>;

export const TableSummary = z.object({
  schema: z.string(),
  name: z.string(),
  kind: z.enum(['table', 'partitioned', 'view']),
  /** From statistics; for a partition tree (and a managed table) the sum over its leaves. */
  rowEstimate: z.number(),
  /** pg_total_relation_size (heap, indexes, TOAST); for a partition tree, summed over its leaves. */
  totalBytes: z.number(),
  /** Leaf partitions of a partition tree (a managed table's too); null for a plain table. */
  leaves: z.number().nullable(),
  /** Set on a table Partwise manages; its figures are those of its partition tree. */
  managedTable: ManagedSummary.nullable(),
  /** Set on the partitioned table and the backup of a managed table (same schema). */
  partOf: z.object({ table: z.string(), role: z.enum(['partitioned', 'backup']) }).nullable(),
});
export type TableSummary = z.infer<typeof TableSummary>;

export const ColumnSummary = z.object({
  name: z.string(),
  type: z.string(),
  nullable: z.boolean(),
  /** Estimated distinct values (from statistics; null when the table was never analyzed). */
  distinctEstimate: z.number().nullable(),
  /** Fraction of rows whose value is NULL (from statistics). */
  nullFraction: z.number().nullable(),
  /** Whether Partwise can partition by this column, and why not when it cannot. */
  usableAsKey: z.boolean(),
  reason: z.string().optional(),
  /** For a usable key: the bucket limit suggested for it (leaf size, weighed against the leaves it adds), and its leaves. */
  suggestedBucketLimit: z.number().int().optional(),
  suggestedLeaves: z.number().int().optional(),
});
export type ColumnSummary = z.infer<typeof ColumnSummary>;

export const TableDetail = z.object({
  schema: z.string(),
  name: z.string(),
  rowEstimate: z.number(),
  analyzed: z.boolean(),
  columns: z.array(ColumnSummary),
  /** A bucket limit that gives leaves of a comfortable size for this table (before a key is chosen). */
  suggestedBucketLimit: z.number().int(),
});
export type TableDetail = z.infer<typeof TableDetail>;
