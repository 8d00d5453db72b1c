// One table's columns, with what makes each a usable partition key, and the
// form that turns the choice into a run target.
import { useId, useState } from 'react';
import type { ColumnSummary, TableDetail, TableSummary } from '../../../shared/catalog';
import { displayTableName } from '../../../shared/identifiers';
import { useTableDetail } from '../../api/queries';
import { CopyButton } from '../../components/CopyButton';
import { Icon } from '../../components/Icon';
import { Loading, Notice, QueryErrorState } from '../../components/StateViews';
import { parseBucketLimit } from '../../../shared/bucket-limit';
import { formatCount, formatNumber, formatPercent } from '../../lib/format';
import { useTargetQueue, useTargets } from '../../state/targets';
import { ManagedTableDetail, TableDetailHeader } from './ManagedTableDetail';

/** Why a table cannot become a target at all, whatever its columns. */
export function tableBlockedReason(summary: TableSummary): string | null {
  if (summary.managedTable) return 'Partwise manages this table already: see Explorer and Tracker.';
  if (summary.partOf?.role === 'backup') {
    return `This is the backup of ${summary.partOf.table}, kept until its migration is finalized; it cannot be migrated.`;
  }
  if (summary.kind === 'partitioned') return 'This table is partitioned already; Partwise migrates plain tables.';
  if (summary.kind === 'view') return 'This is a view; Partwise migrates plain tables.';
  return null;
}

function BucketLimitHint({ detail, chosen }: { detail: TableDetail; chosen: ColumnSummary | undefined }) {
  if (!chosen?.suggestedBucketLimit || chosen.suggestedLeaves === undefined) {
    return <span className="field-hint">Suggested for this table: {formatNumber(detail.suggestedBucketLimit)}</span>;
  }
  return (
    <span className="field-hint" data-testid="bucket-limit-suggestion">
      Suggested for {chosen.name}: {formatNumber(chosen.suggestedBucketLimit)}, about{' '}
      {formatCount(chosen.suggestedLeaves, 'leaf', 'leaves')}. Fewer leaves make statements that do not filter by the
      key cheaper to plan, and lock less.
    </span>
  );
}

function TargetForm({
  connectionId,
  summary,
  detail,
}: {
  connectionId: string;
  summary: TableSummary;
  detail: TableDetail;
}) {
  const queue = useTargetQueue(connectionId);
  const add = useTargets((state) => state.add);
  const queued = queue.find((target) => target.schema === detail.schema && target.table === detail.name);
  const [keyColumn, setKeyColumn] = useState<string | null>(queued?.keyColumn ?? null);
  const [limitText, setLimitText] = useState(formatNumber(queued?.bucketLimit ?? detail.suggestedBucketLimit));
  const [touched, setTouched] = useState(false);
  const [added, setAdded] = useState(false);
  const limitId = useId();
  const parsed = parseBucketLimit(limitText);
  const blocked = tableBlockedReason(summary);
  const usable = detail.columns.filter((column) => column.usableAsKey);
  const chosen = detail.columns.find((column) => column.name === keyColumn);

  const submit = () => {
    setTouched(true);
    if (!parsed.ok || !chosen || blocked) return;
    add(connectionId, { schema: detail.schema, table: detail.name, keyColumn: chosen.name, bucketLimit: parsed.value });
    setAdded(true);
  };

  return (
    <>
      <div className="table-scroll">
        <table className="data-table columns-table" data-testid="column-table">
          <thead>
            <tr>
              <th scope="col" className="col-radio">
                Key
              </th>
              <th scope="col">Column</th>
              <th scope="col">Type</th>
              <th scope="col" className="right" title="Estimated distinct values, from statistics">
                Distinct (est.)
              </th>
              <th scope="col" className="right" title="Fraction of rows that are NULL, from statistics">
                Nulls
              </th>
              <th scope="col">Usable as key</th>
            </tr>
          </thead>
          <tbody>
            {detail.columns.map((column) => (
              <tr
                key={column.name}
                className={column.name === keyColumn ? 'selected' : column.usableAsKey ? undefined : 'unusable'}
                data-testid="column-row"
                data-column={column.name}
                data-usable={column.usableAsKey}
              >
                <td className="col-radio">
                  <input
                    type="radio"
                    name={`key-${detail.schema}-${detail.name}`}
                    value={column.name}
                    checked={column.name === keyColumn}
                    disabled={!column.usableAsKey || blocked !== null}
                    onChange={() => {
                      setKeyColumn(column.name);
                      setAdded(false);
                      // The suggestion depends on the key (the leaves it gives); a limit the user typed stays.
                      if (!touched && !queued && column.suggestedBucketLimit) {
                        setLimitText(formatNumber(column.suggestedBucketLimit));
                      }
                    }}
                    aria-label={`Partition by ${column.name}`}
                    data-testid="key-radio"
                  />
                </td>
                <td className="mono col-name">
                  {column.name}
                  {!column.nullable && (
                    <span className="badge badge-subtle" title="NOT NULL">
                      not null
                    </span>
                  )}
                </td>
                <td className="mono muted col-type">{column.type}</td>
                <td className="right num">{formatNumber(column.distinctEstimate)}</td>
                <td className="right num">{formatPercent(column.nullFraction)}</td>
                <td>
                  {column.usableAsKey ? (
                    <span className="ok-text">
                      <Icon name="check" size={14} /> yes
                    </span>
                  ) : (
                    <span
                      className="muted column-reason"
                      title={column.reason ?? undefined}
                      data-testid="column-reason"
                    >
                      {column.reason ?? 'no'}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {usable.length === 0 && !blocked && (
        <Notice tone="warning">No column of this table can be a partition key.</Notice>
      )}
      {blocked && (
        <Notice tone="info" testId="table-blocked">
          {blocked}
        </Notice>
      )}
      <div className="target-form" data-testid="target-form">
        <div className={touched && !parsed.ok ? 'field invalid' : 'field'}>
          <label htmlFor={limitId}>Bucket limit (rows per leaf)</label>
          <input
            id={limitId}
            type="text"
            inputMode="numeric"
            className="num"
            value={limitText}
            onChange={(event) => {
              setLimitText(event.target.value);
              setTouched(true);
              setAdded(false);
            }}
            aria-invalid={touched && !parsed.ok ? true : undefined}
            disabled={blocked !== null}
            data-testid="bucket-limit"
          />
          {touched && !parsed.ok ? (
            <span className="field-error" data-testid="bucket-limit-error">
              {parsed.error}
            </span>
          ) : (
            <BucketLimitHint detail={detail} chosen={chosen} />
          )}
        </div>
        <div className="target-form-actions">
          <button
            type="button"
            className="btn btn-primary"
            onClick={submit}
            disabled={blocked !== null || !chosen || !parsed.ok}
            title={!chosen ? 'Choose the key column first' : undefined}
            data-testid="add-target"
          >
            <Icon name="plus" />
            {queued ? 'Update run target' : 'Add to run targets'}
          </button>
          {!chosen && !blocked && <span className="muted">Choose the key column.</span>}
          {added && (
            <span className="ok-text" role="status" data-testid="target-added">
              <Icon name="check" size={14} /> In the run targets
            </span>
          )}
        </div>
      </div>
    </>
  );
}

export function TableDetailPanel({
  connectionId,
  summary,
  owner,
}: {
  connectionId: string;
  summary: TableSummary;
  /** For a part of a managed table: the managed table. */
  owner?: TableSummary;
}) {
  if (summary.managedTable || summary.partOf) {
    return <ManagedTableDetail connectionId={connectionId} summary={summary} owner={owner} />;
  }
  return <ColumnsDetail connectionId={connectionId} summary={summary} />;
}

function ColumnsDetail({ connectionId, summary }: { connectionId: string; summary: TableSummary }) {
  const detail = useTableDetail(connectionId, { schema: summary.schema, name: summary.name });
  const name = displayTableName(summary);
  return (
    <div className="panel table-detail" data-testid="table-detail" data-table={`${summary.schema}.${summary.name}`}>
      <TableDetailHeader summary={summary} />
      {detail.isPending && <Loading label="Reading columns and statistics…" />}
      {detail.isError && (
        <QueryErrorState error={detail.error} onRetry={() => void detail.refetch()} retrying={detail.isFetching} />
      )}
      {detail.data && (
        <>
          {/* Statistics are gathered on tables; a view or a partitioned table has none of its own to ask for. */}
          {summary.kind === 'table' && !detail.data.analyzed && (
            <Notice tone="warning" testId="not-analyzed">
              This table has no statistics yet, so distinct counts and null fractions are unknown. Run{' '}
              <code>ANALYZE {name};</code> and refresh. <CopyButton text={`ANALYZE ${name};`} testId="copy-analyze" />
            </Notice>
          )}
          <TargetForm
            key={`${summary.schema}.${summary.name}`}
            connectionId={connectionId}
            summary={summary}
            detail={detail.data}
          />
        </>
      )}
    </div>
  );
}
