// What the Tables screen shows: tables with sizes, and the columns of one
// table with what makes them a good or bad partition key.
import { z } from 'zod';

export const TableSummary = z.object({
  schema: z.string(),
  name: z.string(),
  kind: z.enum(['table', 'partitioned', 'view']),
  rowEstimate: z.number(),
  totalBytes: z.number(),
  /** Managed by Partwise already (the name is its routing view). */
  managed: z.boolean(),
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
