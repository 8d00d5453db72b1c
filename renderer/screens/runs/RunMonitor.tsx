// The run monitor: per target table, the phase stepper, the migration's
// overall progress, the current phase's done/total, throughput, ETA and the
// key being copied; the live log; Cancel while it runs, and what can be done
// next once it stopped; the time each phase took once it ended.
import { memo, useEffect, useState } from 'react';
import type { RunStatus, RunSummary } from '../../../shared/runs';
import { usePauseRun, type RunAction } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ProgressBar } from '../../components/Bars';
import { DASH, formatDuration, formatNumber, formatPercent, formatRate, formatTimestamp } from '../../lib/format';
import { isMigrationPhase, migrationSteps, outcomeOf, targetView, type TargetView } from '../../lib/phases';
import { phaseLabel, RUN_LEVEL, selectLiveRun, useRunProgress } from '../../state/run-progress';
import { LiveLog } from './LiveLog';
import { RunActionDialog, runTables } from './RunActionDialog';
import { RunTimings } from './RunTimings';
import { durationText, isRollingBack, journalStatement, nextActions, runStatus } from './run-state';

export const STATUS_LABEL: Record<RunStatus, string> = {
  running: 'running',
  interrupted: 'interrupted',
  succeeded: 'succeeded',
  failed: 'failed',
  rolled_back: 'rolled back',
  cancelled: 'cancelled',
  finalized: 'finalized',
};

/** The run's status; `rollingBack` says what it is running (or was, when interrupted): its rollback. */
export function StatusBadge({
  status,
  rollingBack = false,
  testId = 'run-status',
}: {
  status: RunStatus;
  rollingBack?: boolean;
  testId?: string;
}) {
  const label =
    rollingBack && status === 'running'
      ? 'rolling back'
      : rollingBack && status === 'interrupted'
        ? 'interrupted in rollback'
        : STATUS_LABEL[status];
  return (
    <span
      className={`badge status status-${status}`}
      data-testid={testId}
      data-status={status}
      data-rolling-back={rollingBack || undefined}
    >
      {status === 'running' && <span className="spinner tiny" aria-hidden="true" />}
      {label}
    </span>
  );
}

export function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

const TargetCard = memo(function TargetCard({ view, runStatus }: { view: TargetView; runStatus: RunStatus }) {
  const outcome =
    view.status === 'failed'
      ? 'failed'
      : view.status === 'done' || view.status === 'finalized'
        ? 'succeeded'
        : outcomeOf(runStatus === 'running' ? null : runStatus);
  const steps = migrationSteps(view.phase, outcome);
  const running = runStatus === 'running';
  // Rollback and finalize report no figures: their bar moves while they run, and is full once they ended.
  const undoing = view.phase === 'rollback' || view.phase === 'finalize';
  const fraction = outcome === 'succeeded' || (undoing && !running) ? 1 : (view.overall ?? 0);
  const indeterminate = running && (undoing || view.phase === null);
  const tone =
    outcome === 'failed' ? 'error' : outcome === 'succeeded' ? 'success' : outcome === 'stopped' ? 'muted' : 'active';
  const phaseName = view.phase ? phaseLabel[view.phase] : 'Starting';
  // Phase messages speak of work under way; once it ended, what became of the table.
  const message = running
    ? view.message
    : view.status === 'rolled_back'
      ? 'back to its original table'
      : view.status === 'finalized'
        ? 'finalized: its backup is dropped'
        : view.phase === 'done'
          ? view.message
          : '';
  return (
    <div className="target-progress" data-testid="run-target" data-table={view.table} data-phase={view.phase ?? ''}>
      <div className="target-progress-head">
        <span className="mono strong">{view.table || 'Run'}</span>
        {view.phase && <span className="badge">{phaseLabel[view.phase]}</span>}
        {message && <span className="muted ellipsis">{message}</span>}
        {view.overall !== null && !undoing && (
          <span className="target-overall" data-testid="progress-overall">
            {formatPercent(fraction)} <span className="muted">of the migration</span>
          </span>
        )}
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
        fraction={fraction}
        indeterminate={indeterminate}
        label={`${view.table || 'Run'}: ${undoing ? phaseName : `${formatPercent(fraction)} of the migration, ${phaseName}`}`}
        tone={tone}
      />
      {/* Figures while the phase has some (prepare and the swap report none: their message says what they do). */}
      {running && view.done !== null && (
        <div className="progress-facts">
          <span>
            <span className="muted" data-testid="progress-phase">
              {phaseName}
            </span>{' '}
            <span data-testid="progress-count">
              {view.done !== null && view.total !== null
                ? `${formatNumber(view.done)} / ${formatNumber(view.total)} ${view.unit}`
                : view.done !== null
                  ? `${formatNumber(view.done)} ${view.unit}`
                  : DASH}
            </span>
          </span>
          {view.paused && (
            <span className="badge status-interrupted" data-testid="progress-paused">
              paused: {view.paused}
            </span>
          )}
          <span data-testid="progress-rate">
            <span className="muted">rate</span>{' '}
            {running && view.perSecond !== null ? formatRate(view.perSecond, view.unit) : DASH}
          </span>
          <span data-testid="progress-eta">
            <span className="muted">ETA</span>{' '}
            {running && view.etaSeconds !== null ? formatDuration(view.etaSeconds) : DASH}
          </span>
          {view.pending !== null && (
            <span data-testid="progress-pending">
              <span className="muted">pending</span> {formatNumber(view.pending)} {view.unit}
            </span>
          )}
          <span data-testid="progress-key" className="ellipsis">
            <span className="muted">key</span> <span className="mono">{view.currentKey ?? DASH}</span>
          </span>
        </div>
      )}
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
  summaryAt,
}: {
  connectionId: string;
  runId: number;
  summary: RunSummary | undefined;
  /** When the journal was read (this clock, ms). */
  summaryAt: number;
}) {
  // Another connection's run with the same number is not this one.
  const live = useRunProgress((state) => selectLiveRun(state, connectionId, runId));
  const [pending, setPending] = useState<RunAction | null>(null);
  const pause = usePauseRun(connectionId);
  const status = runStatus(live, summary, summaryAt);
  const now = useNow(status === 'running');
  const rollingBack = isRollingBack(live, summary);
  const finalizing = Object.values(live?.targets ?? {}).some((target) => target.phase === 'finalize');

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
  const duration = durationText(summary, live, status, now);
  const finished = live?.finished && status === live.finished.status ? live.finished : null;
  const statement = !finished && summary ? journalStatement(summary, status) : null;
  const actions = summary ? nextActions(summary, status) : [];

  return (
    <div className="panel run-monitor" data-testid="run-monitor" data-run-id={runId} data-status={status}>
      <div className="panel-header">
        <div className="run-title">
          <h2 className="panel-title">Run #{runId}</h2>
          <StatusBadge
            status={status}
            rollingBack={rollingBack && (status === 'running' || status === 'interrupted')}
          />
          {startedAt && (
            <span className="muted" data-testid="run-duration">
              started {formatTimestamp(startedAt)}
              {duration && ` · ${duration}`}
            </span>
          )}
        </div>
        <div className="row-actions">
          {status === 'running' && !rollingBack && !finalizing && (
            <button
              type="button"
              className="btn"
              disabled={pause.isPending}
              onClick={() => pause.mutate({ runId, paused: !summary?.paused })}
              title={
                summary?.paused
                  ? undefined
                  : 'Holds the copy and index builds between two chunks, holding no snapshot, until Continue'
              }
              data-testid={summary?.paused ? 'run-continue' : 'run-pause'}
            >
              {summary?.paused ? 'Continue' : 'Pause'}
            </button>
          )}
          {status === 'running' && !rollingBack && !finalizing && (
            <button
              type="button"
              className="btn btn-danger"
              onClick={() => setPending('cancel')}
              data-testid="run-cancel"
            >
              <Icon name="stop" />
              Cancel
            </button>
          )}
          {actions.map((button) => (
            <button
              key={button.action}
              type="button"
              className={button.className}
              onClick={() => setPending(button.action)}
              data-testid={`monitor-${button.action}`}
            >
              {button.label}
            </button>
          ))}
        </div>
      </div>
      {pause.error && (
        <p className="run-finished status-failed" role="alert" data-testid="run-pause-error">
          {pause.error.message}
        </p>
      )}
      {runLevel?.phaseMessage && tables[0] !== RUN_LEVEL && (
        <p className="muted run-message">{runLevel.phaseMessage}</p>
      )}
      {finished && (
        <p className={`run-finished status-${finished.status}`} data-testid="run-finished-message">
          {finished.message}
        </p>
      )}
      {statement && (
        <p className={`run-finished status-${statement.tone}`} data-testid="run-statement">
          {statement.text}
        </p>
      )}
      <div className="target-progress-list">
        {views.length === 0 ? (
          <p className="muted">Waiting for the first progress report…</p>
        ) : (
          views.map((view) => <TargetCard key={view.table} view={view} runStatus={status} />)
        )}
      </div>
      {summary && summary.steps.length > 0 && status !== 'running' && <RunTimings run={summary} running={false} />}
      <LiveLog entries={live?.log ?? []} droppedLines={live?.droppedLines ?? 0} />
      {pending && (
        <RunActionDialog
          connectionId={connectionId}
          runId={runId}
          tables={summary ? runTables(summary) : tables.filter((table) => table !== RUN_LEVEL)}
          action={pending}
          rollingBack={summary?.rollingBack ?? false}
          onClose={() => setPending(null)}
        />
      )}
    </div>
  );
}
