// What a run recorded in the journal is now, and what can be done with it:
// rules about runs, kept apart from reading and writing the journal so that
// the run history, the runner's refusals and the CLI agree.
import type { RunStatus, TargetState } from '../../shared/runs.js';
import type { Phase } from '../../shared/progress.js';

interface TargetFacts {
  phase: Phase;
  status: TargetState['status'];
  cutoverAt: string | null;
}

/** A rollback of this target was under way when its process stopped. */
export function isRollingBack(target: TargetFacts): boolean {
  return target.phase === 'rollback' && target.status !== 'rolled_back';
}

/**
 * Whether the recorded status may hide a dead process: a process marks its
 * run running (a rollback too; journals of older versions left the run
 * "succeeded" during one), so whether it still works on it is told by the
 * run's lock only.
 */
export function needsLiveness(recorded: Exclude<RunStatus, 'interrupted'>, targets: readonly TargetFacts[]): boolean {
  return recorded === 'running' || (recorded === 'succeeded' && targets.some(isRollingBack));
}

export interface RunActions {
  status: RunStatus;
  canResume: boolean;
  canRollback: boolean;
  canFinalize: boolean;
  rollingBack: boolean;
}

/**
 * The run as a person sees it. `active` (some process holds the run's lock)
 * matters only where needsLiveness says so: a run no process holds is
 * interrupted, and a rollback continues one stopped while rolling back.
 */
export function runActions(
  recorded: Exclude<RunStatus, 'interrupted'>,
  targets: readonly TargetFacts[],
  active: boolean,
): RunActions {
  const rollingBack = targets.some(isRollingBack);
  const status: RunStatus = needsLiveness(recorded, targets) ? (active ? 'running' : 'interrupted') : recorded;
  const swappedAndKept = targets.some(
    (t) => t.cutoverAt !== null && t.status !== 'rolled_back' && t.status !== 'finalized',
  );
  return {
    status,
    canResume: status === 'interrupted' && !rollingBack,
    canRollback:
      status === 'interrupted' ||
      ((status === 'succeeded' || status === 'failed') &&
        targets.some((t) => t.status === 'done' || t.status === 'failed')),
    canFinalize: status === 'succeeded' && swappedAndKept,
    rollingBack: rollingBack && status !== 'rolled_back',
  };
}
