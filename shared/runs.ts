// Migration runs as recorded in the database journal.
import { z } from 'zod';
import { FinishedStatus, Phase, ProgressUnit } from './progress.js';

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

/** One phase of one table as the journal recorded it: when, how long, how much, how long under the exclusive lock. */
export const RunStep = z.object({
  targetNo: z.number().int(),
  phase: Phase,
  startedAt: z.string(),
  /** Null while the step runs, or when its process died before it ended. */
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  /** What the step went through: rows copied or verified, changes applied, partitions or indexes built. */
  count: z.number().nullable(),
  unit: ProgressUnit.nullable(),
  /** Time the table was held under an ACCESS EXCLUSIVE lock (the swap, and a rollback's swap back). */
  lockMs: z.number().nullable(),
});
export type RunStep = z.infer<typeof RunStep>;

export const RunSummary = z.object({
  runId: z.number().int(),
  status: RunStatus,
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** What can be done with it now. */
  canResume: z.boolean(),
  canRollback: z.boolean(),
  canFinalize: z.boolean(),
  /** A rollback of this run is under way, or stopped part way (a rollback continues it). */
  rollingBack: z.boolean(),
  error: z.string().nullable(),
  /** A user holds its copy and index work (partwise pause): since when, and who. */
  paused: z.object({ at: z.string(), by: z.string() }).nullable().optional(),
  targets: z.array(TargetState),
  steps: z.array(RunStep),
});
export type RunSummary = z.infer<typeof RunSummary>;

/**
 * What a run action (start, resume, rollback, finalize) answers: the run, and
 * how it ended when it ended before the answer (nothing to do, or done at once).
 * Otherwise the work goes on and reports through run events.
 */
export const RunActionResult = z.object({
  runId: z.number().int(),
  outcome: z.object({ status: z.union([FinishedStatus, z.literal('interrupted')]), message: z.string() }).optional(),
});
export type RunActionResult = z.infer<typeof RunActionResult>;

/**
 * A step's or a run's time: "640 ms", "2.3 s", "3 min 20 s". A phase of
 * 640 ms is not "<1 s" to a DBA timing a swap.
 */
export function formatMs(ms: number): string {
  const rounded = Math.round(ms);
  if (rounded < 1000) return `${rounded.toLocaleString('en-US')} ms`;
  if (rounded < 10_000) return `${(Math.round(rounded / 100) / 10).toFixed(1)} s`;
  const seconds = Math.round(rounded / 1000);
  const [hours, minutes, secs] = [Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60), seconds % 60];
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return secs > 0 ? `${minutes} min ${secs} s` : `${minutes} min`;
  return `${secs} s`;
}

export interface RunDurations {
  /** The migration's phases (an automatic rollback after a cancel or failure counts as rollback). */
  migrationMs: number | null;
  rollbackMs: number | null;
  finalizeMs: number | null;
}

/**
 * How long each part of a run worked, from the recorded start and end of its
 * steps: time between actions (a rollback days later) is not counted. A step
 * still running counts until \`now\` when the run is running, and not at all
 * when its process died.
 */
export function runDurations(run: Pick<RunSummary, 'steps' | 'status'>, now = Date.now()): RunDurations {
  const durations: RunDurations = { migrationMs: null, rollbackMs: null, finalizeMs: null };
  for (const step of run.steps) {
    let ms = step.durationMs;
    if (ms === null && step.finishedAt === null && run.status === 'running') {
      ms = Math.max(0, now - Date.parse(step.startedAt));
    }
    if (ms === null) continue;
    const part: keyof RunDurations =
      step.phase === 'rollback' ? 'rollbackMs' : step.phase === 'finalize' ? 'finalizeMs' : 'migrationMs';
    durations[part] = (durations[part] ?? 0) + ms;
  }
  return durations;
}
