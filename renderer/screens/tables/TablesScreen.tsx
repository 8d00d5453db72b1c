// Tables: the database's tables with estimated rows and sizes; pick one to
// configure its key column and bucket limit, and queue it as a run target.
import { useMemo, useState } from 'react';
import type { TableSummary } from '../../../shared/catalog';
import { displayIdentifier } from '../../../shared/identifiers';
import { useTables } from '../../api/queries';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { SearchBox } from '../../components/SearchBox';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';
import { VirtualTable, type Column } from '../../components/VirtualTable';
import { formatBytes, formatNumber } from '../../lib/format';
import { TableDetailPanel } from './TableDetailPanel';
import { TargetQueue } from './TargetQueue';

const tableKey = (table: Pick<TableSummary, 'schema' | 'name'>) => `${table.schema}.${table.name}`;

const KIND_LABEL: Record<TableSummary['kind'], string> = { table: 'table', partitioned: 'partitioned', view: 'view' };

const columns: Column<TableSummary>[] = [
  {
    id: 'name',
    header: 'Table',
    width: 'minmax(150px, 3fr)',
    sortValue: (table) => tableKey(table),
    render: (table) => (
      <span className="cell-text">
        <span className="muted mono">{displayIdentifier(table.schema)}.</span>
        <span className="mono">{displayIdentifier(table.name)}</span>
        {table.managed && <span className="badge badge-accent">managed</span>}
        {table.kind !== 'table' && <span className="badge">{KIND_LABEL[table.kind]}</span>}
      </span>
    ),
  },
  {
    id: 'rows',
    header: 'Rows (est.)',
    width: 'minmax(104px, 1fr)',
    align: 'right',
    sortValue: (table) => table.rowEstimate,
    render: (table) => <span className="num">{formatNumber(table.rowEstimate)}</span>,
    headerTitle: 'Estimated from pg_class.reltuples',
  },
  {
    id: 'size',
    header: 'Total size',
    width: 'minmax(112px, 1fr)',
    align: 'right',
    sortValue: (table) => table.totalBytes,
    render: (table) => <span className="num">{formatBytes(table.totalBytes)}</span>,
    headerTitle: 'Table, indexes and TOAST',
  },
];

function TablesView({ connectionId }: { connectionId: string }) {
  const tables = useTables(connectionId);
  const [filter, setFilter] = useState('');
  const [schema, setSchema] = useState('*');
  const [selected, setSelected] = useState<string | null>(null);

  const schemas = useMemo(
    () => Array.from(new Set((tables.data ?? []).map((table) => table.schema))).sort(),
    [tables.data],
  );
  const visible = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return (tables.data ?? []).filter(
      (table) =>
        (schema === '*' || table.schema === schema) &&
        (needle === '' || tableKey(table).toLowerCase().includes(needle)),
    );
  }, [tables.data, filter, schema]);
  const selectedTable = tables.data?.find((table) => tableKey(table) === selected);

  return (
    <div className="split">
      <div className="split-main column">
        <div className="toolbar">
          <SearchBox
            value={filter}
            onChange={setFilter}
            placeholder="Filter tables"
            label="Filter tables by name"
            testId="table-filter"
          />
          <select
            value={schema}
            onChange={(event) => setSchema(event.target.value)}
            aria-label="Schema"
            data-testid="schema-filter"
          >
            <option value="*">All schemas</option>
            {schemas.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
          <RefreshButton
            onRefresh={() => void tables.refetch()}
            busy={tables.isFetching}
            label="Refresh tables"
            testId="tables-refresh"
          />
          {tables.data && (
            <span className="muted toolbar-count" data-testid="table-count">
              {formatNumber(visible.length)} of {formatNumber(tables.data.length)}
            </span>
          )}
        </div>
        {tables.isPending && <Loading label="Reading the catalog…" />}
        {tables.isError && (
          <ErrorState error={tables.error} onRetry={() => void tables.refetch()} retrying={tables.isFetching} />
        )}
        {tables.data && tables.data.length === 0 && (
          <EmptyState title="This database has no tables" testId="tables-empty">
            Connect to the database that holds the tables to partition, or start the Sandbox for sample data.
          </EmptyState>
        )}
        {tables.data && tables.data.length > 0 && visible.length === 0 && (
          <EmptyState title="No table matches the filter" testId="tables-no-match" />
        )}
        {visible.length > 0 && (
          <VirtualTable
            rows={visible}
            columns={columns}
            rowKey={tableKey}
            label="Tables"
            initialSort={{ column: 'size', direction: 'desc' }}
            selectedKey={selected}
            onActivate={(table) => setSelected(tableKey(table))}
            testId="table-list"
            rowTestId="table-row"
            rowData={(table: TableSummary) => ({ table: tableKey(table), managed: String(table.managed) })}
            minWidth={380}
          />
        )}
      </div>
      <div className="split-side wide">
        {selectedTable ? (
          <TableDetailPanel key={selected} connectionId={connectionId} summary={selectedTable} />
        ) : (
          <div className="panel panel-help" data-testid="table-detail-empty">
            <h2 className="panel-title">Choose a table</h2>
            <p>
              Pick a table on the left (click, or arrows and Enter) to see its columns and whether each can be the
              partition key.
            </p>
            <p>
              A good key has many distinct values, no NULLs, and is in the <code>WHERE</code> clause of most queries,
              such as <code>customer_id</code> or <code>tenant_id</code>.
            </p>
          </div>
        )}
        <TargetQueue connectionId={connectionId} />
      </div>
    </div>
  );
}

export function TablesScreen() {
  return (
    <section className="screen" data-testid="screen-tables" aria-label="Tables">
      <ScreenHeader
        title="Tables"
        subtitle="Choose tables to partition: a key column and the most rows a leaf may hold."
      />
      <RequireConnection>{(connectionId) => <TablesView connectionId={connectionId} />}</RequireConnection>
    </section>
  );
}
