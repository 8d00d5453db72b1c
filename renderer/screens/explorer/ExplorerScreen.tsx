// Explorer: the partition tree of a managed table (key -> level-1 partition
// -> buckets) with fill levels, sizes and search by key value.
import { useCallback, useDeferredValue, useMemo, useState, type ReactNode } from 'react';
import type { ManagedTable } from '../../../shared/explorer';
import { useLeafSizes, usePartitionTree } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ManagedTableGate } from '../../components/ManagedTableGate';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { SearchBox } from '../../components/SearchBox';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';
import { Switch } from '../../components/Switch';
import { useAfterPaint } from '../../lib/after-paint';
import { formatBytes, formatCount, formatNumber } from '../../lib/format';
import { flattenTree, indexTree } from '../../lib/partition-tree';
import { PartitionTreeView } from './PartitionTreeView';

function TreePanel({ connectionId, table, picker }: { connectionId: string; table: ManagedTable; picker: ReactNode }) {
  const [exact, setExact] = useState(false);
  const [search, setSearch] = useState('');
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const tree = usePartitionTree(connectionId, table.configId, exact);
  // Sizes open every leaf, so they come apart and are asked for once the tree
  // is painted: where the server shares the machine, measuring would slow it.
  const treeShown = useAfterPaint(tree.data !== undefined);
  const sizes = useLeafSizes(connectionId, table.configId, treeShown);
  // Typing stays responsive while 10,000+ keys are filtered behind it.
  const deferredSearch = useDeferredValue(search);

  const index = useMemo(() => indexTree(tree.data?.levelOne ?? []), [tree.data]);
  const rows = useMemo(() => flattenTree(index, expanded, deferredSearch), [index, expanded, deferredSearch]);
  const matches = useMemo(() => rows.reduce((count, row) => count + (row.kind === 'partition' ? 1 : 0), 0), [rows]);
  const overFull = useMemo(() => index.summaries.reduce((sum, summary) => sum + summary.overFull, 0), [index]);

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
          onClick={() => setExpanded(new Set())}
          disabled={expanded.size === 0}
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
      </div>
      {tree.data && (
        <div className="totals" data-testid="tree-totals">
          <span>
            <strong className="num">{formatNumber(tree.data.totals.levelOne)}</strong> level-1 partitions
          </span>
          <span>
            <strong className="num">{formatNumber(tree.data.totals.leaves)}</strong> leaves
          </span>
          <span>
            <strong className="num">{formatNumber(tree.data.totals.rows)}</strong> rows{exact ? '' : ' (est.)'}
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
            bucket limit <strong className="num">{formatNumber(table.bucketLimit)}</strong>
          </span>
          {overFull > 0 && (
            <span className="bad-text" data-testid="tree-over-full">
              <Icon name="alert" size={14} /> {formatCount(overFull, 'over-full bucket')}
            </span>
          )}
          {deferredSearch.trim() !== '' && (
            <span className="muted" data-testid="tree-matches">
              {formatNumber(matches)} of {formatNumber(tree.data.levelOne.length)} keys match
            </span>
          )}
        </div>
      )}
      {tree.isPending && (
        <Loading
          label={exact ? 'Counting the rows of every leaf…' : 'Reading the partition tree…'}
          testId="tree-loading"
        />
      )}
      {tree.isError && <ErrorState error={tree.error} onRetry={() => void tree.refetch()} retrying={tree.isFetching} />}
      {tree.data && tree.data.levelOne.length === 0 && (
        <EmptyState title="No partitions yet" testId="tree-empty">
          Level-1 partitions appear as rows with new key values arrive.
        </EmptyState>
      )}
      {tree.data && tree.data.levelOne.length > 0 && rows.length === 0 && (
        <EmptyState title={`No key matches “${deferredSearch.trim()}”`} testId="tree-no-match" />
      )}
      {rows.length > 0 && (
        <PartitionTreeView
          rows={rows}
          sizes={sizes.data ? sizes.data.bytes : sizes.isError ? 'failed' : 'measuring'}
          onToggle={onToggle}
          onExpand={onExpand}
          onCollapse={onCollapse}
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
