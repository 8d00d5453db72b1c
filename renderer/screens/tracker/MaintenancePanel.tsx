// Maintenance of a managed table: check every key, create buckets ahead of
// need, repair tracker drift, and report over-full and empty buckets.
import { useMemo, useState } from 'react';
import type { MaintenanceFinding, ManagedTable } from '../../../shared/explorer';
import { useMaintenance } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ObjectName } from '../../components/ObjectName';
import { EmptyState, ErrorState, Notice } from '../../components/StateViews';
import { VirtualTable, type Column } from '../../components/VirtualTable';
import { formatCount, formatNumber } from '../../lib/format';

export const FINDING_LABEL: Record<MaintenanceFinding['kind'], string> = {
  over_full: 'over-full',
  empty: 'empty',
  tracker_drift: 'tracker drift repaired',
  missing_leaf: 'missing leaf',
  untracked_leaf: 'untracked leaf',
  created_ahead: 'created ahead',
  outgrown: 'outgrew the pool',
};

const FINDING_TONE: Record<MaintenanceFinding['kind'], string> = {
  over_full: 'badge-bad',
  missing_leaf: 'badge-bad',
  untracked_leaf: 'badge-warn',
  tracker_drift: 'badge-warn',
  empty: '',
  created_ahead: 'badge-ok',
  outgrown: 'badge-warn',
};

/** Parses the "ahead" percentage: 1-100, as a fraction for the command. */
export function parseAheadPercent(text: string): number | null {
  if (!/^\s*\d{1,3}(\.\d+)?\s*$/.test(text)) return null;
  const percent = Number(text);
  if (!(percent >= 1 && percent <= 100)) return null;
  return percent / 100;
}

const findingColumns: Column<MaintenanceFinding>[] = [
  {
    id: 'key',
    header: 'Key',
    width: 'minmax(72px, 0.7fr)',
    sortValue: (f) => f.keyValue ?? '',
    render: (f) =>
      f.keyValue === null ? (
        <span className="muted" title="The pool of small keys: the buckets all small keys share">
          pool
        </span>
      ) : (
        <span className="mono">{f.keyValue}</span>
      ),
  },
  {
    id: 'kind',
    header: 'Finding',
    width: 'minmax(150px, 1fr)',
    sortValue: (f) => f.kind,
    render: (f) => <span className={`badge ${FINDING_TONE[f.kind]}`}>{FINDING_LABEL[f.kind]}</span>,
  },
  {
    id: 'bucket',
    header: 'Bucket',
    width: '70px',
    align: 'right',
    sortValue: (f) => f.bucketId ?? -1,
    render: (f) => <span className="num">{f.bucketId ?? '—'}</span>,
  },
  {
    id: 'rows',
    header: 'Rows / capacity',
    width: 'minmax(140px, 1fr)',
    align: 'right',
    sortValue: (f) => (f.rows !== null && f.capacity ? f.rows / f.capacity : -1),
    render: (f) => (
      <span className="num">{f.rows === null ? '—' : `${formatNumber(f.rows)} / ${formatNumber(f.capacity)}`}</span>
    ),
  },
  {
    id: 'detail',
    header: 'Detail',
    width: 'minmax(200px, 3fr)',
    render: (f) => (
      <>
        {f.leaf && <ObjectName name={f.leaf} className="muted finding-leaf" />}
        <span className="ellipsis" title={f.detail}>
          {f.detail}
        </span>
      </>
    ),
  },
];

export function MaintenancePanel({ connectionId, table }: { connectionId: string; table: ManagedTable }) {
  const [ahead, setAhead] = useState(true);
  const [aheadText, setAheadText] = useState('80');
  const maintenance = useMaintenance(connectionId, table.configId);
  const aheadValue = parseAheadPercent(aheadText);
  const invalid = ahead && aheadValue === null;
  const report = maintenance.data;
  const counts = useMemo(() => {
    const result = new Map<MaintenanceFinding['kind'], number>();
    for (const finding of report?.findings ?? []) result.set(finding.kind, (result.get(finding.kind) ?? 0) + 1);
    return result;
  }, [report]);

  return (
    <div className="panel maintenance-panel" data-testid="maintenance-panel">
      <div className="panel-header">
        <h2 className="panel-title">Maintenance</h2>
      </div>
      <p className="muted">
        Checks every key: counts the rows of its buckets, repairs tracker drift, and reports missing and untracked
        leaves and over-full and empty buckets (missing leaves are reported, not recreated). It takes short locks per
        key and can run while the table is in use.
      </p>
      <div className="maintenance-form">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={ahead}
            onChange={(event) => setAhead(event.target.checked)}
            data-testid="maintenance-ahead"
          />
          <span>Create buckets ahead when</span>
        </label>
        <input
          type="text"
          inputMode="numeric"
          className={invalid ? 'num narrow invalid' : 'num narrow'}
          value={aheadText}
          onChange={(event) => setAheadText(event.target.value)}
          disabled={!ahead}
          aria-label="Fill percentage that triggers a new bucket"
          aria-invalid={invalid || undefined}
          data-testid="maintenance-ahead-percent"
        />
        <span>% full</span>
        <button
          type="button"
          className="btn btn-primary"
          disabled={invalid || maintenance.isPending}
          onClick={() => maintenance.mutate(ahead ? aheadValue : null)}
          data-testid="maintenance-run"
        >
          <Icon name="play" />
          {maintenance.isPending ? 'Checking every key…' : 'Run maintenance'}
        </button>
      </div>
      {invalid && <span className="field-error">Enter a percentage from 1 to 100.</span>}
      {maintenance.isError && <ErrorState error={maintenance.error} compact testId="maintenance-error" />}
      {report && (
        <div className="maintenance-report" data-testid="maintenance-report" data-findings={report.findings.length}>
          <Notice tone={counts.has('over_full') || counts.has('missing_leaf') ? 'warning' : 'success'}>
            Checked {formatCount(report.keysChecked, 'key')}:{' '}
            {report.findings.length === 0
              ? 'nothing to report.'
              : Array.from(counts, ([kind, count]) => `${formatNumber(count)} ${FINDING_LABEL[kind]}`).join(', ') + '.'}
          </Notice>
          {report.findings.length === 0 ? (
            <EmptyState title="No findings" testId="maintenance-no-findings">
              Every key is within its limit, its tracker agrees with its leaves, and no bucket is missing or empty.
            </EmptyState>
          ) : (
            <div className="findings">
              <VirtualTable
                rows={report.findings}
                columns={findingColumns}
                rowKey={(f) => `${f.keyValue}:${f.kind}:${f.bucketId ?? ''}:${f.leaf ?? ''}`}
                label="Maintenance findings"
                initialSort={{ column: 'kind', direction: 'asc' }}
                testId="maintenance-findings"
                rowTestId="finding-row"
                rowData={(f) => ({ key: f.keyValue ?? 'pool', kind: f.kind })}
                minWidth={620}
                fitContent="360px"
              />
            </div>
          )}
        </div>
      )}
    </div>
  );
}
