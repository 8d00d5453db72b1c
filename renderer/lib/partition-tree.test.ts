import { describe, expect, it } from 'vitest';
import type { LevelOneNode } from '../../shared/explorer';
import {
  flattenTree,
  indexTree,
  keyBytes,
  orderKeys,
  parentIndex,
  treeKeyAction,
  type TreeRow,
} from './partition-tree';

/** n keys; key i has (i % 4) + 1 buckets; the current bucket is the last one. */
function makeNodes(n: number, capacity = 1000): LevelOneNode[] {
  const nodes: LevelOneNode[] = [];
  for (let i = 0; i < n; i++) {
    const count = (i % 4) + 1;
    const buckets = Array.from({ length: count }, (_, b) => ({
      bucketId: b,
      leaf: `t_${i}_${b}`,
      assigned: b < count - 1 ? capacity : 250,
      rows: b < count - 1 ? capacity : 240,
      rowsExact: false,
      capacity,
    }));
    nodes.push({
      keyValue: String(i),
      partition: `t_${i}`,
      rows: 0,
      currentBucketId: count - 1,
      buckets,
      state: 'active',
      bucketLimit: null,
      pooled: false,
    });
  }
  return nodes;
}

const keysOf = (rows: TreeRow[]) =>
  rows.map((row) => (row.kind === 'partition' ? row.node.keyValue : `${row.parentKey}/${row.bucket.bucketId}`));

describe('flattenTree', () => {
  const nodes = makeNodes(10_000);
  const index = indexTree(nodes);

  it('shows one row per level-1 partition when nothing is expanded', () => {
    const rows = flattenTree(index, new Set());
    expect(rows).toHaveLength(10_000);
    expect(rows.every((row) => row.kind === 'partition' && !row.expanded)).toBe(true);
  });

  it('puts the buckets of an expanded key right after it', () => {
    const rows = flattenTree(index, new Set(['3', '9998']));
    // key 3 has 4 buckets, key 9998 has 3.
    expect(rows).toHaveLength(10_000 + 4 + 3);
    expect(keysOf(rows).slice(2, 9)).toEqual(['2', '3', '3/0', '3/1', '3/2', '3/3', '4']);
    const current = rows.filter((row) => row.kind === 'bucket' && row.current);
    expect(current.map((row) => (row.kind === 'bucket' ? `${row.parentKey}/${row.bucket.bucketId}` : ''))).toEqual([
      '3/3',
      '9998/2',
    ]);
  });

  it('expands every key of a large tree (25,000 buckets) in one pass', () => {
    const all = new Set(nodes.map((node) => node.keyValue));
    const rows = flattenTree(index, all);
    expect(rows).toHaveLength(10_000 + 25_000);
  });

  it('filters by key value, case-insensitively, and keeps expansion', () => {
    const named = indexTree([
      { ...nodes[1]!, keyValue: 'ACME-1' },
      { ...nodes[2]!, keyValue: 'acme-2' },
      { ...nodes[3]!, keyValue: 'globex' },
    ]);
    expect(keysOf(flattenTree(named, new Set(), ' acme'))).toEqual(['ACME-1', 'acme-2']);
    expect(keysOf(flattenTree(named, new Set(['acme-2']), 'ACME-2'))).toEqual([
      'acme-2',
      'acme-2/0',
      'acme-2/1',
      'acme-2/2',
    ]);
    expect(flattenTree(named, new Set(), 'initech')).toEqual([]);
  });

  it('finds "99" among 10,000 keys', () => {
    const rows = flattenTree(index, new Set(), '99');
    // 99, 199..999 step 100 (9 more... ) computed: every key containing "99".
    const expected = nodes.filter((node) => node.keyValue.includes('99')).length;
    expect(rows).toHaveLength(expected);
    expect(rows.length).toBeGreaterThan(100);
  });
});

describe('indexTree summaries', () => {
  it('counts over-full buckets and the current fill per key', () => {
    const nodes = makeNodes(2);
    nodes[1]!.buckets[0]!.assigned = 1300; // over-full
    const index = indexTree(nodes);
    expect(index.summaries[0]).toMatchObject({ overFull: 0, currentFill: 0.25, capacity: 1000 });
    expect(index.summaries[1]).toMatchObject({ overFull: 1, currentFill: 0.25, capacity: 2000 });
  });
});

describe('treeKeyAction', () => {
  const nodes = makeNodes(5);
  const index = indexTree(nodes);
  const collapsed = flattenTree(index, new Set());
  const expanded = flattenTree(index, new Set(['1'])); // 0, 1, 1/0, 1/1, 2, 3, 4

  it('moves with arrows, Home, End and pages, within bounds', () => {
    expect(treeKeyAction(collapsed, 0, 'ArrowDown')).toEqual({ active: 1 });
    expect(treeKeyAction(collapsed, 4, 'ArrowDown')).toEqual({ active: 4 });
    expect(treeKeyAction(collapsed, 0, 'ArrowUp')).toEqual({ active: 0 });
    expect(treeKeyAction(collapsed, 3, 'Home')).toEqual({ active: 0 });
    expect(treeKeyAction(collapsed, 0, 'End')).toEqual({ active: 4 });
    expect(treeKeyAction(collapsed, 0, 'PageDown', 3)).toEqual({ active: 3 });
    expect(treeKeyAction(collapsed, 4, 'PageUp', 3)).toEqual({ active: 1 });
  });

  it('expands with Right or Enter, then Right steps into the buckets', () => {
    expect(treeKeyAction(collapsed, 1, 'ArrowRight')).toEqual({ active: 1, expand: '1' });
    expect(treeKeyAction(collapsed, 1, 'Enter')).toEqual({ active: 1, expand: '1' });
    expect(treeKeyAction(expanded, 1, 'ArrowRight')).toEqual({ active: 2 });
  });

  it('collapses with Left or Enter, and Left on a bucket goes to its key', () => {
    expect(treeKeyAction(expanded, 1, 'ArrowLeft')).toEqual({ active: 1, collapse: '1' });
    expect(treeKeyAction(expanded, 1, 'Enter')).toEqual({ active: 1, collapse: '1' });
    expect(treeKeyAction(expanded, 3, 'ArrowLeft')).toEqual({ active: 1 });
    expect(parentIndex(expanded, 3)).toBe(1);
    expect(treeKeyAction(collapsed, 2, 'ArrowLeft')).toEqual({ active: 2 });
  });

  it('ignores other keys and empty trees', () => {
    expect(treeKeyAction(collapsed, 0, 'a')).toBeNull();
    expect(treeKeyAction([], 0, 'ArrowDown')).toBeNull();
  });
});

describe('indexTree', () => {
  it('orders integer keys numerically whatever order they arrive in', () => {
    const nodes = makeNodes(2001).reverse();
    const textOrder = [...nodes].sort((a, b) => (a.keyValue < b.keyValue ? -1 : 1));
    const keys = indexTree(textOrder).nodes.map((node) => node.keyValue);
    expect(keys.slice(0, 4)).toEqual(['0', '1', '2', '3']);
    expect(keys.slice(-3)).toEqual(['1998', '1999', '2000']);
  });

  it('orders other keys as text', () => {
    const nodes = makeNodes(3).map((node, i) => ({ ...node, keyValue: ['b', 'a10', 'a9'][i]! }));
    expect(indexTree(nodes).nodes.map((node) => node.keyValue)).toEqual(['a10', 'a9', 'b']);
  });
});

describe('ordering, top N and fill bands', () => {
  // Key i has (i % 4) + 1 buckets, all full but the last (25%): rows grow with the bucket count.
  const nodes = makeNodes(8).map((node) => ({ ...node, rows: node.buckets.reduce((sum, b) => sum + b.rows, 0) }));
  const index = indexTree(nodes);
  const keys = (order: number[]) => order.map((i) => index.nodes[i]!.keyValue);

  it('orders keys by a column, ties in key order, both ways', () => {
    expect(keys(orderKeys(index, { column: 'rows', direction: 'desc' }, null))).toEqual([
      '3',
      '7',
      '2',
      '6',
      '1',
      '5',
      '0',
      '4',
    ]);
    expect(keys(orderKeys(index, { column: 'buckets', direction: 'asc' }, null))).toEqual([
      '0',
      '4',
      '1',
      '5',
      '2',
      '6',
      '3',
      '7',
    ]);
    expect(keys(orderKeys(index, { column: 'key', direction: 'desc' }, null))).toEqual([
      '7',
      '6',
      '5',
      '4',
      '3',
      '2',
      '1',
      '0',
    ]);
  });

  it('orders by bytes once they are measured, and keeps key order before', () => {
    const leafBytes = Object.fromEntries(
      nodes.flatMap((node) => node.buckets.map((b) => [b.leaf, Number(node.keyValue)])),
    );
    const bytes = keyBytes(index, leafBytes);
    expect(Array.from(bytes)).toEqual([0, 2, 6, 12, 4, 10, 18, 28]);
    expect(keys(orderKeys(index, { column: 'size', direction: 'desc' }, bytes)).slice(0, 3)).toEqual(['7', '6', '3']);
    expect(keys(orderKeys(index, { column: 'size', direction: 'desc' }, null)).slice(0, 3)).toEqual(['7', '6', '5']);
  });

  it('shows the top N keys of the order, after the search', () => {
    const order = orderKeys(index, { column: 'rows', direction: 'desc' }, null);
    expect(keysOf(flattenTree(index, new Set(), { order, limit: 3 }))).toEqual(['3', '7', '2']);
    expect(keysOf(flattenTree(index, new Set(['7']), { order, limit: 2 }))).toEqual([
      '3',
      '7',
      '7/0',
      '7/1',
      '7/2',
      '7/3',
    ]);
  });

  it('shows only the buckets of a fill band, under every key that has one', () => {
    // 90-100%: the full buckets; 20-30%: each key's last bucket.
    expect(keysOf(flattenTree(index, new Set(), { band: 9 }))).toEqual([
      '1',
      '1/0',
      '2',
      '2/0',
      '2/1',
      '3',
      '3/0',
      '3/1',
      '3/2',
      '5',
      '5/0',
      '6',
      '6/0',
      '6/1',
      '7',
      '7/0',
      '7/1',
      '7/2',
    ]);
    expect(keysOf(flattenTree(index, new Set(), { band: 2, search: '4' }))).toEqual(['4', '4/0']);
    expect(flattenTree(index, new Set(), { band: 10 })).toEqual([]);
  });
});
