// Actions on keys (detach, drop, export...) as their journal records them,
// beside the migrations: from the Explorer, the command line or another
// window. A running action shows the step its dialog reports.
import type { KeyActionEntry, KeyProgressEvent } from '../../../shared/keys';
import { formatMs } from '../../../shared/runs';
import { keyProgressText } from '../../../shared/text';
import { useKeyActionHistory } from '../../api/queries';
import { useKeyProgress } from '../../api/key-progress';
import { RefreshButton } from '../../components/RefreshButton';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';
import { DASH, formatBytes, formatNumber, formatTimestamp } from '../../lib/format';
import { StatusBadge, useNow } from './RunMonitor';

function duration(entry: KeyActionEntry, now: number): string {
  const end = entry.finishedAt ? Date.parse(entry.finishedAt) : entry.status === 'running' ? now : null;
  return end === null ? DASH : formatMs(Math.max(0, end - Date.parse(entry.startedAt)));
}

function figures(entry: KeyActionEntry): string {
  const parts = [];
  if (entry.rows !== null) parts.push(`${formatNumber(entry.rows)} rows`);
  if (entry.bytes !== null) parts.push(formatBytes(entry.bytes));
  return parts.length > 0 ? parts.join(', ') : DASH;
}

/** The step of an action that has not succeeded: where it is, or where it stopped. */
function stepText(entry: KeyActionEntry, live: KeyProgressEvent | null): string {
  if (entry.status === 'succeeded') return DASH;
  if (entry.status !== 'running') return `stopped at: ${entry.step}`;
  const ours = live?.configId === entry.configId && live.keyValue === entry.keyValue && live.action === entry.action;
  return ours ? keyProgressText(live.progress) : entry.step;
}

export function KeyActionHistory({ connectionId }: { connectionId: string }) {
  const history = useKeyActionHistory(connectionId);
  const running = history.data?.some((entry) => entry.status === 'running') ?? false;
  const now = useNow(running);
  // Progress of an action started in this window, whatever table it is on.
  const live = useKeyProgress(connectionId, null, running);
  return (
    <div className="panel" data-testid="key-action-history">
      <div className="panel-header">
        <h2 className="panel-title">Actions on keys</h2>
        <RefreshButton
          className="btn btn-small"
          onRefresh={() => void history.refetch()}
          busy={history.isFetching}
          testId="key-history-refresh"
        >
          Refresh
        </RefreshButton>
      </div>
      {history.isPending && <Loading label="Reading the key-action journal…" />}
      {history.isError && (
        <ErrorState error={history.error} onRetry={() => void history.refetch()} retrying={history.isFetching} />
      )}
      {history.data && history.data.length === 0 && (
        <EmptyState title="No actions on keys yet" testId="key-history-empty">
          Detaching, dropping, exporting or vacuuming a key from the Explorer or `partwise key` is recorded here.
        </EmptyState>
      )}
      {history.data && history.data.length > 0 && (
        <div className="table-scroll">
          <table className="data-table" data-testid="key-history-table">
            <thead>
              <tr>
                <th scope="col">Action</th>
                <th scope="col">Status</th>
                <th scope="col">Table and key</th>
                <th scope="col">Step</th>
                <th scope="col">Started</th>
                <th scope="col" className="right">
                  Duration
                </th>
                <th scope="col" className="right">
                  Rows, bytes
                </th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((entry) => (
                <tr key={entry.actionId} data-testid="key-history-row" data-action-id={entry.actionId}>
                  <td>
                    <span className="muted num">#{entry.actionId}</span> {entry.action}
                  </td>
                  <td>
                    <StatusBadge status={entry.status} testId="key-history-status" />
                  </td>
                  <td>
                    <span className="mono">
                      {entry.schema}.{entry.table}
                    </span>{' '}
                    key <strong className="mono">{entry.keyValue}</strong>
                    {entry.error && <div className="error-text">{entry.error}</div>}
                  </td>
                  <td data-testid="key-history-step">{stepText(entry, live)}</td>
                  <td className="nowrap">
                    {formatTimestamp(entry.startedAt)}
                    <div className="muted small">by {entry.startedBy}</div>
                  </td>
                  <td className="right nowrap">{duration(entry, now)}</td>
                  <td className="right nowrap">{figures(entry)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
