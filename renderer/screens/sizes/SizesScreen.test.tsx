// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SizesScreen } from './SizesScreen';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { managedTables, sizes } from '../../testing/fixtures';
import { formatBytes } from '../../lib/format';
import { useUi } from '../../state/ui';

let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout()));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'sizes' });
});
afterEach(cleanup);

describe('Sizes screen', () => {
  it('puts the partitioned tree beside the original table it replaced', async () => {
    renderWithApi(<SizesScreen />);
    const compare = await screen.findByTestId('size-compare', {}, { timeout: 5000 });
    const report = sizes(managedTables()[0]!);
    const tree = report.tableBytes + report.indexBytes + report.toastBytes;
    expect(compare.querySelector('[data-part="original"]')!.textContent).toContain('custom_module_data_backup');
    expect(compare.querySelector('[data-part="original"]')!.textContent).toContain(formatBytes(report.backup!.bytes));
    expect(compare.querySelector('[data-part="tree"]')!.textContent).toContain(formatBytes(tree));
    expect(within(compare).getByTestId('size-change').textContent).toMatch(
      /^The tree takes \d+% more than the original/,
    );
  });

  it('says why there is nothing to compare with once the backup is dropped', async () => {
    useUi.setState({ managedTable: { sandbox: 2 } });
    renderWithApi(<SizesScreen />);
    await waitFor(() =>
      expect(screen.getByTestId('size-compare').textContent).toBe(
        'No original table to compare with: its backup was dropped when the migration was finalized.',
      ),
    );
  });
});
