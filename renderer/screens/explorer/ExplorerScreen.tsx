// Explorer: the partition tree of a managed table (key -> level-1 partition
// -> buckets) with fill levels and sizes: search by key value, sort by any
// column, the top N keys by rows, size or fill, and the buckets of one fill
// band (opened from the Sizes screen).
import { useCallback, useDeferredValue, useEffect, useMemo, useState, type ReactNode } from 'react';
import { fillBandLabel, type ManagedTable, type PartitionTree } from '../../../shared/explorer';
import { useLeafSizes, usePartitionTree } from '../../api/queries';
import { StaleMark } from '../../components/ConnectionStatus';
import { Icon } from '../../components/Icon';
import { ManagedTableGate } from '../../components/ManagedTableGate';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { SearchBox } from '../../components/SearchBox';
import { EmptyState, Loading, QueryErrorState } from '../../components/StateViews';
import { Switch } from '../../components/Switch';
import { useAfterPaint } from '../../lib/after-paint';
import { formatBytes, formatCount, formatNumber } from '../../lib/format';
import {
  flattenTree,
  indexTree,
  keyBytes,
  orderKeys,
  type TreeSort,
  type TreeSortColumn,
} from '../../lib/partition-tree';
import { useUi } from '../../state/ui';
import { PartitionTreeView } from './PartitionTreeView';
import { KeyActionBar, KeyActionDialog, RetiredKeys, type KeyBarAction } from './KeyActions';
import './explorer.css';

/** How many keys the "top" view shows. */
const TOP_CHOICES = [10, 20, 50, 100] as const;
const KEY_ORDER: TreeSort = { column: 'key', direction: 'asc' };

const rowsHow = (exact: boolean): string => (exact ? 'counted' : 'est.');

/** Which keys show their buckets; the one the Explorer was opened on starts open. */
function useExpandedKeys(initial: string | undefined) {
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set(initial ? [initial] : []));
  const change = useCallback((key: string, mode: 'toggle' | 'expand' | 'collapse') => {
    setExpanded((current) => {
      const has = current.has(key);
      if ((mode === 'expand' && has) || (mode === 'collapse' && !has)) return current;
      const next = new Set(current);
      if (has) next.delete(key);
      else next.add(key);
      return next;
    });
  }, []);
  const onToggle = useCallback((key: string) => change(key, 'toggle'), [change]);
  const onExpand = useCallback((key: string) => change(key, 'expand'), [change]);
  const onCollapse = useCallback((key: string) => change(key, 'collapse'), [change]);
  const collapseAll = useCallback(() => setExpanded(new Set()), []);
  return { expanded, onToggle, onExpand, onCollapse, collapseAll };
}

/** The tree's counts and sizes; `matches` (keys left by a search, band or top N) when something filters them. */
function TreeTotals({
  tree,
  sizes,
  bucketLimit,
  overFull,
  matches,
  shownNotMatched,
  exact,
}: {
  tree: PartitionTree;
  sizes: ReturnType<typeof useLeafSizes>;
  bucketLimit: number;
  overFull: number;
  matches: number | null;
  shownNotMatched: boolean;
  exact: boolean;
}) {
  return (
    <div className="totals" data-testid="tree-totals">
      <span>
        <strong className="num">{formatNumber(tree.totals.levelOne)}</strong> level-1 partitions
      </span>
      <span>
        <strong className="num">{formatNumber(tree.totals.leaves)}</strong> leaves
      </span>
      <span>
        <strong className="num">{formatNumber(tree.totals.rows)}</strong> rows ({rowsHow(exact)})
      </span>
      <span data-testid="tree-total-size">
        {sizes.data ? (
          <strong className="num">{formatBytes(sizes.data.totalBytes)}</strong>
        ) : sizes.isError ? (
          <span className="bad-text" title={sizes.error.message}>
            sizes unavailable
          </span>
        ) : (
          <span className="muted">measuring sizes…</span>
        )}
      </span>
      <span>
        bucket limit <strong className="num">{formatNumber(bucketLimit)}</strong>
      </span>
      {tree.totals.detached.keys > 0 && (
        <span className="muted" data-testid="tree-detached">
          {`not counted: ${formatCount(tree.totals.detached.keys, 'detached key')} (${formatCount(tree.totals.detached.rows, 'row')})`}
        </span>
      )}
      {overFull > 0 && (
        <span className="bad-text" data-testid="tree-over-full">
          <Icon name="alert" size={14} /> {formatCount(overFull, 'over-full bucket')}
        </span>
      )}
      {matches !== null && (
        <span className="muted" data-testid="tree-matches">
          {formatNumber(matches)} of {formatNumber(tree.levelOne.length)} keys {shownNotMatched ? 'shown' : 'match'}
        </span>
      )}
      <span className="muted totals-note" data-testid="tree-how">
        {exact
          ? 'Rows counted leaf by leaf.'
          : 'Rows are estimates from statistics (pg_class.reltuples); fill is tickets handed out.'}{' '}
        Sizes: table, indexes and TOAST.
      </span>
    </div>
  );
}

function TreePanel({ connectionId, table, picker }: { connectionId: string; table: ManagedTable; picker: ReactNode }) {
  // Opened from the Sizes screen on one key or one fill band: taken once.
  const [focus] = useState(() => {
    const wanted = useUi.getState().explorerFocus;
    return wanted && wanted.connectionId === connectionId && wanted.configId === table.configId ? wanted : null;
  });
  const clearFocus = useUi((state) => state.clearExplorerFocus);
  useEffect(() => {
    if (focus) clearFocus();
  }, [focus, clearFocus]);

  const [exact, setExact] = useState(false);
  const [search, setSearch] = useState(focus?.key ?? '');
  const [band, setBand] = useState<number | null>(focus?.band ?? null);
  const [sort, setSort] = useState<TreeSort>(KEY_ORDER);
  const [top, setTop] = useState<number | null>(null);
  const { expanded, onToggle, onExpand, onCollapse, collapseAll } = useExpandedKeys(focus?.key);
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  const [keyAction, setKeyAction] = useState<KeyBarAction | null>(null);
  const onSelect = useCallback((key: string) => {
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  }, []);
  const tree = usePartitionTree(connectionId, table.configId, exact);
  // Sizes open every leaf, so they come apart and are asked for once the tree
  // is painted: where the server shares the machine, measuring would slow it.
  const treeShown = useAfterPaint(tree.data !== undefined);
  const sizes = useLeafSizes(connectionId, table.configId, treeShown);
  // Typing stays responsive while 10,000+ keys are filtered behind it.
  const deferredSearch = useDeferredValue(search);

  const index = useMemo(() => indexTree(tree.data?.levelOne ?? [], tree.data?.pool ?? null), [tree.data]);
  const bytes = useMemo(() => (sizes.data ? keyBytes(index, sizes.data.bytes) : null), [index, sizes.data]);
  const order = useMemo(
    () => (sort.column === 'key' && sort.direction === 'asc' ? undefined : orderKeys(index, sort, bytes)),
    [index, sort, bytes],
  );
  const rows = useMemo(
    () => flattenTree(index, expanded, { search: deferredSearch, order, limit: top, band }),
    [index, expanded, deferredSearch, order, top, band],
  );
  const matches = useMemo(
    () => rows.reduce((count, row) => count + (row.kind === 'partition' && !row.pool ? 1 : 0), 0),
    [rows],
  );
  const bandBuckets = useMemo(
    () => (band === null ? 0 : rows.reduce((count, row) => count + (row.kind === 'bucket' ? 1 : 0), 0)),
    [band, rows],
  );
  // A dropped key leaves the tree, and the selection with it.
  const chosen = useMemo(
    () => index.nodes.filter((node) => selected.has(node.keyValue)).map((node) => node.keyValue),
    [index, selected],
  );
  const overFull = useMemo(
    () => index.summaries.reduce((sum, summary) => sum + summary.overFull, index.pool?.summary.overFull ?? 0),
    [index],
  );

  const onSort = useCallback((column: TreeSortColumn) => {
    setSort((current) =>
      current.column === column
        ? { column, direction: current.direction === 'asc' ? 'desc' : 'asc' }
        : { column, direction: column === 'key' ? 'asc' : 'desc' },
    );
  }, []);
  const chooseTop = (value: string) => {
    const limit = value === 'all' ? null : Number(value);
    setTop(limit);
    // "The top 20 keys" means the largest: by key value there is no top.
    if (limit !== null && sort.column === 'key') setSort({ column: 'rows', direction: 'desc' });
  };

  return (
    <div className="explorer">
      <div className="toolbar">
        {picker}
        <SearchBox
          value={search}
          onChange={setSearch}
          placeholder={`Search ${table.keyColumn}`}
          label="Search by key value"
          testId="tree-search"
        />
        <label className="picker">
          <span className="picker-label">Show</span>
          <select
            value={top === null ? 'all' : String(top)}
            onChange={(event) => chooseTop(event.target.value)}
            aria-label="How many keys to show"
            data-testid="tree-top"
          >
            <option value="all">all keys</option>
            {TOP_CHOICES.map((n) => (
              <option key={n} value={n}>
                top {n}
              </option>
            ))}
          </select>
        </label>
        <Switch
          checked={exact}
          onChange={setExact}
          testId="tree-exact"
          title="Counts the rows of every leaf: slower on big tables"
        >
          Exact counts
        </Switch>
        <button
          type="button"
          className="btn btn-small"
          onClick={collapseAll}
          disabled={expanded.size === 0 || band !== null}
          data-testid="tree-collapse-all"
        >
          Collapse all
        </button>
        <RefreshButton
          onRefresh={() => {
            void tree.refetch();
            void sizes.refetch();
          }}
          busy={tree.isFetching || sizes.isFetching}
          label="Refresh the tree"
          testId="tree-refresh"
        />
        <StaleMark connectionId={connectionId} shown={tree.data !== undefined} />
      </div>
      {tree.data && (
        <TreeTotals
          tree={tree.data}
          sizes={sizes}
          bucketLimit={table.bucketLimit}
          overFull={overFull}
          matches={deferredSearch.trim() !== '' || band !== null || top !== null ? matches : null}
          shownNotMatched={top !== null}
          exact={exact}
        />
      )}
      <KeyActionBar
        selected={chosen}
        hasPool={tree.data?.pool != null}
        onAction={setKeyAction}
        onClear={() => setSelected(new Set())}
      />
      {keyAction && (
        <KeyActionDialog
          connectionId={connectionId}
          table={table}
          action={keyAction}
          keyValues={chosen}
          onClose={() => setKeyAction(null)}
        />
      )}
      {tree.data && tree.data.retired.length > 0 && <RetiredKeys keys={tree.data.retired} />}
      {band !== null && (
        <div className="filter-chip-row">
          <span className="filter-chip" data-testid="tree-band-filter">
            Buckets {fillBandLabel(band)} full: {formatCount(bandBuckets, 'bucket')} in {formatCount(matches, 'key')}
            <button
              type="button"
              className="btn btn-icon btn-small"
              onClick={() => setBand(null)}
              aria-label="Show every bucket"
              title="Show every bucket"
              data-testid="tree-band-clear"
            >
              <Icon name="close" size={12} />
            </button>
          </span>
        </div>
      )}
      {tree.isPending && (
        <Loading
          label={exact ? 'Counting the rows of every leaf…' : 'Reading the partition tree…'}
          testId="tree-loading"
        />
      )}
      {tree.isError && !tree.data && (
        <QueryErrorState error={tree.error} onRetry={() => void tree.refetch()} retrying={tree.isFetching} />
      )}
      {tree.data && tree.data.levelOne.length === 0 && (
        <EmptyState title="No partitions yet" testId="tree-empty">
          Level-1 partitions appear as rows with new key values arrive.
        </EmptyState>
      )}
      {tree.data && tree.data.levelOne.length > 0 && rows.length === 0 && (
        <EmptyState
          title={
            band !== null ? `No bucket is ${fillBandLabel(band)} full` : `No key matches “${deferredSearch.trim()}”`
          }
          testId="tree-no-match"
        />
      )}
      {rows.length > 0 && (
        <PartitionTreeView
          rows={rows}
          sizes={sizes.data ? sizes.data.bytes : sizes.isError ? 'failed' : 'measuring'}
          sort={sort}
          onSort={onSort}
          rowsLabel={`Rows (${rowsHow(exact)})`}
          exact={exact}
          onToggle={onToggle}
          onExpand={onExpand}
          onCollapse={onCollapse}
          selected={selected}
          onSelect={onSelect}
        />
      )}
    </div>
  );
}

export function ExplorerScreen() {
  return (
    <section className="screen" data-testid="screen-explorer" aria-label="Explorer">
      <ScreenHeader title="Explorer" subtitle="Partitions by key value, their buckets and how full each one is." />
      <RequireConnection>
        {(connectionId) => (
          <ManagedTableGate connectionId={connectionId}>
            {(table, picker) => (
              <TreePanel key={table.configId} connectionId={connectionId} table={table} picker={picker} />
            )}
          </ManagedTableGate>
        )}
      </RequireConnection>
    </section>
  );
}
