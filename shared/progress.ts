// Events a running migration (or maintenance job) emits: the CLI renders them
// as a progress bar or JSON lines, the app streams them to the run monitor.
import { z } from 'zod';

const MIGRATION = ['prepare', 'provision', 'copy', 'indexes', 'catch_up', 'cutover', 'verify', 'done'] as const;

/** Every phase an event can report: a migration's, then the runs that undo, end or maintain one. */
export const Phase = z.enum([...MIGRATION, 'rollback', 'finalize', 'maintain']);
export type Phase = z.infer<typeof Phase>;

/** The phases of a migration of one table, in the order they run. */
export const MIGRATION_PHASES: readonly Phase[] = MIGRATION;

export const ProgressUnit = z.enum(['rows', 'keys', 'partitions', 'changes', 'indexes']);
export type ProgressUnit = z.infer<typeof ProgressUnit>;

/**
 * Share of a table's migration time each phase takes, from the step timings of
 * the Sandbox's table migrated at 0.3M and 2.4M rows (PostgreSQL 18, 2 workers:
 * provision 18% and 6%, copy 23% and 40%, indexes 30% and 18%, verify 25% and
 * 35%). The overall progress of a table weighs each phase's own progress by
 * it; the phase's own figures are shown beside it, exact.
 */
export const PHASE_WEIGHTS: Readonly<Record<(typeof MIGRATION)[number], number>> = {
  prepare: 0.01,
  provision: 0.1,
  copy: 0.33,
  indexes: 0.24,
  catch_up: 0.01,
  cutover: 0.02,
  verify: 0.29,
  done: 0,
};

/**
 * How far a table's migration is, 0 to 1, from its current phase and that
 * phase's own progress (0 to 1; 0 when it reports none).
 */
export function overallProgress(phase: Phase, phaseFraction: number): number | null {
  const index = MIGRATION.indexOf(phase as (typeof MIGRATION)[number]);
  if (index < 0) return null;
  if (phase === 'done') return 1;
  let before = 0;
  for (const earlier of MIGRATION.slice(0, index)) before += PHASE_WEIGHTS[earlier];
  const own = PHASE_WEIGHTS[phase as (typeof MIGRATION)[number]];
  return Math.min(1, before + own * Math.min(1, Math.max(0, phaseFraction)));
}

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

/** How a run (or a rollback or finalize of it) ended. */
export const FinishedStatus = z.enum(['succeeded', 'failed', 'rolled_back', 'cancelled', 'finalized']);
export type FinishedStatus = z.infer<typeof FinishedStatus>;

/** A session in the way of a lock request (pg_blocking_pids and pg_stat_activity). */
export const LockBlocker = z.object({
  pid: z.number().int(),
  user: z.string().nullable(),
  applicationName: z.string().nullable(),
  state: z.string().nullable(),
  queryStart: z.string().nullable(),
  transactionStart: z.string().nullable(),
  query: z.string().nullable(),
  /** An autovacuum worker: PostgreSQL cancels it once the request waited deadlock_timeout, unless it prevents wraparound. */
  autovacuum: z.boolean(),
  wraparound: z.boolean(),
  /** Lock modes it holds on what the request waits for; null when it only queues ahead. */
  modes: z.string().nullable(),
  /** The connected role may not see its query (superusers and pg_read_all_stats members may). */
  detailsHidden: z.boolean(),
});
export type LockBlocker = z.infer<typeof LockBlocker>;

const base = {
  runId: z.number().int(),
  /** The connection profile whose database the run is in (set by the app's services; run ids are per database). */
  connectionId: z.string().optional(),
  /** `schema.table` of the target the event is about, when it is about one. */
  table: z.string().optional(),
  at: z.string(), // ISO timestamp
};

export const RunEvent = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('phase'), phase: Phase, message: z.string() }),
  z.object({
    ...base,
    type: z.literal('progress'),
    phase: Phase,
    done: z.number(),
    total: z.number(),
    unit: ProgressUnit,
    /** Null until two reports of the phase make a measurement. */
    perSecond: z.number().nullable(),
    etaSeconds: z.number().nullable(),
    currentKey: z.string().optional(),
    /** Catch-up: changes logged and not yet applied, while the application adds more (perSecond is the apply rate). */
    pending: z.number().optional(),
    /** Why the work waits (a throttle: "standby replica1 lag 12 MB > 8 MB"), while it does. */
    paused: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('log'),
    level: LogLevel,
    message: z.string(),
    /** When the message is about a lock request kept waiting: who is in the way. */
    blockers: z.array(LockBlocker).optional(),
  }),
  z.object({
    ...base,
    type: z.literal('finished'),
    status: FinishedStatus,
    message: z.string(),
  }),
]);
export type RunEvent = z.infer<typeof RunEvent>;
