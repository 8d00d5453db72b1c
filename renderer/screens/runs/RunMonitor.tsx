// The run monitor: per target table, the phase stepper, a progress bar,
// done/total, throughput, ETA and the key being copied; the live log; Cancel.
import { memo, useEffect, useState } from 'react';
import type { RunStatus, RunSummary } from '../../../shared/runs';
import { Icon } from '../../components/Icon';
import { ProgressBar } from '../../components/Bars';
import { formatDuration, formatElapsed, formatNumber, formatRate, formatTimestamp } from '../../lib/format';
import { isMigrationPhase, migrationSteps, outcomeOf, targetView, type TargetView } from '../../lib/phases';
import { phaseLabel, RUN_LEVEL, selectLiveRun, useRunProgress, type RunProgress } from '../../state/run-progress';
import { LiveLog } from './LiveLog';
import { RunActionDialog, runTables } from './RunActionDialog';

export const STATUS_LABEL: Record<RunStatus, string> = {
  running: 'running',
  interrupted: 'interrupted',
  succeeded: 'succeeded',
  failed: 'failed',
  rolled_back: 'rolled back',
  cancelled: 'cancelled',
  finalized: 'finalized',
};

export function StatusBadge({ status, testId = 'run-status' }: { status: RunStatus; testId?: string }) {
  return (
    <span className={`badge status status-${status}`} data-testid={testId} data-status={status}>
      {status === 'running' && <span className="spinner tiny" aria-hidden="true" />}
      {STATUS_LABEL[status]}
    </span>
  );
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** The live status when the run finished while watched; otherwise the journal's. */
export function monitorStatus(live: RunProgress | undefined, summary: RunSummary | undefined): RunStatus {
  if (live?.finished) return live.finished.status;
  if (summary) return summary.status;
  return 'running';
}

const TargetCard = memo(function TargetCard({ view, runStatus }: { view: TargetView; runStatus: RunStatus }) {
  const outcome =
    view.status === 'failed'
      ? 'failed'
      : view.status === 'done'
        ? 'succeeded'
        : outcomeOf(runStatus === 'running' ? null : runStatus);
  const steps = migrationSteps(view.phase, outcome);
  const fraction = view.total && view.total > 0 && view.done !== null ? view.done / view.total : 0;
  const indeterminate = runStatus === 'running' && (view.total === null || view.total === 0) && view.phase !== 'done';
  const tone =
    outcome === 'failed' ? 'error' : outcome === 'succeeded' ? 'success' : outcome === 'stopped' ? 'muted' : 'active';
  return (
    <div className="target-progress" data-testid="run-target" data-table={view.table} data-phase={view.phase ?? ''}>
      <div className="target-progress-head">
        <span className="mono strong">{view.table || 'Run'}</span>
        {view.phase && <span className="badge">{phaseLabel[view.phase]}</span>}
        {view.message && <span className="muted ellipsis">{view.message}</span>}
      </div>
      {isMigrationPhase(view.phase) ? (
        <ol className="stepper" data-testid="phase-stepper" aria-label="Migration phases">
          {steps.map((step) => (
            <li
              key={step.phase}
              className={`step step-${step.state}`}
              data-phase={step.phase}
              data-state={step.state}
              aria-current={step.state === 'current' ? 'step' : undefined}
            >
              <span className="step-dot" aria-hidden="true">
                {step.state === 'done' && <Icon name="check" size={10} />}
                {step.state === 'failed' && <Icon name="close" size={10} />}
              </span>
              <span className="step-label">{phaseLabel[step.phase]}</span>
            </li>
          ))}
        </ol>
      ) : null}
      <ProgressBar
        fraction={outcome === 'succeeded' ? 1 : fraction}
        indeterminate={indeterminate && outcome === null}
        label={`${view.table || 'Run'}: ${view.phase ? phaseLabel[view.phase] : 'starting'}`}
        tone={tone}
      />
      <div className="progress-facts">
        <span data-testid="progress-count">
          {view.done !== null && view.total !== null
            ? `${formatNumber(view.done)} / ${formatNumber(view.total)} ${view.unit}`
            : view.done !== null
              ? `${formatNumber(view.done)} ${view.unit}`
              : '—'}
        </span>
        <span data-testid="progress-rate">
          <span className="muted">rate</span> {view.perSecond !== null ? formatRate(view.perSecond, view.unit) : '—'}
        </span>
        <span data-testid="progress-eta">
          <span className="muted">ETA</span> {view.etaSeconds !== null ? formatDuration(view.etaSeconds) : '—'}
        </span>
        <span data-testid="progress-key" className="ellipsis">
          <span className="muted">key</span> <span className="mono">{view.currentKey ?? '—'}</span>
        </span>
      </div>
      {view.error && (
        <div className="target-error" role="alert">
          {view.error}
        </div>
      )}
    </div>
  );
});

export function RunMonitor({
  connectionId,
  runId,
  summary,
}: {
  connectionId: string;
  runId: number;
  summary: RunSummary | undefined;
}) {
  // Another connection's run with the same number is not this one.
  const live = useRunProgress((state) => selectLiveRun(state, connectionId, runId));
  const [cancelling, setCancelling] = useState(false);
  const status = monitorStatus(live, summary);
  const now = useNow(status === 'running');

  const journalByTable = new Map(
    (summary?.targets ?? []).map((target) => [`${target.schema}.${target.table}`, target]),
  );
  const tables: string[] = [];
  for (const table of live?.targetOrder ?? []) if (table !== RUN_LEVEL) tables.push(table);
  for (const table of journalByTable.keys()) if (!tables.includes(table)) tables.push(table);
  const runLevel = live?.targets[RUN_LEVEL];
  if (tables.length === 0 && runLevel) tables.push(RUN_LEVEL);
  const views = tables.map((table) => targetView(table, live?.targets[table], journalByTable.get(table)));
  const startedAt = summary?.startedAt ?? live?.firstEventAt;
  const finishedAt = summary?.finishedAt ?? live?.finished?.at ?? null;

  return (
    <div className="panel run-monitor" data-testid="run-monitor" data-run-id={runId} data-status={status}>
      <div className="panel-header">
        <div className="run-title">
          <h2 className="panel-title">Run #{runId}</h2>
          <StatusBadge status={status} />
          {startedAt && (
            <span className="muted">
              started {formatTimestamp(startedAt)} · {status === 'running' ? 'running for ' : 'took '}
              {formatElapsed(startedAt, status === 'running' ? null : finishedAt, now)}
            </span>
          )}
        </div>
        {status === 'running' && (
          <button type="button" className="btn btn-danger" onClick={() => setCancelling(true)} data-testid="run-cancel">
            <Icon name="stop" />
            Cancel
          </button>
        )}
      </div>
      {runLevel?.phaseMessage && tables[0] !== RUN_LEVEL && (
        <p className="muted run-message">{runLevel.phaseMessage}</p>
      )}
      {live?.finished && (
        <p className={`run-finished status-${live.finished.status}`} data-testid="run-finished-message">
          {live.finished.message}
        </p>
      )}
      {!live?.finished && summary?.error && <p className="run-finished status-failed">{summary.error}</p>}
      <div className="target-progress-list">
        {views.length === 0 ? (
          <p className="muted">Waiting for the first progress report…</p>
        ) : (
          views.map((view) => <TargetCard key={view.table} view={view} runStatus={status} />)
        )}
      </div>
      <LiveLog entries={live?.log ?? []} droppedLines={live?.droppedLines ?? 0} />
      {cancelling && (
        <RunActionDialog
          connectionId={connectionId}
          runId={runId}
          tables={summary ? runTables(summary) : tables.filter((table) => table !== RUN_LEVEL)}
          action="cancel"
          onClose={() => setCancelling(false)}
        />
      )}
    </div>
  );
}
