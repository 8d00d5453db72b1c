// Events a running migration (or maintenance job) emits: the CLI renders them
// as a progress bar or JSON lines, the app streams them to the run monitor.
import { z } from 'zod';

const MIGRATION = ['prepare', 'provision', 'copy', 'indexes', 'catch_up', 'cutover', 'verify', 'done'] as const;

/** Every phase an event can report: a migration's, then the runs that undo, end or maintain one. */
export const Phase = z.enum([...MIGRATION, 'rollback', 'finalize', 'maintain']);
export type Phase = z.infer<typeof Phase>;

/** The phases of a migration of one table, in the order they run. */
export const MIGRATION_PHASES: readonly Phase[] = MIGRATION;

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

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
    unit: z.enum(['rows', 'keys', 'partitions', 'changes', 'indexes']),
    perSecond: z.number(),
    etaSeconds: z.number().nullable(),
    currentKey: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal('log'), level: LogLevel, message: z.string() }),
  z.object({
    ...base,
    type: z.literal('finished'),
    status: z.enum(['succeeded', 'failed', 'rolled_back', 'cancelled']),
    message: z.string(),
  }),
]);
export type RunEvent = z.infer<typeof RunEvent>;
