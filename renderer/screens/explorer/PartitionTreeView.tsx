// The partition tree, virtualized: only the rows in view are in the DOM, so
// tens of thousands of keys (and their buckets, when expanded) scroll freely.
// Keyboard: arrows move, Enter/Right expands, Left collapses or goes up. The
// columns of the level-1 rows sort (a DBA looks for the hot tenants by rows,
// size or fill); bucket rows stay under their key.
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useRef, useState, type KeyboardEvent } from 'react';
import { FillBar } from '../../components/Bars';
import { Icon } from '../../components/Icon';
import { ObjectName } from '../../components/ObjectName';
import { formatBytes, formatNumber } from '../../lib/format';
import type { LeafSizes } from '../../../shared/explorer';
import {
  POOL_KEY,
  treeKeyAction,
  type BucketRow,
  type PartitionRow,
  type TreeRow,
  type TreeSort,
  type TreeSortColumn,
} from '../../lib/partition-tree';

export const TREE_ROW_HEIGHT = 30;

type LeafBytes = LeafSizes['bytes'];
const TEMPLATE = 'minmax(240px, 3fr) 84px minmax(96px, 1fr) minmax(84px, 0.8fr) minmax(170px, 1.6fr)';

/** Bytes on disk; null while they are measured, undefined when measuring failed. */
function SizeCell({ bytes }: { bytes: number | null | undefined }) {
  return (
    <div role="gridcell" className="vtable-cell tree-cell right num">
      {bytes === null ? (
        <span className="muted" title="Measuring sizes…">
          …
        </span>
      ) : bytes === undefined ? (
        <span className="muted" title="Sizes unavailable">
          —
        </span>
      ) : (
        formatBytes(bytes)
      )}
    </div>
  );
}

/** Where the leaf sizes are: measured (bytes by leaf name), being measured, or failed. */
export type TreeSizes = LeafBytes | 'measuring' | 'failed';

/** The bytes of some leaves together, for a SizeCell. */
function bytesOf(sizes: TreeSizes, leaves: readonly string[]): number | null | undefined {
  if (sizes === 'measuring') return null;
  if (sizes === 'failed') return undefined;
  let bytes = 0;
  for (const leaf of leaves) bytes += sizes[leaf] ?? 0;
  return bytes;
}

const PartitionLine = memo(function PartitionLine({
  row,
  bytes,
  selected,
  exact,
  onToggle,
  onSelect,
}: {
  row: PartitionRow;
  bytes: number | null | undefined;
  selected: boolean;
  exact: boolean;
  onToggle(key: string): void;
  onSelect(key: string): void;
}) {
  const { node, summary, pool } = row;
  // A pooled key's rows are counted in the pool (exact counts only); its size is the pool's.
  const rowsUnknown = node.pooled && !exact;
  return (
    <>
      <div role="gridcell" className="vtable-cell tree-cell tree-name">
        {pool ? (
          // The pool is no key: nothing to select for a key action.
          <span className="tree-select tree-select-none" aria-hidden="true" />
        ) : (
          <input
            type="checkbox"
            className="tree-select"
            checked={selected}
            tabIndex={-1}
            aria-label={`Select key ${node.keyValue}`}
            onClick={(event) => event.stopPropagation()}
            onChange={() => onSelect(node.keyValue)}
            data-testid="tree-select"
          />
        )}
        <button
          type="button"
          className="tree-toggle"
          tabIndex={-1}
          aria-hidden="true"
          onClick={(event) => {
            event.stopPropagation();
            onToggle(node.keyValue);
          }}
          disabled={node.buckets.length === 0}
        >
          <Icon name={row.expanded ? 'chevronDown' : 'chevronRight'} size={14} />
        </button>
        {pool ? (
          <span
            className="strong key-value"
            title="The pool of small keys: the table's DEFAULT partition, whose buckets all its small keys share"
            data-testid="pool-label"
          >
            shared ({formatNumber(pool.keys)} {pool.keys === 1 ? 'key' : 'keys'})
          </span>
        ) : (
          <span className="mono strong key-value">{node.keyValue}</span>
        )}
        <ObjectName name={node.partition} className="muted" />
        {node.pooled && (
          <span
            className="badge badge-subtle"
            title="This key has no partition of its own: its rows are in the buckets of the pool of small keys"
            data-testid="key-pooled"
          >
            in pool
          </span>
        )}
        {node.state !== 'active' && (
          <span
            className={
              node.state === 'detached'
                ? 'badge badge-warn'
                : node.state === 'moving' || node.state === 'compacting'
                  ? 'badge badge-subtle'
                  : 'badge badge-bad'
            }
            title={
              node.state === 'detached'
                ? 'A standalone table: new rows of this key are refused until it is attached'
                : node.state === 'moving' || node.state === 'compacting'
                  ? `A ${node.state === 'moving' ? 'move' : 'compaction'} of this key is under way, or was interrupted (run it again to finish it); its rows are routed meanwhile`
                  : 'An action on this key did not finish: new rows of this key are refused; run it again'
            }
            data-testid="key-state"
          >
            {node.state}
          </span>
        )}
        {node.bucketLimit !== null && (
          <span className="badge badge-subtle" title="This key's own bucket limit" data-testid="key-limit">
            limit {formatNumber(node.bucketLimit)}
          </span>
        )}
        {summary.overFull > 0 && (
          <span className="badge badge-bad" data-testid="over-full-flag" title="Buckets over their capacity">
            <Icon name="alert" size={12} /> {summary.overFull} over-full
          </span>
        )}
      </div>
      <div role="gridcell" className="vtable-cell tree-cell right num" data-testid="bucket-count">
        {node.pooled ? '' : formatNumber(node.buckets.length)}
      </div>
      <div role="gridcell" className="vtable-cell tree-cell right num">
        {rowsUnknown ? (
          <span className="muted" title="Rows of a pooled key are counted with Exact counts">
            —
          </span>
        ) : (
          formatNumber(node.rows)
        )}
      </div>
      {node.pooled ? <div role="gridcell" className="vtable-cell tree-cell" /> : <SizeCell bytes={bytes} />}
      <div role="gridcell" className="vtable-cell tree-cell">
        {!node.pooled && (
          <FillBar
            fraction={summary.currentFill}
            label={
              pool
                ? `Current bucket ${node.currentBucketId} of the pool`
                : `Current bucket ${node.currentBucketId} of key ${node.keyValue}`
            }
            testId="current-fill-bar"
          />
        )}
      </div>
    </>
  );
});

const BucketLine = memo(function BucketLine({ row, bytes }: { row: BucketRow; bytes: number | null | undefined }) {
  const { bucket } = row;
  return (
    <>
      <div role="gridcell" className="vtable-cell tree-cell tree-name bucket">
        <span className="tree-indent" aria-hidden="true" />
        <span className="mono bucket-label">bucket {bucket.bucketId}</span>
        <ObjectName name={bucket.leaf} className="muted" />
        {row.current && (
          <span className="badge badge-accent" title="New rows of this key go to this bucket">
            current
          </span>
        )}
      </div>
      {/* The buckets column counts a key's buckets: a bucket row has nothing to put there. */}
      <div role="gridcell" className="vtable-cell tree-cell" data-testid="bucket-count" />
      <div role="gridcell" className="vtable-cell tree-cell right num">
        {formatNumber(bucket.rows)}
      </div>
      <SizeCell bytes={bytes} />
      <div role="gridcell" className="vtable-cell tree-cell">
        <FillBar
          fraction={row.fill}
          label={`${formatNumber(bucket.assigned)} of ${formatNumber(bucket.capacity)} tickets handed out, ${formatNumber(bucket.rows)} rows`}
        />
      </div>
    </>
  );
});

const HEADERS: Array<{ column: TreeSortColumn; label: string; right?: boolean; title: string }> = [
  { column: 'key', label: 'Key / partition', title: 'Key value; the level-1 partition and its buckets' },
  { column: 'buckets', label: 'Buckets', right: true, title: 'Buckets of the key' },
  { column: 'rows', label: 'Rows', right: true, title: 'Rows of the key, and of each bucket' },
  { column: 'size', label: 'Size', right: true, title: 'Table, indexes and TOAST of the leaves' },
  { column: 'fill', label: 'Fill', title: 'How full the current bucket is (for a key) or the bucket is' },
];

export function PartitionTreeView({
  rows,
  sizes,
  sort,
  onSort,
  rowsLabel,
  onToggle,
  onExpand,
  onCollapse,
  selected,
  onSelect,
  exact = false,
}: {
  rows: readonly TreeRow[];
  sizes: TreeSizes;
  sort: TreeSort;
  onSort(column: TreeSortColumn): void;
  /** The rows column's header: says once how the rows were obtained. */
  rowsLabel: string;
  onToggle(key: string): void;
  onExpand(key: string): void;
  onCollapse(key: string): void;
  /** Keys chosen for an action (the checkbox of each key). */
  selected: ReadonlySet<string>;
  onSelect(key: string): void;
  /** Rows counted leaf by leaf (a pooled key's rows are known only then). */
  exact?: boolean;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const [active, setActive] = useState(0);
  const activeIndex = Math.min(active, Math.max(rows.length - 1, 0));
  const headerHeight = TREE_ROW_HEIGHT + 2;

  // No React Compiler in this build; the virtualizer's functions are used during render only.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => TREE_ROW_HEIGHT,
    overscan: 16,
    scrollMargin: headerHeight,
    scrollPaddingStart: headerHeight,
    getItemKey: (index) => rows[index]!.id,
  });

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 300) / TREE_ROW_HEIGHT) - 1);
    const result = treeKeyAction(rows, activeIndex, event.key, page);
    if (!result) return;
    event.preventDefault();
    if (result.expand) onExpand(result.expand);
    if (result.collapse) onCollapse(result.collapse);
    setActive(result.active);
    virtualizer.scrollToIndex(result.active, { align: 'auto' });
  };

  const toggle = useCallback((key: string) => onToggle(key), [onToggle]);

  return (
    <div
      className="tree vtable"
      ref={scrollRef}
      role="treegrid"
      aria-label="Partition tree"
      aria-rowcount={rows.length + 1}
      aria-activedescendant={rows.length > 0 ? `tree-row-${activeIndex}` : undefined}
      tabIndex={0}
      onKeyDown={onKeyDown}
      data-testid="partition-tree"
      data-row-count={rows.length}
    >
      <div className="vtable-head" role="row" style={{ gridTemplateColumns: TEMPLATE, height: headerHeight }}>
        {HEADERS.map((header) => {
          const sorting = sort.column === header.column ? sort.direction : null;
          const unavailable = header.column === 'size' && typeof sizes === 'string';
          return (
            <div
              key={header.column}
              role="columnheader"
              className={header.right ? 'vtable-cell right' : 'vtable-cell'}
              aria-sort={sorting === 'asc' ? 'ascending' : sorting === 'desc' ? 'descending' : undefined}
            >
              <button
                type="button"
                className="sort-button"
                onClick={() => onSort(header.column)}
                disabled={unavailable}
                title={unavailable ? 'Sorting by size waits for the sizes' : `${header.title}. Click to sort.`}
                data-testid={`tree-sort-${header.column}`}
              >
                {header.column === 'rows' ? rowsLabel : header.label}
                {sorting && <Icon name="chevronDown" size={12} className={sorting === 'asc' ? 'flip' : undefined} />}
              </button>
            </div>
          );
        })}
      </div>
      <div className="vtable-body" style={{ height: virtualizer.getTotalSize() }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = rows[item.index]!;
          const isPartition = row.kind === 'partition';
          return (
            <div
              key={row.id}
              id={`tree-row-${item.index}`}
              role="row"
              aria-level={isPartition ? 1 : 2}
              aria-expanded={isPartition && row.node.buckets.length > 0 ? row.expanded : undefined}
              aria-selected={item.index === activeIndex}
              className={`vtable-row tree-row ${row.kind}${item.index === activeIndex ? ' active' : ''}${
                row.kind === 'bucket' && row.fill > 1 ? ' over' : ''
              }`}
              style={{
                gridTemplateColumns: TEMPLATE,
                height: TREE_ROW_HEIGHT,
                transform: `translateY(${item.start - headerHeight}px)`,
              }}
              onClick={() => {
                setActive(item.index);
                if (isPartition) onToggle(row.node.keyValue);
              }}
              data-testid="tree-row"
              data-kind={row.kind}
              data-key={
                isPartition
                  ? row.pool
                    ? 'pool'
                    : row.node.keyValue
                  : row.parentKey === POOL_KEY
                    ? 'pool'
                    : row.parentKey
              }
              {...(isPartition ? { 'data-state': row.node.state } : {})}
              {...(row.kind === 'bucket' ? { 'data-bucket-id': row.bucket.bucketId } : {})}
            >
              {isPartition ? (
                <PartitionLine
                  row={row}
                  bytes={bytesOf(
                    sizes,
                    row.node.buckets.map((bucket) => bucket.leaf),
                  )}
                  selected={selected.has(row.node.keyValue)}
                  exact={exact}
                  onToggle={toggle}
                  onSelect={onSelect}
                />
              ) : (
                <BucketLine row={row} bytes={bytesOf(sizes, [row.bucket.leaf])} />
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
