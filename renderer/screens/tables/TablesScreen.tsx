// Tables: the database's tables with estimated rows and sizes; pick one to
// configure its key column and bucket limit, and queue it as a run target.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { TableSummary } from '../../../shared/catalog';
import { displayIdentifier } from '../../../shared/identifiers';
import { errorKind } from '../../api/errors';
import { useTables } from '../../api/queries';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { SearchBox } from '../../components/SearchBox';
import { EmptyState, ErrorState, Loading, QueryErrorState } from '../../components/StateViews';
import { StaleMark } from '../../components/ConnectionStatus';
import { ObjectName } from '../../components/ObjectName';
import { VirtualTable, type Column } from '../../components/VirtualTable';
import { formatBytes, formatNumber } from '../../lib/format';
import { TableDetailPanel } from './TableDetailPanel';
import { TargetQueue } from './TargetQueue';
import './tables.css';

const tableKey = (table: Pick<TableSummary, 'schema' | 'name'>) => `${table.schema}.${table.name}`;
/** The partitioned table and backup of a managed table are listed under it. */
const parentOf = (table: TableSummary) => (table.partOf ? `${table.schema}.${table.partOf.table}` : null);

const PART_LABEL: Record<NonNullable<TableSummary['partOf']>['role'], string> = {
  partitioned: 'partitioned',
  backup: 'backup',
};

function TableNameCell({ table, showSchema }: { table: TableSummary; showSchema: boolean }) {
  const name = (
    <ObjectName
      prefix={showSchema && !table.partOf ? `${displayIdentifier(table.schema)}.` : ''}
      name={displayIdentifier(table.name)}
      stem={table.partOf ? displayIdentifier(table.partOf.table) : undefined}
    />
  );
  if (table.partOf) {
    return (
      <span className="cell-text table-part">
        <span className="table-part-branch" aria-hidden="true" />
        {name}
        <span className="badge badge-subtle" title={`Part of the managed table ${table.partOf.table}`}>
          {PART_LABEL[table.partOf.role]}
        </span>
      </span>
    );
  }
  return (
    <span className="cell-text">
      {name}
      {table.managedTable ? (
        <span className="badge badge-accent" title="Managed by Partwise: the figures are its partition tree's">
          managed
        </span>
      ) : (
        table.kind !== 'table' && <span className="badge">{table.kind}</span>
      )}
    </span>
  );
}

/** The columns; the schema is left out of names when every table listed is in one (it is in the header). */
const tableColumns = (schemaShown: string | null): Column<TableSummary>[] => [
  {
    id: 'name',
    header: schemaShown === null ? 'Table' : `Table (${schemaShown})`,
    width: 'minmax(150px, 3fr)',
    sortValue: (table) => tableKey(table),
    render: (table) => <TableNameCell table={table} showSchema={schemaShown === null} />,
  },
  {
    id: 'rows',
    header: 'Rows (est.)',
    width: 'minmax(92px, 1fr)',
    align: 'right',
    sortValue: (table) => table.rowEstimate,
    render: (table) => <span className="num">{formatNumber(table.rowEstimate)}</span>,
    headerTitle: 'Estimated from statistics (pg_class.reltuples); summed over the leaves of a partition tree',
  },
  {
    id: 'size',
    header: 'Total size',
    width: 'minmax(100px, 1fr)',
    align: 'right',
    sortValue: (table) => table.totalBytes,
    render: (table) => <span className="num">{formatBytes(table.totalBytes)}</span>,
    headerTitle: 'Table, indexes and TOAST (pg_total_relation_size); summed over the leaves of a partition tree',
  },
];

/** Parts follow their managed table in this order (the list keeps their order under it). */
const PART_ORDER = { partitioned: 0, backup: 1 } as const;
const partOrder = (table: TableSummary) => (table.partOf ? PART_ORDER[table.partOf.role] : -1);

/** The tables whose name matches, with the whole group of a managed table when any of its members does. */
function filterTables(tables: readonly TableSummary[], needle: string, schema: string): TableSummary[] {
  const inSchema = tables
    .filter((table) => schema === '*' || table.schema === schema)
    .sort((a, b) => partOrder(a) - partOrder(b));
  if (needle === '') return inSchema;
  const groupOf = (table: TableSummary) => parentOf(table) ?? tableKey(table);
  const groups = new Set(inSchema.filter((table) => tableKey(table).toLowerCase().includes(needle)).map(groupOf));
  return inSchema.filter((table) => groups.has(groupOf(table)));
}

const rowData = (table: TableSummary) => ({
  table: tableKey(table),
  managed: String(table.managedTable !== null),
  ...(table.partOf ? { 'part-of': table.partOf.table, role: table.partOf.role } : {}),
});
const rowClassName = (table: TableSummary) => (table.partOf ? 'part-row' : undefined);

function TablesView({ connectionId }: { connectionId: string }) {
  const tables = useTables(connectionId);
  const [filter, setFilter] = useState('');
  const [schema, setSchema] = useState('*');
  const [selected, setSelected] = useState<string | null>(null);

  const schemas = useMemo(
    () => Array.from(new Set((tables.data ?? []).map((table) => table.schema))).sort(),
    [tables.data],
  );
  const visible = useMemo(
    () => filterTables(tables.data ?? [], filter.trim().toLowerCase(), schema),
    [tables.data, filter, schema],
  );
  const oneSchema = schema !== '*' ? schema : schemas.length === 1 ? schemas[0]! : null;
  const columns = useMemo(() => tableColumns(oneSchema), [oneSchema]);
  const selectedTable = tables.data?.find((table) => tableKey(table) === selected);
  // Where the columns stack (narrow windows), the detail opens below the list: bring it into view.
  const sideRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (selected !== null) sideRef.current?.scrollIntoView?.({ block: 'nearest' });
  }, [selected]);
  const owner = selectedTable && tables.data?.find((table) => tableKey(table) === parentOf(selectedTable));

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
          <StaleMark connectionId={connectionId} shown={tables.data !== undefined} />
        </div>
        {tables.isPending && <Loading label="Reading the catalog…" />}
        {/* A failed refresh keeps the last list (marked stale while the server is away); with no list, the failure. */}
        {tables.isError && !tables.data && (
          <QueryErrorState error={tables.error} onRetry={() => void tables.refetch()} retrying={tables.isFetching} />
        )}
        {tables.isError && tables.data && errorKind(tables.error) !== 'connection' && (
          <ErrorState error={tables.error} onRetry={() => void tables.refetch()} retrying={tables.isFetching} compact />
        )}
        {tables.isSuccess && tables.data.length === 0 && (
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
            rowData={rowData}
            rowClassName={rowClassName}
            parentKey={parentOf}
            minWidth={360}
          />
        )}
      </div>
      <div className="split-side wide" ref={sideRef}>
        {selectedTable ? (
          <TableDetailPanel key={selected} connectionId={connectionId} summary={selectedTable} owner={owner} />
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
