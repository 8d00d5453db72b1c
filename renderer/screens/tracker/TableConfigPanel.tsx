// The configuration of a managed table, with the bucket limit editable and
// the finalize step (dropping the backup) behind the run's confirmation.
import { useState } from 'react';
import type { ManagedTable } from '../../../shared/explorer';
import { displayIdentifier } from '../../../shared/identifiers';
import type { RunSummary } from '../../../shared/runs';
import { useLeafSizes, useRuns, useSetBucketLimit } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ObjectName } from '../../components/ObjectName';
import { ErrorState, Notice } from '../../components/StateViews';
import { parseBucketLimit } from '../../../shared/bucket-limit';
import { formatBytes, formatNumber, formatTimestamp } from '../../lib/format';
import { RunActionDialog, runTables } from '../runs/RunActionDialog';

type SetBucketLimit = ReturnType<typeof useSetBucketLimit>;

/**
 * The editor is rebuilt whenever the limit changes (so that its text shows the
 * limit in force), saving included: what a save did lives in the mutation,
 * which its parent owns, so the confirmation outlives the rebuild.
 */
function BucketLimitEditor({ table, mutation }: { table: ManagedTable; mutation: SetBucketLimit }) {
  const [text, setText] = useState(formatNumber(table.bucketLimit));
  const [touched, setTouched] = useState(false);
  const parsed = parseBucketLimit(text);
  const unchanged = parsed.ok && parsed.value === table.bucketLimit;

  return (
    <form
      className="limit-editor"
      onSubmit={(event) => {
        event.preventDefault();
        setTouched(true);
        if (parsed.ok && !unchanged) mutation.mutate(parsed.value);
      }}
      data-testid="bucket-limit-form"
    >
      <div className={touched && !parsed.ok ? 'field invalid' : 'field'}>
        <label htmlFor="tracker-bucket-limit">Bucket limit (rows per leaf)</label>
        <div className="input-with-button">
          <input
            id="tracker-bucket-limit"
            type="text"
            inputMode="numeric"
            className="num"
            value={text}
            onChange={(event) => {
              setText(event.target.value);
              setTouched(true);
              mutation.reset();
            }}
            aria-invalid={touched && !parsed.ok ? true : undefined}
            data-testid="tracker-bucket-limit"
          />
          <button
            type="submit"
            className="btn btn-primary"
            disabled={!parsed.ok || unchanged || mutation.isPending}
            data-testid="tracker-bucket-limit-save"
          >
            {mutation.isPending ? 'Saving…' : 'Save'}
          </button>
        </div>
        {touched && !parsed.ok ? (
          <span className="field-error" data-testid="tracker-bucket-limit-error">
            {parsed.error}
          </span>
        ) : (
          <span className="field-hint">
            Applies to buckets opened from now on; existing buckets keep the capacity they were created with.
          </span>
        )}
      </div>
      {mutation.isSuccess && (
        <Notice tone="success" testId="bucket-limit-saved">
          Bucket limit set to {formatNumber(mutation.data.bucketLimit)} rows for new buckets.
        </Notice>
      )}
      {mutation.isError && <ErrorState error={mutation.error} compact />}
    </form>
  );
}

function FinalizeAction({ connectionId, table }: { connectionId: string; table: ManagedTable }) {
  const runs = useRuns(connectionId);
  // The run as it was when the dialog opened: the dialog stays while its answer is read, though the run changes.
  const [open, setOpen] = useState<RunSummary | null>(null);
  const run = runs.data?.find(
    (candidate) =>
      candidate.canFinalize &&
      candidate.targets.some((target) => target.schema === table.schema && target.table === table.table),
  );
  return (
    <div className="finalize-box" data-testid="finalize-box">
      <p>
        The original table is kept as <ObjectName name={table.backupTable ?? ''} copy={false} /> so that the migration
        can be rolled back. Finalizing drops it and frees its space.
      </p>
      {runs.isError && <ErrorState error={runs.error} compact onRetry={() => void runs.refetch()} />}
      {runs.data && !run && (
        <p className="muted">No finished run of this table can be finalized now; see its run on the Runs screen.</p>
      )}
      {run && (
        <button
          type="button"
          className="btn btn-danger-outline"
          onClick={() => setOpen(run)}
          data-testid="tracker-finalize"
        >
          <Icon name="trash" />
          Finalize run #{run.runId}…
        </button>
      )}
      {open && (
        <RunActionDialog
          connectionId={connectionId}
          runId={open.runId}
          tables={runTables(open)}
          action="finalize"
          onClose={() => setOpen(null)}
        />
      )}
    </div>
  );
}

export function TableConfigPanel({
  connectionId,
  table,
  measure,
}: {
  connectionId: string;
  table: ManagedTable;
  /** Whether to measure the tree's size now (it opens every leaf: after the tracker rows are shown). */
  measure: boolean;
}) {
  const setBucketLimit = useSetBucketLimit(connectionId, table.configId);
  const sizes = useLeafSizes(connectionId, table.configId, measure);
  return (
    <div className="panel config-panel" data-testid="table-config" data-config-id={table.configId}>
      <h2 className="panel-title">Configuration</h2>
      <dl className="kv stacked">
        <dt>Table</dt>
        <dd>
          <ObjectName prefix={`${displayIdentifier(table.schema)}.`} name={displayIdentifier(table.table)} />
        </dd>
        <dt>Partitioned table</dt>
        <dd>
          <ObjectName name={displayIdentifier(table.partitionedTable)} />
        </dd>
        <dt>Key column</dt>
        <dd className="mono">{table.keyColumn}</dd>
        <dt>Bucket column</dt>
        <dd className="mono">{table.bucketColumn}</dd>
        <dt>Mode</dt>
        <dd>
          <span className={table.mode === 'routing' ? 'badge badge-ok' : 'badge badge-warn'} data-testid="table-mode">
            {table.mode}
          </span>{' '}
          <span className="muted">
            {table.mode === 'routing' ? 'new rows are routed to buckets' : 'the migration is still building it'}
          </span>
        </dd>
        <dt>Keys / leaves</dt>
        <dd className="num">
          {formatNumber(table.keys)} / {formatNumber(table.leaves)}
        </dd>
        <dt>Size</dt>
        <dd className="num" data-testid="config-size" title="Table, indexes and TOAST of every leaf">
          {sizes.data ? formatBytes(sizes.data.totalBytes) : sizes.isError ? 'unavailable' : 'measuring…'}
        </dd>
        <dt>Created</dt>
        <dd>{formatTimestamp(table.createdAt)}</dd>
        <dt>Updated</dt>
        <dd>{formatTimestamp(table.updatedAt)}</dd>
      </dl>
      <BucketLimitEditor key={`${table.configId}-${table.bucketLimit}`} table={table} mutation={setBucketLimit} />
      {table.backupTable && <FinalizeAction connectionId={connectionId} table={table} />}
    </div>
  );
}
