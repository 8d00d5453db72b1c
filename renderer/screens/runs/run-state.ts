// What the Runs screen says about a run, from its live events and the journal
// together: its status, what can be done with it next, and how long it took.
import { formatMs, runDurations, type RunStatus, type RunSummary } from '../../../shared/runs';
import type { RunAction } from '../../api/queries';
import { formatDuration } from '../../lib/format';
import { phaseLabel, type RunProgress } from '../../state/run-progress';

/**
 * The live status when events say more than the journal read: a run that sent
 * events since the journal was read is running (a rollback or finalize of a
 * finished run too), or ended as its `finished` event says. A journal read
 * after the last event wins: events can be missed, the journal cannot.
 */
export function runStatus(live: RunProgress | undefined, summary: RunSummary | undefined, summaryAt = 0): RunStatus {
  if (live && (!summary || live.receivedAt >= summaryAt)) {
    return live.finished ? live.finished.status : 'running';
  }
  return summary?.status ?? (live?.finished ? live.finished.status : 'running');
}

/** A rollback is under way or stopped part way: what is running (or to continue) is the rollback. */
export function isRollingBack(live: RunProgress | undefined, summary: RunSummary | undefined): boolean {
  if (live && !live.finished) {
    const phases = Object.values(live.targets).map((target) => target.phase);
    if (phases.includes('rollback')) return true;
    if (phases.some((phase) => phase !== null && phase !== 'finalize')) return false;
  }
  return summary?.rollingBack ?? false;
}

export interface RunActionButton {
  action: RunAction;
  label: string;
  className: string;
}

/** What can be done with a run now, in the order the buttons show; nothing while it runs. */
export function nextActions(run: RunSummary, status: RunStatus): RunActionButton[] {
  if (status === 'running') return [];
  const buttons: RunActionButton[] = [];
  if (run.canResume) buttons.push({ action: 'resume', label: 'Resume', className: 'btn btn-small btn-primary' });
  if (run.canRollback) {
    buttons.push(
      run.rollingBack
        ? { action: 'rollback', label: 'Continue rollback', className: 'btn btn-small btn-primary' }
        : { action: 'rollback', label: 'Roll back', className: 'btn btn-small btn-danger-outline' },
    );
  }
  if (run.canFinalize) buttons.push({ action: 'finalize', label: 'Finalize', className: 'btn btn-small' });
  return buttons;
}

/** "took 6.2 s · rollback 2.1 s": the recorded work of each part, never the time between them. */
export function durationText(
  summary: RunSummary | undefined,
  live: RunProgress | undefined,
  status: RunStatus,
  now = Date.now(),
): string {
  const seconds = (ms: number | null) => formatMs(ms ?? 0);
  if (!summary || summary.steps.length === 0) {
    // Not in the journal yet: the events are all there is.
    const start = live ? Date.parse(live.firstEventAt) : NaN;
    if (status !== 'running' || Number.isNaN(start)) return '';
    return `running for ${formatDuration(Math.max(0, now - start) / 1000)}`;
  }
  const durations = runDurations({ steps: summary.steps, status }, now);
  if (status === 'running') {
    return isRollingBack(live, summary)
      ? `rolling back for ${seconds(durations.rollbackMs)}`
      : `running for ${seconds(durations.migrationMs)}`;
  }
  const parts = [`took ${seconds(durations.migrationMs)}`];
  if (durations.rollbackMs !== null) parts.push(`rollback ${seconds(durations.rollbackMs)}`);
  if (durations.finalizeMs !== null) parts.push(`finalize ${seconds(durations.finalizeMs)}`);
  return parts.join(' · ');
}

/** What the monitor says of a run that is not running and sent no `finished` event here. */
export function journalStatement(summary: RunSummary, status: RunStatus): { tone: string; text: string } | null {
  const tables = summary.targets.map((target) => `${target.schema}.${target.table}`).join(', ');
  if (status === 'interrupted' && summary.rollingBack) {
    return {
      tone: 'interrupted',
      text: `Interrupted while rolling back ${tables}: the tables are part way back. Continue the rollback to finish it.`,
    };
  }
  if (status === 'interrupted') {
    const phases = [
      ...new Set(summary.targets.filter((t) => t.status !== 'done').map((t) => phaseLabel[t.phase].toLowerCase())),
    ];
    return {
      tone: 'interrupted',
      text: `Interrupted${phases.length ? ` in phase ${phases.join(', ')}` : ''}: resume it to continue where it stopped, or roll it back.`,
    };
  }
  if (summary.error) return { tone: status === 'cancelled' ? 'cancelled' : 'failed', text: summary.error };
  return null;
}
