// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExplorerScreen } from './ExplorerScreen';
import { TREE_ROW_HEIGHT } from './PartitionTreeView';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { formatBytes } from '../../lib/format';
import { useUi } from '../../state/ui';

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
});
