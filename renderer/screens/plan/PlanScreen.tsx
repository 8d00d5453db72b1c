// Plan: the dry run of the queued targets, and the confirmed start of the
// migration. Nothing runs before the confirmation that names the tables.
import { useState } from 'react';
import { blockers, connectionsForRun, DEFAULT_WORKERS, type MigrationPlan } from '../../../shared/plan';
import { displayTableName } from '../../../shared/identifiers';
import { useActiveConnection } from '../../api/active-connection';
import { usePlan, useStartRun } from '../../api/queries';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Icon } from '../../components/Icon';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';
import { Switch } from '../../components/Switch';
import { formatBytes, formatCount, formatDuration, formatNumber } from '../../lib/format';
import { useTargetQueue, useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';
import { TargetQueue } from '../tables/TargetQueue';
import { IssueItem, PlanCard } from './PlanCard';
import './plan.css';

const WORKER_CHOICES = [1, 2, 4, 8];

/** What the workers do and cost, for the choice in the start dialog. */
function WorkersNote({ workers }: { workers: number }) {
  return (
    <p className="muted" data-testid="run-workers-note">
      {workers === 1 ? 'One worker copies' : `${workers} workers copy`} the table, build its indexes and verify it, each
      on its own connection, in parallel; with its control, journal and lock-watch connections the run holds up to{' '}
      {connectionsForRun(workers)} connections. Each worker keeps about one CPU core of the server busy and reads and
      writes the disk: more workers finish sooner and load the server more, fewer leave more of it to the application.
    </p>
  );
}

function StartDialog({
  connectionId,
  plans,
  onClose,
}: {
  connectionId: string;
  plans: MigrationPlan[];
  onClose(): void;
}) {
  const [workers, setWorkers] = useState<number | null>(null);
  const start = useStartRun(connectionId);
  const production = useActiveConnection().profile?.production === true;
  const clear = useTargets((state) => state.clear);
  const monitorRun = useUi((state) => state.monitorRun);
  const go = useUi((state) => state.go);
  const totalRows = plans.reduce((sum, plan) => sum + plan.table.rows, 0);
  const totalDisk = plans.reduce((sum, plan) => sum + plan.diskBytesNeeded, 0);
  const totalSeconds = plans.reduce((sum, plan) => sum + plan.estimatedSeconds, 0);
  const warned = plans.filter((plan) => plan.issues.some((issue) => issue.severity === 'warning'));
  const estimated = plans.filter((plan) => !plan.exact);

  return (
    <ConfirmDialog
      title={plans.length === 1 ? 'Start the migration?' : `Start the migration of ${plans.length} tables?`}
      confirmLabel="Start migration"
      busy={start.isPending}
      error={start.error}
      testId="start-dialog"
      typeToConfirm={
        production ? displayTableName({ schema: plans[0]!.target.schema, name: plans[0]!.target.table }) : undefined
      }
      onCancel={onClose}
      onConfirm={() =>
        start.mutate(
          { targets: plans.map((plan) => plan.target), ...(workers ? { workers } : {}) },
          {
            onSuccess: ({ runId }) => {
              clear(connectionId);
              monitorRun(runId);
              onClose();
              go('runs');
            },
          },
        )
      }
    >
      <p>These tables are copied into partitioned tables and then swapped in for the originals:</p>
      <ul className="confirm-list" data-testid="start-tables">
        {plans.map((plan) => (
          <li key={`${plan.target.schema}.${plan.target.table}`}>
            <span className="mono strong">
              {displayTableName({ schema: plan.target.schema, name: plan.target.table })}
            </span>{' '}
            by <span className="mono">{plan.target.keyColumn}</span>: {plan.exact ? '' : 'about '}
            {formatCount(plan.table.rows, 'row')} into{' '}
            {plan.partitions.placement
              ? `${formatCount(plan.partitions.placement.leaves, 'leaf', 'leaves')}, small keys sharing`
              : formatCount(plan.partitions.leaves, 'leaf', 'leaves')}
            {!plan.partitions.placement && plan.partitions.maxLeaves > plan.partitions.leaves
              ? ` (up to ${formatNumber(plan.partitions.maxLeaves)})`
              : ''}
          </li>
        ))}
      </ul>
      {estimated.length > 0 && (
        <p className="muted" data-testid="start-estimates">
          Counts of{' '}
          {estimated
            .map((plan) => displayTableName({ schema: plan.target.schema, name: plan.target.table }))
            .join(', ')}{' '}
          are estimates; the run counts every key before creating any partition, and stops if the tree would not fit the
          lock table.
        </p>
      )}
      {warned.length > 0 && (
        <div className="start-warnings" data-testid="start-warnings">
          <p className="strong">Read the warnings before starting:</p>
          {/* Scrolls on its own: the dialog's buttons stay in view on a small window. */}
          <div className="start-warnings-list" tabIndex={0} aria-label="Warnings">
            {warned.map((plan) => (
              <div key={`${plan.target.schema}.${plan.target.table}`}>
                {plans.length > 1 && (
                  <div className="mono strong">
                    {displayTableName({ schema: plan.target.schema, name: plan.target.table })}
                  </div>
                )}
                <ul className="issue-list">
                  {plan.issues
                    .filter((issue) => issue.severity === 'warning')
                    .map((issue, index) => (
                      <IssueItem key={`${issue.code}-${index}`} issue={issue} />
                    ))}
                </ul>
              </div>
            ))}
          </div>
        </div>
      )}
      <p className="muted">
        {formatNumber(totalRows)} rows in all, about {formatDuration(totalSeconds)}; {formatBytes(totalDisk)} of free
        disk needed. The tables stay readable and writable during the copy; the cut-over takes a short exclusive lock.
        The originals are kept as backups until you finalize, so the run can be rolled back.
      </p>
      <div className="field inline">
        <label htmlFor="run-workers">Parallel workers</label>
        <select
          id="run-workers"
          value={workers ?? ''}
          onChange={(event) => setWorkers(event.target.value === '' ? null : Number(event.target.value))}
          data-testid="run-workers"
        >
          <option value="">Default ({DEFAULT_WORKERS})</option>
          {WORKER_CHOICES.map((count) => (
            <option key={count} value={count}>
              {count}
            </option>
          ))}
        </select>
      </div>
      <WorkersNote workers={workers ?? DEFAULT_WORKERS} />
    </ConfirmDialog>
  );
}

function PlanView({ connectionId }: { connectionId: string }) {
  const queue = useTargetQueue(connectionId);
  const [exact, setExact] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const plan = usePlan(connectionId, queue, exact);
  const go = useUi((state) => state.go);

  if (queue.length === 0) {
    return (
      <EmptyState
        title="No run targets queued"
        testId="plan-empty"
        action={
          <button type="button" className="btn btn-primary" onClick={() => go('tables')} data-testid="go-tables">
            <Icon name="tables" />
            Go to Tables
          </button>
        }
      >
        Choose tables, their key columns and bucket limits on the Tables screen; their plan appears here.
      </EmptyState>
    );
  }

  const plans = plan.data ?? [];
  const blockerCount = plans.reduce((sum, item) => sum + blockers(item).length, 0);
  const warningCount = plans.reduce(
    (sum, item) => sum + item.issues.filter((issue) => issue.severity === 'warning').length,
    0,
  );
  const ready = plan.isSuccess && !plan.isFetching && blockerCount === 0 && plans.length > 0;

  return (
    <div className="plan-layout">
      <div className="plan-main">
        <div className="toolbar">
          <Switch
            checked={exact}
            onChange={setExact}
            testId="plan-exact"
            title="Tables up to 1 GB are counted exactly anyway; this scans larger ones too, which takes a while"
          >
            Exact counts <span className="muted">(scans large tables too)</span>
          </Switch>
          <RefreshButton
            className="btn"
            onRefresh={() => void plan.refetch()}
            busy={plan.isFetching}
            testId="plan-refresh"
          >
            Plan again
          </RefreshButton>
          <span className="spacer" />
          {plan.isSuccess && (
            <span
              className={
                blockerCount > 0 ? 'summary-text bad' : warningCount > 0 ? 'summary-text warn' : 'summary-text'
              }
              data-testid="plan-status"
            >
              {blockerCount > 0
                ? `${formatCount(blockerCount, 'blocker')} to fix before starting`
                : warningCount > 0
                  ? `Ready, with ${formatCount(warningCount, 'warning')}`
                  : 'Ready to start'}
            </span>
          )}
          <button
            type="button"
            className="btn btn-primary"
            disabled={!ready}
            onClick={() => setConfirming(true)}
            title={blockerCount > 0 ? 'Fix the blockers first' : undefined}
            data-testid="start-migration"
          >
            <Icon name="play" />
            Start migration
          </button>
        </div>
        {plan.isPending && (
          <Loading
            label={
              exact
                ? 'Planning with exact counts: scanning each table, which takes a while on large tables…'
                : 'Planning: counting the tables up to 1 GB, estimating larger ones…'
            }
            testId="plan-loading"
          />
        )}
        {plan.isError && (
          <ErrorState
            error={plan.error}
            onRetry={() => void plan.refetch()}
            retrying={plan.isFetching}
            testId="plan-error"
          />
        )}
        {plans.map((item) => (
          <PlanCard key={`${item.target.schema}.${item.target.table}`} plan={item} connectionId={connectionId} />
        ))}
      </div>
      <aside className="plan-side">
        <TargetQueue connectionId={connectionId} compact />
      </aside>
      {confirming && plan.data && (
        <StartDialog connectionId={connectionId} plans={plan.data} onClose={() => setConfirming(false)} />
      )}
    </div>
  );
}

export function PlanScreen() {
  return (
    <section className="screen" data-testid="screen-plan" aria-label="Plan">
      <ScreenHeader
        title="Plan"
        subtitle="A dry run: what the migration will create, what it needs, and what stands in its way."
      />
      <RequireConnection>{(connectionId) => <PlanView connectionId={connectionId} />}</RequireConnection>
    </section>
  );
}
