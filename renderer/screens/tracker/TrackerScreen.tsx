// Tracker and config: the managed table's configuration, the
// partition_tracker rows (one per key) and the maintenance actions.
import { useMemo, useState, type ReactNode } from 'react';
import type { ManagedTable, TrackerRow } from '../../../shared/explorer';
import { useTracker } from '../../api/queries';
import { FillBar } from '../../components/Bars';
import { StaleMark } from '../../components/ConnectionStatus';
import { ObjectName } from '../../components/ObjectName';
import { ManagedTableGate } from '../../components/ManagedTableGate';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { SearchBox } from '../../components/SearchBox';
import { EmptyState, Loading, QueryErrorState } from '../../components/StateViews';
import { VirtualTable, type Column } from '../../components/VirtualTable';
import { useAfterPaint } from '../../lib/after-paint';
import { formatNumber, formatRecent, formatTimestamp } from '../../lib/format';
import { keyComparator, type KeyComparator } from '../../lib/key-order';
import { LiveWorkloadPanel } from './LiveWorkloadPanel';
import { MaintenancePanel } from './MaintenancePanel';
import { TableConfigPanel } from './TableConfigPanel';
import './tracker.css';

const currentFill = (row: TrackerRow) => (row.currentCapacity > 0 ? row.currentAssigned / row.currentCapacity : 0);

/**
 * The columns, with the key column ordered as the table's keys call for
 * (numeric when all are integers). Partition names share `stem` (table and key
 * column): in a narrow column it is what gives way, so the key and bucket stay.
 */
const trackerColumns = (compareKeys: KeyComparator, stem: string): Column<TrackerRow>[] => [
  {
    id: 'key',
    header: 'Key',
    width: 'minmax(56px, 0.6fr)',
    sortValue: (r) => r.keyValue,
    compare: (a, b) => compareKeys(String(a), String(b)),
    render: (r) => <span className="mono strong">{r.keyValue}</span>,
  },
  {
    id: 'partition',
    header: 'Level-1 partition',
    width: 'minmax(90px, 1.6fr)',
    sortValue: (r) => r.levelOnePartition,
    render: (r) => <ObjectName name={r.levelOnePartition} stem={stem} className="muted" />,
  },
  {
    id: 'bucket',
    header: 'Current bucket',
    width: 'minmax(110px, 1.4fr)',
    sortValue: (r) => r.currentBucketId,
    render: (r) => (
      <>
        <span className="num">{r.currentBucketId}</span>
        <ObjectName name={r.currentLeaf} stem={stem} className="muted" />
      </>
    ),
  },
  {
    id: 'fill',
    header: 'Current fill',
    width: 'minmax(120px, 1.2fr)',
    sortValue: currentFill,
    render: (r) => (
      <FillBar
        fraction={currentFill(r)}
        label={`${formatNumber(r.currentAssigned)} of ${formatNumber(r.currentCapacity)} tickets`}
      />
    ),
  },
  {
    id: 'tickets',
    header: 'Tickets',
    width: '88px',
    align: 'right',
    sortValue: (r) => r.rowsAssigned,
    render: (r) => <span className="num">{formatNumber(r.rowsAssigned)}</span>,
    headerTitle:
      'Tickets handed out: rows routed to this key since it was tracked (0 for a key in the pool of small keys, whose rows take the pool’s tickets)',
  },
  {
    id: 'updated',
    header: 'Last update',
    width: '128px',
    sortValue: (r) => r.lastUpdated,
    render: (r) => (
      <span className="num" title={formatTimestamp(r.lastUpdated)}>
        {formatRecent(r.lastUpdated)}
      </span>
    ),
  },
];

function TrackerPanel({
  connectionId,
  table,
  picker,
}: {
  connectionId: string;
  table: ManagedTable;
  picker: ReactNode;
}) {
  const tracker = useTracker(connectionId, table.configId);
  const [filter, setFilter] = useState('');
  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const all = tracker.data?.rows ?? [];
    return needle === '' ? all : all.filter((row) => row.keyValue.toLowerCase().includes(needle));
  }, [tracker.data, filter]);
  // Decided on every key, not only the filtered ones, so that filtering never changes the order.
  const columns = useMemo(
    () =>
      trackerColumns(
        keyComparator((tracker.data?.rows ?? []).map((row) => row.keyValue)),
        `${table.table}_${table.keyColumn}_`,
      ),
    [tracker.data, table.table, table.keyColumn],
  );
  const rowsShown = useAfterPaint(tracker.data !== undefined);
  // The tracker answer carries the configuration too, fresher than the list's.
  const config = tracker.data?.table ?? table;

  return (
    <div className="tracker-layout">
      <div className="tracker-main">
        <div className="toolbar">
          {picker}
          <SearchBox
            value={filter}
            onChange={setFilter}
            placeholder={`Filter ${table.keyColumn}`}
            label="Filter tracker rows by key"
            testId="tracker-filter"
          />
          <span className="spacer" />
          {tracker.data && (
            <span className="muted toolbar-count" data-testid="tracker-count">
              {formatNumber(rows.length)} of {formatNumber(tracker.data.rows.length)} keys
            </span>
          )}
          <StaleMark connectionId={connectionId} shown={tracker.data !== undefined} />
          <RefreshButton
            onRefresh={() => void tracker.refetch()}
            busy={tracker.isFetching}
            label="Refresh tracker rows"
            testId="tracker-refresh"
          />
        </div>
        {tracker.isPending && <Loading label="Reading partition_tracker…" />}
        {tracker.isError && !tracker.data && (
          <QueryErrorState error={tracker.error} onRetry={() => void tracker.refetch()} retrying={tracker.isFetching} />
        )}
        {tracker.data && tracker.data.rows.length === 0 && (
          <EmptyState title="The tracker has no keys yet" testId="tracker-empty">
            A key appears here once its first row is routed.
          </EmptyState>
        )}
        {rows.length > 0 && (
          <VirtualTable
            rows={rows}
            columns={columns}
            rowKey={(row) => row.keyValue}
            label="partition_tracker rows"
            initialSort={{ column: 'key', direction: 'asc' }}
            testId="tracker-table"
            rowTestId="tracker-row"
            rowData={(row) => ({ key: row.keyValue })}
            minWidth={600}
            fitContent="calc(100vh - 240px)"
          />
        )}
        <MaintenancePanel connectionId={connectionId} table={config} />
        <LiveWorkloadPanel connectionId={connectionId} table={config} />
      </div>
      <aside className="tracker-side">
        <TableConfigPanel connectionId={connectionId} table={config} measure={rowsShown} />
      </aside>
    </div>
  );
}

export function TrackerScreen() {
  return (
    <section className="screen" data-testid="screen-tracker" aria-label="Tracker">
      <ScreenHeader
        title="Tracker"
        subtitle="How each key's rows are routed to buckets, and the table's configuration."
      />
      <RequireConnection>
        {(connectionId) => (
          <ManagedTableGate connectionId={connectionId}>
            {(table, picker) => (
              <TrackerPanel key={table.configId} connectionId={connectionId} table={table} picker={picker} />
            )}
          </ManagedTableGate>
        )}
      </RequireConnection>
    </section>
  );
}
