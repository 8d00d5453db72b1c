// The partition tree flattened into rows for the virtualizer: a level-1 row per
// key, followed by its bucket rows when expanded. Tables can have tens of
// thousands of keys, so per-key summaries are computed once per tree and the
// flattening itself is a single pass over the (filtered, ordered) keys.
import { fillBand, type BucketNode, type LevelOneNode, type PoolNode } from '../../shared/explorer';
import { bucketFill } from './fill';
import { sortByKey } from './key-order';

export interface LevelOneSummary {
  /** Buckets over their capacity. */
  overFull: number;
  /** Fill of the bucket that takes new rows (0 when it is not in the tree). */
  currentFill: number;
  /** Sum of bucket capacities: how many rows the existing buckets can take. */
  capacity: number;
  keyLower: string;
}

export interface TreeIndex {
  /** In key order. */
  nodes: readonly LevelOneNode[];
  summaries: readonly LevelOneSummary[];
  /** The pool of small keys as one level-1 row, shown first (its key is POOL_KEY). */
  pool: { node: LevelOneNode; summary: LevelOneSummary; pool: PoolNode } | null;
}

/**
 * The key of the pool's row in the tree's expanded set and row ids: a NUL
 * character, which no PostgreSQL text value (and so no key) can hold.
 */
export const POOL_KEY = '\u0000pool';

function summarize(node: LevelOneNode): LevelOneSummary {
  let overFull = 0;
  let capacity = 0;
  let currentFill = 0;
  for (const bucket of node.buckets) {
    const fill = bucketFill(bucket);
    if (fill > 1) overFull++;
    capacity += bucket.capacity;
    if (bucket.bucketId === node.currentBucketId) currentFill = fill;
  }
  return { overFull, currentFill, capacity, keyLower: node.keyValue.toLowerCase() };
}

/** Keys in their natural order (numeric when all are integers; the backend sends them in text order). */
export function indexTree(input: readonly LevelOneNode[], pool: PoolNode | null = null): TreeIndex {
  const nodes = sortByKey(input, (node) => node.keyValue);
  const poolNode: LevelOneNode | null = pool && {
    keyValue: POOL_KEY,
    partition: pool.partition,
    rows: pool.rows,
    currentBucketId: pool.currentBucketId,
    buckets: pool.buckets,
    state: 'active',
    bucketLimit: null,
    pooled: false,
  };
  return {
    nodes,
    summaries: nodes.map(summarize),
    pool: poolNode && pool ? { node: poolNode, summary: summarize(poolNode), pool } : null,
  };
}

export interface PartitionRow {
  kind: 'partition';
  id: string;
  node: LevelOneNode;
  summary: LevelOneSummary;
  expanded: boolean;
  /** The row of the pool of small keys (node.keyValue is POOL_KEY), or null for a key's row. */
  pool: PoolNode | null;
}

export interface BucketRow {
  kind: 'bucket';
  id: string;
  parentKey: string;
  bucket: BucketNode;
  fill: number;
  current: boolean;
}

export type TreeRow = PartitionRow | BucketRow;

export const partitionRowId = (keyValue: string) => `p:${keyValue}`;

/** What a level-1 row can be ordered by: the columns of the tree. */
export type TreeSortColumn = 'key' | 'buckets' | 'rows' | 'size' | 'fill';
export interface TreeSort {
  column: TreeSortColumn;
  direction: 'asc' | 'desc';
}

/** Bytes of each key (by index in `index.nodes`) from the bytes of its leaves. */
export function keyBytes(index: TreeIndex, leafBytes: Readonly<Record<string, number>>): Float64Array {
  const bytes = new Float64Array(index.nodes.length);
  index.nodes.forEach((node, i) => {
    let sum = 0;
    for (const bucket of node.buckets) sum += leafBytes[bucket.leaf] ?? 0;
    bytes[i] = sum;
  });
  return bytes;
}

/**
 * The keys (indexes into `index.nodes`) in the order of a column; ties keep
 * key order. Sizes are needed for the size column (null while measured: key order).
 */
export function orderKeys(index: TreeIndex, sort: TreeSort, bytes: Float64Array | null): number[] {
  const order = index.nodes.map((_, i) => i);
  const value: ((i: number) => number) | null =
    sort.column === 'buckets'
      ? (i) => index.nodes[i]!.buckets.length
      : sort.column === 'rows'
        ? (i) => index.nodes[i]!.rows
        : sort.column === 'fill'
          ? (i) => index.summaries[i]!.currentFill
          : sort.column === 'size' && bytes
            ? (i) => bytes[i]!
            : null;
  if (value === null) return sort.direction === 'asc' ? order : order.reverse();
  const factor = sort.direction === 'asc' ? 1 : -1;
  const values = order.map(value);
  return order.sort((a, b) => (values[a]! - values[b]!) * factor || a - b);
}

export interface FlattenOptions {
  /** Keys whose value contains this text (case-insensitive). */
  search?: string;
  /** Key order (indexes into `index.nodes`); default: key order. */
  order?: readonly number[];
  /** At most this many keys (after search and filter): the top N of the order. */
  limit?: number | null;
  /** Only buckets in this fill band (see `fillBand`), and only keys that have one, shown with those buckets. */
  band?: number | null;
}

/**
 * The visible rows: the keys in order, filtered, each followed by its buckets
 * when its key is in `expanded` (every key when filtering by fill band).
 */
export function flattenTree(
  index: TreeIndex,
  expanded: ReadonlySet<string>,
  options: FlattenOptions | string = {},
): TreeRow[] {
  const { search = '', order, limit = null, band = null } = typeof options === 'string' ? { search: options } : options;
  const needle = search.trim().toLowerCase();
  const rows: TreeRow[] = [];
  const { nodes, summaries } = index;
  const count = order ? order.length : nodes.length;
  let keys = 0;
  // The pool first: one level-1 partition, whatever the order of the keys, left out while searching keys.
  if (index.pool && needle === '') {
    const { node, summary, pool } = index.pool;
    const buckets =
      band === null ? node.buckets : node.buckets.filter((bucket) => fillBand(bucketFill(bucket)) === band);
    if (band === null || buckets.length > 0) {
      const isExpanded = band !== null || expanded.has(POOL_KEY);
      rows.push({ kind: 'partition', id: partitionRowId(POOL_KEY), node, summary, expanded: isExpanded, pool });
      if (isExpanded) pushBuckets(rows, node, buckets);
    }
  }
  for (let position = 0; position < count; position++) {
    if (limit !== null && keys >= limit) break;
    const i = order ? order[position]! : position;
    const node = nodes[i]!;
    const summary = summaries[i]!;
    if (needle !== '' && !summary.keyLower.includes(needle)) continue;
    const buckets =
      band === null ? node.buckets : node.buckets.filter((bucket) => fillBand(bucketFill(bucket)) === band);
    if (buckets.length === 0 && band !== null) continue;
    keys++;
    const isExpanded = band !== null || expanded.has(node.keyValue);
    rows.push({
      kind: 'partition',
      id: partitionRowId(node.keyValue),
      node,
      summary,
      expanded: isExpanded,
      pool: null,
    });
    if (isExpanded) pushBuckets(rows, node, buckets);
  }
  return rows;
}

function pushBuckets(rows: TreeRow[], node: LevelOneNode, buckets: readonly BucketNode[]): void {
  for (const bucket of buckets) {
    rows.push({
      kind: 'bucket',
      id: `b:${node.keyValue}:${bucket.bucketId}`,
      parentKey: node.keyValue,
      bucket,
      fill: bucketFill(bucket),
      current: bucket.bucketId === node.currentBucketId,
    });
  }
}

export interface TreeKeyResult {
  /** The row that is active afterwards. */
  active: number;
  /** Key values to expand or collapse. */
  expand?: string;
  collapse?: string;
}

/** The row of the level-1 partition that a row belongs to. */
export function parentIndex(rows: readonly TreeRow[], index: number): number {
  for (let i = index; i >= 0; i--) if (rows[i]!.kind === 'partition') return i;
  return 0;
}

/**
 * What a key press does in the tree (the WAI-ARIA tree pattern): arrows move,
 * Right or Enter expands (Right again steps into the buckets), Left collapses
 * or steps out to the parent. Returns null for keys the tree does not handle.
 */
export function treeKeyAction(
  rows: readonly TreeRow[],
  active: number,
  key: string,
  pageSize = 20,
): TreeKeyResult | null {
  if (rows.length === 0) return null;
  const last = rows.length - 1;
  const current = Math.min(Math.max(active, 0), last);
  const row = rows[current]!;
  switch (key) {
    case 'ArrowDown':
      return { active: Math.min(current + 1, last) };
    case 'ArrowUp':
      return { active: Math.max(current - 1, 0) };
    case 'Home':
      return { active: 0 };
    case 'End':
      return { active: last };
    case 'PageDown':
      return { active: Math.min(current + pageSize, last) };
    case 'PageUp':
      return { active: Math.max(current - pageSize, 0) };
    case 'ArrowRight':
      if (row.kind === 'bucket') return { active: current };
      if (!row.expanded) return row.node.buckets.length > 0 ? { active: current, expand: row.node.keyValue } : null;
      return { active: Math.min(current + 1, last) };
    case 'ArrowLeft':
      if (row.kind === 'bucket') return { active: parentIndex(rows, current) };
      return row.expanded ? { active: current, collapse: row.node.keyValue } : { active: current };
    case 'Enter':
    case ' ':
      if (row.kind === 'bucket') return { active: current };
      if (row.node.buckets.length === 0) return { active: current };
      return row.expanded
        ? { active: current, collapse: row.node.keyValue }
        : { active: current, expand: row.node.keyValue };
    default:
      return null;
  }
}
