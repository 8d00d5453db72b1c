// Migration runs as recorded in the database journal.
import { z } from 'zod';
import { Phase } from './progress.js';

export const RunStatus = z.enum([
  'running',
  'interrupted',
  'succeeded',
  'failed',
  'rolled_back',
  'cancelled',
  'finalized',
]);
export type RunStatus = z.infer<typeof RunStatus>;

export const TargetState = z.object({
  targetNo: z.number().int(),
  schema: z.string(),
  table: z.string(),
  keyColumn: z.string(),
  bucketLimit: z.number(),
  phase: Phase,
  status: z.enum(['pending', 'running', 'done', 'failed', 'rolled_back', 'finalized']),
  rowsTotal: z.number().nullable(),
  rowsCopied: z.number(),
  keysTotal: z.number().nullable(),
  keysCopied: z.number(),
  cutoverAt: z.string().nullable(),
  error: z.string().nullable(),
});
export type TargetState = z.infer<typeof TargetState>;

export const RunSummary = z.object({
  runId: z.number().int(),
  status: RunStatus,
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** What can be done with it now. */
  canResume: z.boolean(),
  canRollback: z.boolean(),
  canFinalize: z.boolean(),
  error: z.string().nullable(),
  targets: z.array(TargetState),
});
export type RunSummary = z.infer<typeof RunSummary>;
