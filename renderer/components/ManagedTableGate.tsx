// Explorer, Sizes and Tracker all work on one managed table: this picks it
// (remembered per connection) and shows what to do when there is none.
import type { ReactNode } from 'react';
import type { ManagedTable } from '../../shared/explorer';
import { displayTableName } from '../../shared/identifiers';
import { useManagedTables } from '../api/queries';
import { useUi } from '../state/ui';
import { Icon } from './Icon';
import { EmptyState, ErrorState, Loading } from './StateViews';

export function ManagedTablePicker({
  tables,
  selected,
  onSelect,
}: {
  tables: ManagedTable[];
  selected: number;
  onSelect(configId: number): void;
}) {
  return (
    <label className="picker">
      <span className="picker-label">Table</span>
      <select
        value={selected}
        onChange={(event) => onSelect(Number(event.target.value))}
        data-testid="managed-table-picker"
        aria-label="Managed table"
      >
        {tables.map((table) => (
          <option key={table.configId} value={table.configId}>
            {displayTableName({ schema: table.schema, name: table.table })} ({table.keyColumn})
          </option>
        ))}
      </select>
    </label>
  );
}

export function ManagedTableGate({
  connectionId,
  children,
}: {
  connectionId: string;
  children: (table: ManagedTable, picker: ReactNode) => ReactNode;
}) {
  const managed = useManagedTables(connectionId);
  const remembered = useUi((state) => state.managedTable[connectionId]);
  const select = useUi((state) => state.selectManagedTable);
  const go = useUi((state) => state.go);

  if (managed.isPending) return <Loading label="Loading managed tables…" />;
  if (managed.isError) {
    return <ErrorState error={managed.error} onRetry={() => void managed.refetch()} retrying={managed.isFetching} />;
  }
  if (managed.data.length === 0) {
    return (
      <EmptyState
        title="No table is managed by Partwise yet"
        testId="managed-empty"
        action={
          <button type="button" className="btn btn-primary" onClick={() => go('tables')}>
            <Icon name="tables" />
            Choose tables to migrate
          </button>
        }
      >
        Migrate a table first: choose it on the Tables screen, check the plan, and start the run.
      </EmptyState>
    );
  }
  const table = managed.data.find((candidate) => candidate.configId === remembered) ?? managed.data[0]!;
  const picker = (
    <ManagedTablePicker
      tables={managed.data}
      selected={table.configId}
      onSelect={(configId) => select(connectionId, configId)}
    />
  );
  return <>{children(table, picker)}</>;
}
