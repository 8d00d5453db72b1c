// Actions on the keys selected in the Explorer: a bar naming the selection
// with the actions that apply, and a confirmation that shows the plan the
// main process made (steps, DDL, locks and for how long, rows and bytes)
// before anything runs. Dropping names each key with its rows and bytes; on a
// production connection, detach and drop ask for the table's name.
import { useState } from 'react';
import type { ManagedTable, RetiredKey } from '../../../shared/explorer';
import type { KeyActionKind, KeyActionOptions, KeyActionResult, KeyPlan, KeyProgressEvent } from '../../../shared/keys';
import { useActiveConnection } from '../../api/active-connection';
import { useAppInfo, useChooseSavePath, useKeyAction, useKeyPlan } from '../../api/queries';
import { useKeyProgress } from '../../api/key-progress';
import { keyProgressText } from '../../../shared/text';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Loading, QueryErrorState } from '../../components/StateViews';
import { formatBytes, formatCount, formatNumber, formatTimestamp } from '../../lib/format';

export type KeyBarAction = Exclude<KeyActionKind, 'limit' | 'readmit'>;
type BarAction = KeyBarAction;

const LABELS: Record<BarAction, string> = {
  detach: 'Detach',
  attach: 'Attach',
  drop: 'Drop',
  vacuum: 'Vacuum',
  analyze: 'Analyze',
  export: 'Export',
  move: 'Move',
  compact: 'Compact',
  isolate: 'Isolate',
  share: 'Share',
};

/** Actions that move a key between the pool of small keys and a partition of its own: shown for a table with a pool. */
const POOL_ACTIONS: ReadonlySet<BarAction> = new Set(['isolate', 'share']);

const SUMMARIES: Record<BarAction, string> = {
  detach:
    'The partition of each key leaves the table as a standalone table with its rows and indexes; new rows of the key are refused until it is attached. A key in the pool of small keys is isolated first.',
  attach:
    'The standalone table of each key joins the table again; its rows are checked against the key, then routing places new rows again.',
  drop: 'The partitions of each key are detached, then dropped: their rows are deleted. A key in the pool of small keys is isolated first.',
  vacuum: 'VACUUM (ANALYZE) of each leaf of the key, one leaf at a time.',
  analyze: 'ANALYZE of each leaf of the key, one leaf at a time.',
  export: 'The rows of the key are copied to a file, in one snapshot.',
  move: 'The leaves of each key and their indexes are rewritten in another tablespace, one leaf at a time; buckets opened later are created there too. A key in the pool of small keys is isolated first, then its new partition moved.',
  compact:
    'The sparse buckets of each key are merged into as few as the bucket limit allows, then the emptied leaves are dropped; rows go on being written meanwhile. A key in the pool of small keys has no buckets of its own to merge: isolating it packs its rows.',
  isolate:
    'Each pooled key moves out of the pool of small keys into a partition of its own, bucketed; the pool is locked for the short switch only.',
  share:
    'Each key with a partition of its own moves into the pool of small keys; its partition is dropped. The table is locked while its rows move: meant for small keys.',
};

export function KeyActionBar({
  selected,
  hasPool = false,
  onAction,
  onClear,
}: {
  selected: readonly string[];
  /** The table has a pool of small keys: isolate and share apply. */
  hasPool?: boolean;
  onAction(action: BarAction): void;
  onClear(): void;
}) {
  if (selected.length === 0) return null;
  return (
    <div className="key-action-bar" role="toolbar" aria-label="Key actions" data-testid="key-action-bar">
      <span data-testid="key-selection">
        {formatCount(selected.length, 'key')} selected: <span className="mono">{selected.slice(0, 5).join(', ')}</span>
        {selected.length > 5 ? '…' : ''}
      </span>
      {(Object.keys(LABELS) as BarAction[])
        .filter((action) => hasPool || !POOL_ACTIONS.has(action))
        .map((action) => (
          <button
            key={action}
            type="button"
            className={action === 'drop' ? 'btn btn-small btn-danger' : 'btn btn-small'}
            onClick={() => onAction(action)}
            disabled={action === 'export' && selected.length !== 1}
            title={action === 'export' && selected.length !== 1 ? 'Export one key at a time' : undefined}
            data-testid={`key-action-${action}`}
          >
            {LABELS[action]}
          </button>
        ))}
      <button type="button" className="btn btn-small" onClick={onClear} data-testid="key-selection-clear">
        Clear
      </button>
    </div>
  );
}

function PlanDetails({ plan }: { plan: KeyPlan }) {
  return (
    <div className="key-plan" data-testid="key-plan" data-key={plan.keyValue}>
      <p>
        Key <strong className="mono">{plan.keyValue}</strong> ({plan.state}):{' '}
        <span data-testid="key-plan-rows">
          {plan.rowsExact ? '' : '~'}
          {formatNumber(plan.rows)} rows
        </span>
        , <span data-testid="key-plan-bytes">{formatBytes(plan.bytes)}</span> in{' '}
        {formatCount(plan.leaves.length, 'leaf', 'leaves')} of <span className="mono">{plan.levelOne}</span>
      </p>
      {plan.compaction && plan.steps.length > 0 && (
        <p data-testid="key-plan-compaction">
          {formatCount(plan.compaction.leavesBefore, 'leaf', 'leaves')} before,{' '}
          <strong>{formatNumber(plan.compaction.leavesAfter)}</strong> after; {formatNumber(plan.compaction.rowsMoved)}{' '}
          rows moved (counted now, counted again when it runs)
        </p>
      )}
      {plan.steps.length === 0 ? (
        <p className="muted">Nothing to do.</p>
      ) : (
        <ol className="key-plan-steps">
          {plan.steps.map((step) => (
            <li key={step}>{step}</li>
          ))}
        </ol>
      )}
      {plan.ddl.length > 0 && (
        <pre className="mono key-plan-ddl" data-testid="key-plan-ddl">
          {plan.ddl.slice(0, 8).join(';\n')}
          {plan.ddl.length > 8 ? `;\n… ${plan.ddl.length - 8} more` : ';'}
        </pre>
      )}
      {plan.locks.length > 0 && (
        <ul className="key-plan-locks" data-testid="key-plan-locks">
          {plan.locks.map((lock) => (
            <li key={`${lock.relation}/${lock.mode}`}>
              <strong>{lock.mode}</strong> on <span className="mono">{lock.relation}</span>: {lock.held}
            </li>
          ))}
        </ul>
      )}
      {plan.notes.map((note) => (
        <p key={note} className="muted">
          {note}
        </p>
      ))}
    </div>
  );
}

export function KeyActionDialog({
  connectionId,
  table,
  action,
  keyValues,
  onClose,
}: {
  connectionId: string;
  table: ManagedTable;
  action: BarAction;
  keyValues: string[];
  onClose(): void;
}) {
  const [onInsert, setOnInsert] = useState<'refuse' | 'recreate'>('refuse');
  const [format, setFormat] = useState<'csv' | 'binary'>('csv');
  const [out, setOut] = useState('');
  const [tablespace, setTablespace] = useState('');
  const options: KeyActionOptions =
    action === 'drop'
      ? { onInsert }
      : action === 'export'
        ? { format }
        : action === 'move' && tablespace !== ''
          ? { tablespace }
          : {};
  const run = useKeyAction(connectionId, table.configId);
  const [results, setResults] = useState<KeyActionResult[] | null>(null);
  const plan = useKeyPlan(connectionId, table.configId, action, keyValues, options, results === null && !run.isPending);
  const production = useActiveConnection().profile?.production === true;
  const progress = useKeyProgress(connectionId, table.configId, run.isPending);
  // The desktop app has a save dialog; in a browser the path is typed.
  const saveDialog = useAppInfo().data?.shell === 'electron';
  const choose = useChooseSavePath();
  const suggestedName = `${table.table}-${keyValues[0]}.${format === 'csv' ? 'csv' : 'copy'}`;
  const tableName = `${table.schema}.${table.table}`;
  const nothingToDo = plan.data !== undefined && plan.data.every((p) => p.steps.length === 0);
  // The tablespaces the role may create in, as the plan of a move lists them.
  const [tablespaces, setTablespaces] = useState<string[]>([]);
  const listed = plan.data?.[0]?.tablespaces;
  if (listed && listed.join('\n') !== tablespaces.join('\n')) setTablespaces(listed);

  return (
    <ConfirmDialog
      title={`${LABELS[action]} ${formatCount(keyValues.length, 'key')} of ${tableName}?`}
      confirmLabel={action === 'drop' ? 'Drop and delete the rows' : LABELS[action]}
      tone={action === 'drop' || action === 'detach' ? 'danger' : 'primary'}
      busy={run.isPending}
      error={run.error}
      disabledReason={
        plan.isPending
          ? 'Planning…'
          : plan.isError
            ? 'The plan failed.'
            : action === 'move' && tablespace === ''
              ? 'Choose a tablespace.'
              : nothingToDo
                ? 'Nothing to do.'
                : action === 'export' && !out.trim().startsWith('/') && !/^[A-Za-z]:\\/.test(out.trim())
                  ? 'Give the full path of the file to write.'
                  : undefined
      }
      acknowledgement={action === 'drop' ? 'I understand that the rows of these keys are deleted.' : undefined}
      typeToConfirm={production && (action === 'drop' || action === 'detach') ? tableName : undefined}
      busyNote="Closing this window does not stop it."
      result={
        results ? (
          <ul className="confirm-list" data-testid="key-action-results">
            {results.map((r) => (
              <li key={r.keyValue}>{r.message}</li>
            ))}
          </ul>
        ) : undefined
      }
      testId="key-action-dialog"
      onCancel={onClose}
      onConfirm={() =>
        run.mutate(
          { action, keyValues, options, ...(action === 'export' ? { out: out.trim() } : {}) },
          { onSuccess: (answer) => setResults(answer) },
        )
      }
    >
      <p>{SUMMARIES[action]}</p>
      {run.isPending && <ProgressLine event={progress} />}
      {action === 'drop' && (
        <fieldset className="key-options">
          <legend>A later row of a dropped key</legend>
          <label className="checkbox">
            <input
              type="radio"
              name="on-insert"
              checked={onInsert === 'refuse'}
              onChange={() => setOnInsert('refuse')}
              data-testid="key-drop-refuse"
            />
            <span>is refused, with an error naming the table and the key</span>
          </label>
          <label className="checkbox">
            <input
              type="radio"
              name="on-insert"
              checked={onInsert === 'recreate'}
              onChange={() => setOnInsert('recreate')}
              data-testid="key-drop-recreate"
            />
            <span>creates the key&apos;s partitions again</span>
          </label>
        </fieldset>
      )}
      {action === 'move' && (
        <div className="key-options">
          <label className="picker">
            <span className="picker-label">Tablespace</span>
            <select
              value={tablespace}
              onChange={(event) => setTablespace(event.target.value)}
              data-testid="key-move-tablespace"
            >
              <option value="">Choose…</option>
              {tablespaces.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {action === 'export' && (
        <div className="key-options">
          <div className="field">
            <label htmlFor="key-export-path">File (on the machine running Partwise)</label>
            <div className="field-row export-path">
              <input
                id="key-export-path"
                type="text"
                value={out}
                onChange={(event) => setOut(event.target.value)}
                spellCheck={false}
                placeholder={`/path/to/${suggestedName}`}
                data-testid="key-export-path"
              />
              {saveDialog && (
                <button
                  type="button"
                  className="btn"
                  disabled={choose.isPending}
                  onClick={() =>
                    choose.mutate(suggestedName, {
                      onSuccess: (chosen) => {
                        if (chosen !== null) setOut(chosen);
                      },
                    })
                  }
                  data-testid="key-export-choose"
                >
                  Choose…
                </button>
              )}
            </div>
          </div>
          {choose.isError && <p className="bad-text">{choose.error.message}</p>}
          <label className="picker">
            <span className="picker-label">Format</span>
            <select
              value={format}
              onChange={(event) => setFormat(event.target.value as 'csv' | 'binary')}
              data-testid="key-export-format"
            >
              <option value="csv">CSV with a header</option>
              <option value="binary">COPY binary</option>
            </select>
          </label>
        </div>
      )}
      {plan.isPending && <Loading label="Planning…" testId="key-plan-loading" />}
      {plan.isError && (
        <QueryErrorState error={plan.error} onRetry={() => void plan.refetch()} retrying={plan.isFetching} />
      )}
      {plan.data?.map((p) => (
        <PlanDetails key={p.keyValue} plan={p} />
      ))}
    </ConfirmDialog>
  );
}

/** Where a running action is: which key of how many, its step, and how far the step is. */
function ProgressLine({ event }: { event: KeyProgressEvent | null }) {
  if (!event) return <Loading label="Starting…" testId="key-action-progress" />;
  return (
    <p className="muted" role="status" data-testid="key-action-progress">
      {event.of > 1 ? `Key ${event.position} of ${event.of}, ` : ''}
      {keyProgressText(event.progress)}
    </p>
  );
}

/** Keys whose partitions were dropped, and what a later row of each meets. */
export function RetiredKeys({ keys }: { keys: readonly RetiredKey[] }) {
  return (
    <details className="retired-keys" data-testid="retired-keys">
      <summary>
        {formatCount(keys.length, 'dropped key')}:{' '}
        <span className="mono">
          {keys
            .slice(0, 5)
            .map((k) => k.keyValue)
            .join(', ')}
        </span>
        {keys.length > 5 ? '…' : ''}
      </summary>
      <ul>
        {keys.map((k) => (
          <li key={k.keyValue} data-testid="retired-key" data-key={k.keyValue}>
            <span className="mono strong">{k.keyValue}</span> <span className="badge badge-subtle">retired</span>{' '}
            dropped {formatTimestamp(k.retiredAt)}: {formatNumber(k.rowsDropped)} rows, {formatBytes(k.bytesDropped)}; a
            later row is {k.onInsert === 'refuse' ? 'refused' : 'placed in new partitions'}
          </li>
        ))}
      </ul>
    </details>
  );
}
