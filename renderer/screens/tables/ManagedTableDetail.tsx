// A table Partwise manages, and its parts, as the Tables screen shows them:
// what the name is now (a routing view over a partition tree), the tree's
// figures, and where to look further. Its partitioned table and its backup
// say whose parts they are, so that nobody takes them for unrelated tables.
import type { ReactNode } from 'react';
import type { TableSummary } from '../../../shared/catalog';
import { displayIdentifier } from '../../../shared/identifiers';
import { Icon } from '../../components/Icon';
import { ObjectName } from '../../components/ObjectName';
import { Notice } from '../../components/StateViews';
import { formatBytes, formatNumber } from '../../lib/format';
import { useUi, type Screen } from '../../state/ui';

export function TableDetailHeader({ summary }: { summary: TableSummary }) {
  return (
    <div className="panel-header">
      <h2 className="panel-title table-detail-title">
        <ObjectName prefix={`${displayIdentifier(summary.schema)}.`} name={displayIdentifier(summary.name)} />
      </h2>
      <div className="panel-stats">
        <span title="Estimated from statistics">
          <span className="muted">rows ≈</span> {formatNumber(summary.rowEstimate)}
        </span>
        <span title="Table, indexes and TOAST">
          <span className="muted">size</span> {formatBytes(summary.totalBytes)}
        </span>
      </div>
    </div>
  );
}

function Fact({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{children}</div>
    </div>
  );
}

function OpenButtons({ connectionId, configId }: { connectionId: string; configId: number }) {
  const go = useUi((state) => state.go);
  const select = useUi((state) => state.selectManagedTable);
  const open = (screen: Screen) => {
    select(connectionId, configId);
    go(screen);
  };
  return (
    <div className="form-actions">
      <button type="button" className="btn btn-primary" onClick={() => open('explorer')} data-testid="open-explorer">
        <Icon name="explorer" />
        Open in Explorer
      </button>
      <button type="button" className="btn" onClick={() => open('sizes')} data-testid="open-sizes">
        <Icon name="sizes" />
        Sizes
      </button>
      <button type="button" className="btn" onClick={() => open('tracker')} data-testid="open-tracker">
        <Icon name="tracker" />
        Tracker
      </button>
    </div>
  );
}

/** The managed table (its name is the routing view) or one of its parts. */
export function ManagedTableDetail({
  connectionId,
  summary,
  owner,
}: {
  connectionId: string;
  summary: TableSummary;
  /** For a part: the managed table it belongs to, from the same list. */
  owner?: TableSummary;
}) {
  const managed = summary.managedTable;
  return (
    <div
      className="panel table-detail"
      data-testid="table-detail"
      data-table={`${summary.schema}.${summary.name}`}
      data-managed={managed ? 'true' : 'false'}
    >
      <TableDetailHeader summary={summary} />
      {managed && (
        <>
          <Notice tone="info" testId="managed-summary">
            {managed.mode === 'routing' ? (
              <>
                <strong>Managed by Partwise.</strong> <span className="mono">{summary.name}</span> is a routing view
                over <span className="mono">{managed.partitionedTable}</span>: the application reads and writes it as
                before, and its inserts are routed to buckets of at most {formatNumber(managed.bucketLimit)} rows.
              </>
            ) : (
              <>
                <strong>Being migrated by Partwise.</strong> <span className="mono">{summary.name}</span> still serves
                the application while <span className="mono">{managed.partitionedTable}</span> is built.
              </>
            )}{' '}
            {managed.backupTable ? (
              <>
                The original table is kept as <span className="mono">{managed.backupTable}</span> until the migration is
                finalized.
              </>
            ) : (
              'The migration is finalized: no backup is kept.'
            )}
          </Notice>
          <div className="stats-grid" data-testid="managed-figures">
            <Fact label="Rows (est.)">{formatNumber(summary.rowEstimate)}</Fact>
            <Fact label="Total size">{formatBytes(summary.totalBytes)}</Fact>
            <Fact label="Keys">{formatNumber(managed.keys)}</Fact>
            <Fact label="Leaves">{formatNumber(summary.leaves)}</Fact>
            <Fact label="Key column">
              <span className="mono">{managed.keyColumn}</span>
            </Fact>
            <Fact label="Bucket limit">{formatNumber(managed.bucketLimit)}</Fact>
          </div>
          <OpenButtons connectionId={connectionId} configId={managed.configId} />
        </>
      )}
      {summary.partOf && (
        <>
          <Notice tone="info" testId="part-summary">
            {summary.partOf.role === 'partitioned' ? (
              <>
                <strong>Partitioned table of {summary.partOf.table}</strong>, managed by Partwise: it holds the rows, in{' '}
                {formatNumber(summary.leaves)} leaves. The application reaches them through{' '}
                <span className="mono">{summary.partOf.table}</span>.
              </>
            ) : (
              <>
                <strong>Backup of {summary.partOf.table}</strong>: the original table, kept so that its migration can be
                rolled back. Finalizing the migration drops it.
              </>
            )}
          </Notice>
          {owner?.managedTable && <OpenButtons connectionId={connectionId} configId={owner.managedTable.configId} />}
        </>
      )}
    </div>
  );
}
