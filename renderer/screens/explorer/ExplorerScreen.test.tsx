// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExplorerScreen } from './ExplorerScreen';
import { TREE_ROW_HEIGHT } from './PartitionTreeView';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { formatBytes } from '../../lib/format';
import { useUi } from '../../state/ui';
import * as fixtures from '../../testing/fixtures';

const VIEW_HEIGHT = 600;
let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout(1200, VIEW_HEIGHT)));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'explorer' });
});
afterEach(cleanup);

const rows = () => screen.queryAllByTestId('tree-row');

describe('Explorer', () => {
  it('renders only the rows in view of a 12,000-key tree', async () => {
    const { api } = renderWithApi(<ExplorerScreen />);
    const tree = await screen.findByTestId('partition-tree');
    expect(tree.dataset.rowCount).toBe('12000');
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    // The viewport holds about 20 rows; with overscan still far below 12,000.
    expect(rows().length).toBeLessThan(VIEW_HEIGHT / TREE_ROW_HEIGHT + 40);
    expect(rows()[0]!.dataset.key).toBe('1000');
    expect(api.callsOf('explorer.tree')).toEqual([{ connectionId: 'sandbox', configId: 1, exactCounts: false }]);
    expect(screen.getByTestId('tree-totals').textContent).toContain('12,000');
  });

  it('expands and collapses with the keyboard', async () => {
    renderWithApi(<ExplorerScreen />);
    const tree = await screen.findByTestId('partition-tree');
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    tree.focus();
    fireEvent.keyDown(tree, { key: 'ArrowDown' }); // key 1001
    fireEvent.keyDown(tree, { key: 'ArrowRight' }); // expand it
    await waitFor(() => expect(rows().some((row) => row.dataset.kind === 'bucket')).toBe(true));
    const buckets = rows().filter((row) => row.dataset.kind === 'bucket');
    expect(buckets.every((row) => row.dataset.key === '1001')).toBe(true);
    expect(rows()[1]!.getAttribute('aria-expanded')).toBe('true');
    // Each bucket has a fill bar with its level.
    const bar = within(buckets[0]!).getByTestId('fill-bar');
    expect(['low', 'mid', 'high', 'full', 'over', 'empty']).toContain(bar.dataset.fillLevel);

    fireEvent.keyDown(tree, { key: 'ArrowRight' }); // into the first bucket
    fireEvent.keyDown(tree, { key: 'ArrowLeft' }); // back to the key
    fireEvent.keyDown(tree, { key: 'ArrowLeft' }); // collapse
    await waitFor(() => expect(rows().some((row) => row.dataset.kind === 'bucket')).toBe(false));
    expect(tree.getAttribute('aria-activedescendant')).toBe('tree-row-1');
  });

  it('searches by key value and flags over-full buckets', async () => {
    renderWithApi(<ExplorerScreen />);
    await screen.findByTestId('partition-tree');
    await userEvent.type(screen.getByTestId('tree-search'), '1013');
    // Keys 1000..12999 that contain "1013": 1013, 10130-10139 and 11013.
    await waitFor(() => expect(screen.getByTestId('partition-tree').dataset.rowCount).toBe('12'));
    expect(rows().map((row) => row.dataset.key)).toEqual([
      '1013',
      ...Array.from({ length: 10 }, (_, i) => `1013${i}`),
      '11013',
    ]);
    expect(screen.getByTestId('tree-matches').textContent).toBe('12 of 12,000 keys match');
    // Key 1013 has an over-full first bucket in the fixtures.
    const first = rows()[0]!;
    expect(within(first).getByTestId('over-full-flag').textContent).toContain('1 over-full');
    await userEvent.click(first);
    const over = await waitFor(() => {
      const bucket = rows().find((row) => row.dataset.kind === 'bucket' && row.dataset.bucketId === '0');
      if (!bucket) throw new Error('bucket 0 not shown yet');
      return bucket;
    });
    expect(within(over).getByTestId('fill-bar').dataset.fillLevel).toBe('over');
    await userEvent.clear(screen.getByTestId('tree-search'));
    await userEvent.type(screen.getByTestId('tree-search'), 'no such key');
    expect(await screen.findByTestId('tree-no-match')).toBeTruthy();
  });

  it('shows the tree first, then asks for the sizes and fills them in', async () => {
    let answerSizes: () => void = () => undefined;
    const sizesAsked = new Promise<void>((resolve) => (answerSizes = resolve));
    const { api } = renderWithApi(<ExplorerScreen />, {
      handlers: {
        'explorer.leafSizes': async ({ configId }) => {
          await sizesAsked;
          return {
            configId,
            bytes: { custom_module_data_customer_id_1000_bucket_id_0: 3 * 1024 * 1024 },
            totalBytes: 5 * 1024 ** 3,
          };
        },
      },
    });
    await screen.findByTestId('partition-tree');
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    expect(screen.getByTestId('tree-total-size').textContent).toBe('measuring sizes…');
    expect(within(rows()[0]!).getByTitle('Measuring sizes…')).toBeTruthy();
    await waitFor(() => expect(api.callsOf('explorer.leafSizes')).toEqual([{ connectionId: 'sandbox', configId: 1 }]));
    answerSizes();
    await waitFor(() => expect(screen.getByTestId('tree-total-size').textContent).toBe(formatBytes(5 * 1024 ** 3)));
    // Key 1000's bytes are the sum of its leaves' (the others are not in this answer).
    expect(rows()[0]!.textContent).toContain(formatBytes(3 * 1024 * 1024));
  });

  it('says so when the sizes cannot be measured, and keeps the tree', async () => {
    renderWithApi(<ExplorerScreen />, {
      handlers: {
        'explorer.leafSizes': () => {
          throw new Error('permission denied for table custom_module_data_customer_id_1000_bucket_id_0');
        },
      },
    });
    await waitFor(() => expect(screen.getByTestId('tree-total-size').textContent).toBe('sizes unavailable'));
    expect(within(rows()[0]!).getByTitle('Sizes unavailable').textContent).toBe('—');
    expect(screen.getByTestId('partition-tree').dataset.rowCount).toBe('12000');
  });

  it('asks for exact counts only when switched on', async () => {
    const { api } = renderWithApi(<ExplorerScreen />);
    await screen.findByTestId('partition-tree');
    await userEvent.click(screen.getByTestId('tree-exact'));
    await waitFor(() => expect(api.callsOf('explorer.tree')).toHaveLength(2));
    expect(api.callsOf('explorer.tree')[1]).toMatchObject({ exactCounts: true });
  });

  it('says what to do when no table is managed yet', async () => {
    renderWithApi(<ExplorerScreen />, { handlers: { 'managed.list': () => [] } });
    expect((await screen.findByTestId('managed-empty')).textContent).toContain('No table is managed by Partwise yet');
  });

  it('keeps the buckets column for counts of buckets, and says once how rows are obtained', async () => {
    renderWithApi(<ExplorerScreen />);
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    expect(screen.getByTestId('tree-sort-rows').textContent).toBe('Rows (est.)');
    expect(screen.getByTestId('tree-how').textContent).toMatch(/estimates from statistics/);
    await userEvent.click(rows()[0]!);
    await waitFor(() => expect(rows().some((row) => row.dataset.kind === 'bucket')).toBe(true));
    const buckets = rows().filter((row) => row.dataset.kind === 'bucket');
    // Bucket rows leave the buckets column empty (it used to show tickets there).
    expect(buckets.every((row) => within(row).getByTestId('bucket-count').textContent === '')).toBe(true);
    expect(within(rows()[0]!).getByTestId('bucket-count').textContent).toBe(String(buckets.length));
    // No row carries its own "est." marker: the header says it for all.
    expect(rows().some((row) => /est\./.test(row.textContent ?? ''))).toBe(false);
    await userEvent.click(screen.getByTestId('tree-exact'));
    await waitFor(() => expect(screen.getByTestId('tree-sort-rows').textContent).toBe('Rows (counted)'));
  });

  it('sorts keys by rows, size and fill, and shows the top N', async () => {
    const { api } = renderWithApi(<ExplorerScreen />);
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    const tree = (await api.invoke('explorer.tree', { connectionId: 'sandbox', configId: 1 })).levelOne;
    const byRows = [...tree].sort((a, b) => b.rows - a.rows);
    await userEvent.click(screen.getByTestId('tree-sort-rows'));
    await waitFor(() => expect(rows()[0]!.dataset.key).toBe(byRows[0]!.keyValue), { timeout: 3000 });
    expect(screen.getByTestId('tree-sort-rows').closest('[role="columnheader"]')!.getAttribute('aria-sort')).toBe(
      'descending',
    );
    await userEvent.click(screen.getByTestId('tree-sort-rows'));
    // Ascending: the fewest rows first (ties in key order).
    const byKey = new Map(tree.map((node) => [node.keyValue, node.rows]));
    const rowsOf = (key: string) => byKey.get(key)!;
    await waitFor(() => expect(rowsOf(rows()[0]!.dataset.key!)).toBe(byRows.at(-1)!.rows));
    expect(rowsOf(rows()[1]!.dataset.key!)).toBeLessThanOrEqual(rowsOf(rows()[2]!.dataset.key!));

    await userEvent.selectOptions(screen.getByTestId('tree-top'), '20');
    await waitFor(() => expect(screen.getByTestId('partition-tree').dataset.rowCount).toBe('20'));
    expect(screen.getByTestId('tree-matches').textContent).toBe('20 of 12,000 keys shown');

    // Size waits for the sizes; then the largest key comes first.
    await waitFor(() => expect(screen.getByTestId('tree-total-size').querySelector('strong')).not.toBeNull());
    await userEvent.click(screen.getByTestId('tree-sort-size'));
    const sizes = await api.invoke('explorer.leafSizes', { connectionId: 'sandbox', configId: 1 });
    const bytesOf = (node: (typeof tree)[number]) => node.buckets.reduce((sum, b) => sum + sizes.bytes[b.leaf]!, 0);
    const largest = tree.reduce((best, node) => (bytesOf(node) > bytesOf(best) ? node : best));
    await waitFor(() => expect(rows()[0]!.dataset.key).toBe(largest.keyValue));
    expect(screen.getByTestId('partition-tree').dataset.rowCount).toBe('20');
  });

  it('opens on the buckets of one fill band when the Sizes screen asks, and on one key', async () => {
    useUi.setState({ explorerFocus: { connectionId: 'sandbox', configId: 1, band: 10 } });
    const { api } = renderWithApi(<ExplorerScreen />);
    const tree = (await api.invoke('explorer.tree', { connectionId: 'sandbox', configId: 1 })).levelOne;
    const overKeys = tree.filter((node) => node.buckets.some((b) => b.assigned > b.capacity));
    expect(overKeys.length).toBeGreaterThan(3);
    await waitFor(() =>
      expect(screen.getByTestId('tree-band-filter').textContent).toContain(
        `Buckets over 100% full: ${overKeys.length} buckets in ${overKeys.length} keys`,
      ),
    );
    expect(rows().filter((row) => row.dataset.kind === 'bucket')).toHaveLength(overKeys.length);
    expect(
      rows()
        .filter((row) => row.dataset.kind === 'bucket')
        .every((row) => within(row).getByTestId('fill-bar').dataset.fillLevel === 'over'),
    ).toBe(true);
    expect(useUi.getState().explorerFocus).toBeNull();
    await userEvent.click(screen.getByTestId('tree-band-clear'));
    await waitFor(() => expect(screen.getByTestId('partition-tree').dataset.rowCount).toBe('12000'));
    cleanup();

    useUi.setState({ explorerFocus: { connectionId: 'sandbox', configId: 1, key: '1037' } });
    renderWithApi(<ExplorerScreen />);
    await waitFor(() => expect(rows()[0]?.dataset.key).toBe('1037'));
    expect((screen.getByTestId('tree-search') as HTMLInputElement).value).toBe('1037');
    expect(rows()[0]!.getAttribute('aria-expanded')).toBe('true');
    expect(rows()[1]!.dataset.kind).toBe('bucket');
  });

  it('shows leaf names by their distinguishing end, whole on hover', async () => {
    renderWithApi(<ExplorerScreen />);
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await userEvent.click(rows()[0]!);
    const bucket = await waitFor(() => rows().find((row) => row.dataset.kind === 'bucket')!);
    const name = within(bucket).getByTestId('object-name');
    expect(name.getAttribute('title')).toBe('custom_module_data_customer_id_1000_bucket_id_0');
    // The part that differs from leaf to leaf (key and bucket) is in the tail, which is cut last.
    expect(name.querySelector('.object-name-tail')!.textContent).toMatch(/_1000_bucket_id_0$/);
  });

  it('shows the pool of small keys as one level-1 partition with its buckets, and where each pooled key lives', async () => {
    const table = fixtures.managedTables()[0]!;
    renderWithApi(<ExplorerScreen />, {
      handlers: {
        'explorer.tree': ({ exactCounts }) =>
          fixtures.withPool(fixtures.partitionTree(table, 3, exactCounts), 2, 3, exactCounts),
      },
    });
    await screen.findByTestId('partition-tree');
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    // The pool first, then the keys in order: three with partitions of their own, two pooled.
    expect(rows().map((row) => row.dataset.key)).toEqual(['pool', '1000', '1001', '1002', '9000', '9001']);
    const pool = rows()[0]!;
    expect(within(pool).getByTestId('pool-label').textContent).toBe('shared (2 keys)');
    expect(within(pool).queryByTestId('tree-select')).toBeNull();
    expect(within(pool).getByTestId('bucket-count').textContent).toBe('3');
    // One level-1 partition more than the keys of their own, and the pool's leaves.
    expect(screen.getByTestId('tree-totals').textContent).toContain('4 level-1 partitions');
    const pooled = rows().find((row) => row.dataset.key === '9000')!;
    expect(within(pooled).getByTestId('key-pooled').textContent).toBe('in pool');
    expect(pooled.textContent).toContain('custom_module_data_customer_id_shared');
    expect(within(pooled).getByTitle('Rows of a pooled key are counted with Exact counts').textContent).toBe('—');
    expect(within(pooled).getByTestId('tree-select')).toBeTruthy();
    // The pool opens on its buckets, the current one marked.
    await userEvent.click(pool);
    await waitFor(() => expect(rows().filter((row) => row.dataset.kind === 'bucket')).toHaveLength(3));
    const buckets = rows().filter((row) => row.dataset.kind === 'bucket');
    expect(buckets.every((row) => row.dataset.key === 'pool')).toBe(true);
    expect(within(buckets[2]!).getByText('current')).toBeTruthy();
    expect(buckets[0]!.textContent).toContain('custom_module_data_customer_id_shared_bucket_id_0');
  });
});
