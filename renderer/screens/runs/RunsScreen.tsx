// Runs: the monitor of the run being followed, and the history from the
// journal (kept level with the live events) with Resume, Roll back and
// Finalize where they apply.
import { useState } from 'react';
import { formatMs, runDurations, type RunSummary } from '../../../shared/runs';
import type { RunAction } from '../../api/queries';
import { useRuns } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';
import { DASH, formatNumber, formatPercent, formatTimestamp } from '../../lib/format';
import { targetView } from '../../lib/phases';
import { liveRunIdsOf, phaseLabel, selectLiveRun, useRunProgress, type TargetProgress } from '../../state/run-progress';
import { useUi } from '../../state/ui';
import { KeyActionHistory } from './KeyActionHistory';
import { RunActionDialog, runTables } from './RunActionDialog';
import { RunMonitor, StatusBadge, useNow } from './RunMonitor';
import { isRollingBack, nextActions, runStatus } from './run-state';
import './runs.css';

/** The run the monitor shows: the chosen one, else a running one, else the newest one that sent events. */
export function pickMonitoredRun(
  chosen: number | null,
  runs: readonly RunSummary[] | undefined,
  liveRunIds: readonly number[],
): number | null {
  if (chosen !== null) return chosen;
  const running = runs?.filter((run) => run.status === 'running').sort((a, b) => b.runId - a.runId)[0];
  if (running) return running.runId;
  // Live runs without a journal entry are not migrations of this database (maintenance reports as run 0, and
  // events of an older backend name no connection): when the journal is readable, only its runs count.
  const ours = runs ? liveRunIds.filter((id) => runs.some((run) => run.runId === id)) : liveRunIds;
  if (ours.length > 0) return Math.max(...ours);
  return null;
}

const ENDED: Partial<Record<RunSummary['targets'][number]['status'], string>> = {
  rolled_back: 'rolled back',
  finalized: 'finalized',
};

/** A target's phase as the history shows it: live while it runs, from the journal otherwise. */
function targetProgressText(target: RunSummary['targets'][number], live: TargetProgress | undefined): string {
  const view = targetView(`${target.schema}.${target.table}`, live, target);
  if (!view.phase) return '';
  const running = live !== undefined && view.overall !== null && view.overall < 1;
  if (running) return `${phaseLabel[view.phase]}, ${formatPercent(view.overall)} of the migration`;
  return ENDED[target.status] ?? phaseLabel[view.phase];
}

function RunHistory({
  connectionId,
  runs,
  runsAt,
  monitored,
  onAction,
}: {
  connectionId: string;
  runs: RunSummary[];
  /** When the journal was read (this clock, ms). */
  runsAt: number;
  monitored: number | null;
  onAction(run: RunSummary, action: RunAction): void;
}) {
  const monitorRun = useUi((state) => state.monitorRun);
  // Live events keep each row level with the monitor between reads of the journal.
  const progress = useRunProgress();
  useNow(runs.some((run) => run.status === 'running'));
  return (
    <div className="table-scroll">
      <table className="data-table run-history" data-testid="run-history" data-connection-id={connectionId}>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Tables</th>
            <th scope="col">Started</th>
            <th scope="col" className="right">
              Duration
            </th>
            <th scope="col" className="right">
              Rows copied
            </th>
            <th scope="col" className="actions-col">
              Actions
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const live = selectLiveRun(progress, connectionId, run.runId);
            const status = runStatus(live, run, runsAt);
            const rollingBack = isRollingBack(live, run);
            const copied = run.targets.reduce((sum, target) => {
              const copy = live?.targets[`${target.schema}.${target.table}`]?.progress;
              return sum + (copy?.phase === 'copy' ? Math.max(copy.done, target.rowsCopied) : target.rowsCopied);
            }, 0);
            const durations = runDurations({ steps: run.steps, status });
            return (
              <tr
                key={run.runId}
                className={run.runId === monitored ? 'selected' : undefined}
                data-testid="run-row"
                data-run-id={run.runId}
                data-status={status}
              >
                <td className="num">#{run.runId}</td>
                <td>
                  <StatusBadge
                    status={status}
                    rollingBack={rollingBack && (status === 'running' || status === 'interrupted')}
                    testId="run-row-status"
                  />
                </td>
                <td>
                  <ul className="cell-list">
                    {run.targets.map((target) => (
                      <li key={target.targetNo}>
                        <span className="mono">
                          {target.schema}.{target.table}
                        </span>{' '}
                        <span className="muted">
                          by {target.keyColumn} ·{' '}
                          {targetProgressText(target, live?.targets[`${target.schema}.${target.table}`])}
                        </span>
                        {target.error && <div className="error-text">{target.error}</div>}
                      </li>
                    ))}
                  </ul>
                  {run.error && (
                    <div className="error-text" data-testid="run-error">
                      {run.error}
                    </div>
                  )}
                </td>
                <td className="nowrap">{formatTimestamp(run.startedAt)}</td>
                <td className="right nowrap" data-testid="run-row-duration">
                  {durations.migrationMs !== null ? formatMs(durations.migrationMs) : DASH}
                  {durations.rollbackMs !== null && (
                    <div className="muted small">rollback {formatMs(durations.rollbackMs)}</div>
                  )}
                </td>
                <td className="right num">{formatNumber(copied)}</td>
                <td className="actions-col">
                  <div className="row-actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      onClick={() => monitorRun(run.runId)}
                      disabled={run.runId === monitored}
                      data-testid="run-monitor-open"
                    >
                      Monitor
                    </button>
                    {nextActions(run, status).map((button) => (
                      <button
                        key={button.action}
                        type="button"
                        className={button.className}
                        onClick={() => onAction(run, button.action)}
                        data-testid={`run-${button.action}`}
                      >
                        {button.label}
                      </button>
                    ))}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function RunsView({ connectionId }: { connectionId: string }) {
  const runs = useRuns(connectionId);
  const chosen = useUi((state) => state.monitoredRunId);
  // A string, so the view re-renders when runs appear, not on every progress event.
  const liveRunIds = useRunProgress((state) => liveRunIdsOf(state, connectionId).join(','));
  const [pending, setPending] = useState<{ run: RunSummary; action: RunAction } | null>(null);
  const go = useUi((state) => state.go);
  const monitored = pickMonitoredRun(chosen, runs.data, liveRunIds === '' ? [] : liveRunIds.split(',').map(Number));
  const monitoredSummary = runs.data?.find((run) => run.runId === monitored);

  return (
    <div className="runs-layout">
      {monitored !== null ? (
        <RunMonitor
          connectionId={connectionId}
          runId={monitored}
          summary={monitoredSummary}
          summaryAt={runs.dataUpdatedAt}
        />
      ) : (
        <EmptyState
          title="No run in progress"
          testId="monitor-empty"
          action={
            <button type="button" className="btn" onClick={() => go('plan')}>
              <Icon name="plan" />
              Go to Plan
            </button>
          }
        >
          Start a migration from the Plan screen, or pick a run below to see its state.
        </EmptyState>
      )}
      <div className="panel">
        <div className="panel-header">
          <h2 className="panel-title">History</h2>
          <RefreshButton
            className="btn btn-small"
            onRefresh={() => void runs.refetch()}
            busy={runs.isFetching}
            testId="runs-refresh"
          >
            Refresh
          </RefreshButton>
        </div>
        {runs.isPending && <Loading label="Reading the run journal…" />}
        {runs.isError && (
          <ErrorState error={runs.error} onRetry={() => void runs.refetch()} retrying={runs.isFetching} />
        )}
        {runs.data && runs.data.length === 0 && (
          <EmptyState title="No runs yet" testId="runs-empty">
            Migrations started on this database appear here, with what can be done with them.
          </EmptyState>
        )}
        {runs.data && runs.data.length > 0 && (
          <RunHistory
            connectionId={connectionId}
            runs={runs.data}
            runsAt={runs.dataUpdatedAt}
            monitored={monitored}
            onAction={(run, action) => setPending({ run, action })}
          />
        )}
      </div>
      <KeyActionHistory connectionId={connectionId} />
      {pending && (
        <RunActionDialog
          connectionId={connectionId}
          runId={pending.run.runId}
          tables={runTables(pending.run)}
          action={pending.action}
          rollingBack={pending.run.rollingBack}
          onClose={() => setPending(null)}
        />
      )}
    </div>
  );
}

export function RunsScreen() {
  return (
    <section className="screen" data-testid="screen-runs" aria-label="Runs">
      <ScreenHeader
        title="Runs"
        subtitle="Live progress of migrations, every run recorded in this database, and the actions on keys."
      />
      <RequireConnection>{(connectionId) => <RunsView connectionId={connectionId} />}</RequireConnection>
    </section>
  );
}
