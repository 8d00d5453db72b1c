// What the application runs against a table, read from pg_stat_statements,
// and whether each statement constrains the partition key: a statement that
// does not is planned against, locks and (without run-time pruning) reads
// every leaf of the partitioned table. Shown before a migration (in its plan)
// and after it (for the live table).
import { z } from 'zod';

/**
 * - `key`: restricted by equality (or IN) on the key with a value known before
 *   the statement runs: PostgreSQL prunes to the buckets of the keys named.
 * - `key_at_run_time`: restricted by the key only through a value computed
 *   while it runs (a sub-select, a join): every leaf is planned and locked,
 *   only the matching ones are read.
 * - `keyless`: not restricted by the key: every leaf is planned, locked and read.
 * - `not_analysed`: PostgreSQL could not plan it here (see the reason).
 */
export const WorkloadVerdict = z.enum(['key', 'key_at_run_time', 'keyless', 'not_analysed']);
export type WorkloadVerdict = z.infer<typeof WorkloadVerdict>;

export const WorkloadStatement = z.object({
  /** pg_stat_statements' queryid (as text: it is a 64-bit integer); null when hidden. */
  queryId: z.string().nullable(),
  /** The normalized text, constants replaced by $1, $2... */
  query: z.string(),
  /** Roles that ran it. */
  roles: z.array(z.string()),
  calls: z.number(),
  totalMs: z.number(),
  meanMs: z.number(),
  verdict: WorkloadVerdict,
  /** What the plan showed, or why PostgreSQL could not plan it. */
  reason: z.string(),
  /** Leaves it plans and locks against once the table is partitioned (before: predicted; after: from its plan). */
  leaves: z.number().nullable(),
  /** Time PostgreSQL took to plan it just now, on the table as it is (key-less statements only). */
  planningMs: z.number().nullable(),
  /** Before a migration: today's mean time plus the measured cost of a key-less statement over the new tree. */
  expectedMeanMs: z.number().nullable(),
  /** Called often enough, and slowed down enough, to block a migration until accepted. */
  frequent: z.boolean(),
});
export type WorkloadStatement = z.infer<typeof WorkloadStatement>;

export const WorkloadSource = z.discriminatedUnion('available', [
  z.object({
    available: z.literal(true),
    /** When the statistics were last reset (PostgreSQL 14 and later); calls count from then. */
    since: z.string().nullable(),
    /** Whether this role reads every role's statements (superuser or pg_read_all_stats). */
    seesAllRoles: z.boolean(),
    /** Statements of other roles whose text this role may not read, and their calls. */
    hidden: z.object({ statements: z.number(), calls: z.number() }),
    /** Statements that mention the table beyond the ones analysed (the most called are analysed). */
    skipped: z.object({ statements: z.number(), calls: z.number() }),
    /** Things worth knowing about what is collected (settings, reset time...). */
    notes: z.array(z.string()),
  }),
  z.object({
    available: z.literal(false),
    /** Why the workload cannot be read. */
    reason: z.string(),
    /** What to run to make it readable, in order. */
    steps: z.array(z.string()),
  }),
]);
export type WorkloadSource = z.infer<typeof WorkloadSource>;

/** What a key-less lookup costs over a tree of the predicted size, measured on the server. */
export const KeylessCost = z.object({
  /** The statement measured (a lookup by the table's row identity). */
  statement: z.string(),
  /** Leaves of the tree the migration will build. */
  leaves: z.number(),
  /** Leaves of the temporary tree it was measured on (fewer than `leaves` when extrapolated). */
  measuredLeaves: z.number(),
  /** Whether the figures for `leaves` are extrapolated from the measured tree (see README). */
  extrapolated: z.boolean(),
  /** Median planning and execution time over the new tree (ms). */
  planningMs: z.number(),
  executionMs: z.number(),
  /** The same lookup on the table as it is today (ms). */
  todayPlanningMs: z.number(),
  todayExecutionMs: z.number(),
});
export type KeylessCost = z.infer<typeof KeylessCost>;

export const WorkloadReport = z.object({
  /** Before the migration (the plain table) or after it (the routing view and the partitioned table). */
  phase: z.enum(['before', 'after']),
  schema: z.string(),
  table: z.string(),
  keyColumn: z.string(),
  /** Leaves of the partitioned table: predicted before the migration, counted after it. */
  leaves: z.number(),
  source: WorkloadSource,
  /** Statements that read the table, most called first. */
  statements: z.array(WorkloadStatement),
  /** Measured cost of a key-less lookup (before a migration, when there is something to weigh it against). */
  cost: KeylessCost.nullable(),
  /** Why the cost was not measured, when it was not. */
  costNote: z.string().nullable(),
  analysedAt: z.string(),
});
export type WorkloadReport = z.infer<typeof WorkloadReport>;

/** A key-less statement is frequent from this many calls on (since the statistics were reset). */
export const FREQUENT_CALLS = 1000;

export function keylessStatements(report: WorkloadReport): WorkloadStatement[] {
  return report.statements.filter((s) => s.verdict === 'keyless' || s.verdict === 'key_at_run_time');
}

/** Milliseconds as people read them: 0.04 ms, 3.2 ms, 39 ms, 1,204 ms. */
export function formatMilliseconds(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString('en-US')} ms`;
}

/** A statement on one line, shortened for messages. */
export function statementPreview(query: string, max = 120): string {
  const line = query.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** What a key-less lookup costs, as one sentence naming what was measured and what was extrapolated. */
export function describeCost(cost: KeylessCost): string {
  const over = `${cost.leaves.toLocaleString('en-US')} leaves`;
  const measured = cost.extrapolated
    ? `extrapolated to ${over} from an empty temporary tree of ${cost.measuredLeaves.toLocaleString('en-US')} leaves measured on this server`
    : `measured on this server over an empty temporary tree of ${over}`;
  return `a lookup by row identity takes ${formatMilliseconds(cost.planningMs)} to plan and ${formatMilliseconds(cost.executionMs)} to run (${measured}), against ${formatMilliseconds(cost.todayPlanningMs)} and ${formatMilliseconds(cost.todayExecutionMs)} on the table today`;
}
