// The phases of one table's migration, in the order they run, each one object:
// whether the journal says it is done, whether it has anything to do for this
// table, where the crash tests may stop the process before it, and how it
// runs. The runner walks this list, and a resumed run starts at the first
// phase not done, so adding a phase means adding it here (and its name to
// shared/progress.ts, whose order a test compares with this list).
//
// Undoing is not a per-phase method run in reverse: a phase killed part way
// leaves part of its work (an interrupted provisioning makes partitions the
// tracker does not list yet), so rollback.ts undoes by what the catalog and
// the journal's saved definitions show exists, whichever phase made it: the
// swap first, then the capture on the original table, then the new table.
import type pg from 'pg';
import { MIGRATION_PHASES, type Phase } from '../../../shared/progress.js';
import type { JournalTarget } from '../journal.js';
import { catchUp } from './catch-up.js';
import type { TargetContext } from './context.js';
import { provisionAndCopy } from './copy.js';
import type { CrashPoint } from './crash-points.js';
import { cutover } from './cutover.js';
import { buildIndexes } from './indexes.js';
import { restoreLeafAutovacuum } from './leaf-autovacuum.js';
import { prepare } from './prepare.js';
import { verify } from './verify.js';

/** A step's figures in the journal: `count` of `unit`, and `lockMs` under an exclusive lock. */
export type StepDetail = Record<string, unknown> & { count?: number; unit?: string; lockMs?: number };

/**
 * Ends the running journal step and starts the next phase (journal, step and
 * progress), for a phase that hands over mid-way; `message` as in `message()`.
 */
export type HandOver = (next: Phase, detail: Record<string, unknown>, message: string) => Promise<void>;

export interface MigrationPhase {
  phase: Phase;
  /** A later phase this one hands over to mid-way, without a boundary between them. */
  handsOverTo?: Phase;
  /** What the progress line says as it starts. */
  message(label: string): string;
  /** The journal records it as done: resume passes it by. */
  isDone(target: JournalTarget): boolean;
  /** Not done, but nothing to do for this table (its crash point is still reached). */
  applies?(target: JournalTarget): boolean;
  /** Where the crash tests stop the process before it starts. */
  crashPoint?: CrashPoint;
  run(context: TargetContext, control: pg.ClientBase, handOver: HandOver): Promise<StepDetail | void>;
}

/** The journal's phase is past this one. */
function passed(phase: Phase): (target: JournalTarget) => boolean {
  return (target) => MIGRATION_PHASES.indexOf(target.phase) > MIGRATION_PHASES.indexOf(phase);
}

/** The swap committed (it records the time and the next phase in the same transaction). */
const swapped = (target: JournalTarget): boolean => target.cutoverAt !== null;

export const MIGRATION_STEPS: readonly MigrationPhase[] = [
  {
    phase: 'prepare',
    message: (label) => `preparing ${label}`,
    isDone: passed('prepare'),
    run: (context, control) => prepare(context, control),
  },
  {
    // Provisioning and the copy share one snapshot: provision hands over to
    // copy inside it, and the runner records the copy phase at the hand-over.
    phase: 'provision',
    handsOverTo: 'copy',
    message: (label) => `creating partitions for ${label}`,
    isDone: passed('copy'),
    run: async (context, control, handOver) => ({
      ...(await provisionAndCopy(context, control, (provisioned, message) =>
        handOver('copy', { ...provisioned, unit: 'partitions' }, message),
      )),
      unit: 'rows',
    }),
  },
  {
    phase: 'indexes',
    message: (label) => `building indexes of ${label}`,
    isDone: passed('indexes'),
    crashPoint: 'indexes:before',
    run: async (context, control) => ({ ...(await buildIndexes(context, control)), unit: 'indexes' }),
  },
  {
    // Repeated on resume until the swap: changes made while the process was
    // gone are applied before the swap takes its lock, not under it.
    phase: 'catch_up',
    message: () => 'applying changes made during the copy',
    isDone: swapped,
    applies: (target) => Boolean(target.saved.changeLog),
    crashPoint: 'catch_up:before',
    run: async (context, control) => {
      const before = context.target.changesApplied;
      await catchUp(context, control);
      return { count: context.target.changesApplied - before, unit: 'changes' };
    },
  },
  {
    phase: 'cutover',
    message: (label) => `swapping ${label}`,
    isDone: swapped,
    run: (context, control) => cutover(context, control),
  },
  {
    phase: 'verify',
    message: (label) => `verifying ${label}`,
    isDone: passed('verify'),
    crashPoint: 'verify:before',
    run: async (context, control) => {
      // First after the swap (and again on a resume): the leaves were filled
      // with autovacuum held off, and the application uses them now; their
      // statistics too.
      await restoreLeafAutovacuum(context, control);
      const report = await verify(context, control);
      return { ...report, count: report.rows, unit: 'rows' };
    },
  },
];
