// Where a target is in the migration, as stepper states, and one view of its
// progress whether it comes from live events or from the run journal.
import { overallProgress, type Phase } from '../../shared/progress';
import type { RunStatus, TargetState } from '../../shared/runs';
import { MIGRATION_PHASES, type TargetProgress } from '../state/run-progress';

export type StepState = 'done' | 'current' | 'pending' | 'failed';

export interface Step {
  phase: Phase;
  state: StepState;
}

/**
 * The migration stepper. `outcome` is how the run (or target) ended, if it
 * did: succeeded marks every step done; failed marks the current one failed.
 */
export function migrationSteps(phase: Phase | null, outcome: 'succeeded' | 'failed' | 'stopped' | null): Step[] {
  const current = phase ? MIGRATION_PHASES.indexOf(phase) : -1;
  return MIGRATION_PHASES.map((step, index) => {
    if (outcome === 'succeeded' || phase === 'done') return { phase: step, state: 'done' };
    if (current === -1) return { phase: step, state: 'pending' };
    if (index < current) return { phase: step, state: 'done' };
    if (index === current)
      return { phase: step, state: outcome === 'failed' || outcome === 'stopped' ? 'failed' : 'current' };
    return { phase: step, state: 'pending' };
  });
}

export function isMigrationPhase(phase: Phase | null): boolean {
  return phase === null || MIGRATION_PHASES.includes(phase);
}

export interface TargetView {
  table: string;
  phase: Phase | null;
  message: string;
  /** Figures of the current phase only: a phase's count never stands for another's. */
  done: number | null;
  total: number | null;
  unit: string;
  /** Null until measured (the first report of a phase has no rate). */
  perSecond: number | null;
  etaSeconds: number | null;
  currentKey: string | null;
  /** Catch-up: changes logged and not yet applied. */
  pending: number | null;
  /** Why the work waits (a throttle), while it does. */
  paused: string | null;
  /** The table's whole migration, 0 to 1 (null outside a migration's phases: rollback, finalize). */
  overall: number | null;
  error: string | null;
  status: TargetState['status'] | null;
}

/** Live events win over the journal: they are newer. The journal fills in after a reload. */
export function targetView(
  table: string,
  live: TargetProgress | undefined,
  journal: TargetState | undefined,
): TargetView {
  const phase = live?.phase ?? journal?.phase ?? null;
  const progress = live?.progress && live.progress.phase === phase ? live.progress : null;
  // The journal counts rows of the copy only; after a reload that is all it can tell of the current phase.
  const copying = !progress && phase === 'copy' && journal && (journal.rowsTotal ?? 0) > 0;
  const done = progress ? progress.done : copying ? journal!.rowsCopied : null;
  const total = progress ? progress.total : copying ? journal!.rowsTotal : null;
  const fromPhase = phase ? overallProgress(phase, total && done !== null ? done / total : 0) : null;
  return {
    table,
    phase,
    message: live?.phaseMessage ?? '',
    done,
    total,
    unit: progress?.unit ?? 'rows',
    perSecond: progress?.perSecond ?? null,
    etaSeconds: progress?.etaSeconds ?? null,
    currentKey: progress?.currentKey ?? null,
    pending: progress?.pending ?? null,
    paused: progress?.paused ?? null,
    overall: fromPhase === null ? null : Math.max(fromPhase, live?.overall ?? 0),
    error: journal?.error ?? null,
    status: journal?.status ?? null,
  };
}

/** How a run's status reads in the stepper. */
export function outcomeOf(status: RunStatus | 'running' | null): 'succeeded' | 'failed' | 'stopped' | null {
  if (status === 'succeeded' || status === 'finalized') return 'succeeded';
  if (status === 'failed') return 'failed';
  if (status === 'cancelled' || status === 'rolled_back' || status === 'interrupted') return 'stopped';
  return null;
}
