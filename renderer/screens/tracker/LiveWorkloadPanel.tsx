// The statements that still read every leaf of a managed table: what the
// application runs on its routing view and its partitioned table, from
// pg_stat_statements, planned now. Read on request: planning each statement
// against every leaf takes a moment on large trees.
import { useState } from 'react';
import type { ManagedTable } from '../../../shared/explorer';
import type { WorkloadReport } from '../../../shared/workload';
import { useLiveWorkload } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { RefreshButton } from '../../components/RefreshButton';
import { ErrorState, Loading, Notice } from '../../components/StateViews';
import { WorkloadStatements } from '../../components/WorkloadStatements';
import { formatCount, formatTimestamp } from '../../lib/format';

/** Calls and means count from pg_stat_statements' last reset: say when that precedes the migration. */
function ResetNotice({ report, table }: { report: WorkloadReport; table: ManagedTable }) {
  const source = report.source;
  if (!source.available || (source.since !== null && Date.parse(source.since) >= Date.parse(table.createdAt)))
    return null;
  return (
    <Notice tone="info" testId="live-workload-reset">
      {source.since === null
        ? 'pg_stat_statements does not say when it was last reset (before PostgreSQL 14): '
        : `pg_stat_statements was last reset on ${formatTimestamp(source.since)}, before this table was migrated (${formatTimestamp(table.createdAt)}): `}
      calls and mean times may include statements run on the original table. To see only what runs now, reset it (as a
      superuser, or a role granted EXECUTE on the function): <code>SELECT pg_stat_statements_reset();</code>
    </Notice>
  );
}

export function LiveWorkloadPanel({ connectionId, table }: { connectionId: string; table: ManagedTable }) {
  const [asked, setAsked] = useState(false);
  const workload = useLiveWorkload(connectionId, table.configId, asked);
  return (
    <div className="panel workload-panel" data-testid="live-workload">
      <div className="panel-header">
        <h2 className="panel-title">Statements on the table</h2>
        {asked && (
          <RefreshButton
            onRefresh={() => void workload.refetch()}
            busy={workload.isFetching}
            label="Read the statements again"
            testId="live-workload-refresh"
          />
        )}
      </div>
      {!asked && (
        <>
          <p className="muted">
            Lists the statements recorded by pg_stat_statements on {table.table} and {table.partitionedTable}, and which
            of them do not filter by <span className="mono">{table.keyColumn}</span>: each of those plans against, locks
            and reads all {formatCount(table.leaves, 'leaf', 'leaves')}. Every statement is planned (not run) to tell.
          </p>
          <button type="button" className="btn" onClick={() => setAsked(true)} data-testid="live-workload-read">
            <Icon name="play" />
            Read the statements
          </button>
        </>
      )}
      {asked && workload.isPending && <Loading label="Reading pg_stat_statements and planning each statement…" />}
      {workload.isError && (
        <ErrorState error={workload.error} onRetry={() => void workload.refetch()} retrying={workload.isFetching} />
      )}
      {workload.data && <ResetNotice report={workload.data} table={table} />}
      {workload.data && <WorkloadStatements report={workload.data} />}
    </div>
  );
}
