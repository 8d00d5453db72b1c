// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../api/transport';
import { formatBytes, formatNumber } from '../../lib/format';
import { TablesScreen } from './TablesScreen';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';
import { tableDetail, tableSummaries } from '../../testing/fixtures';

let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout()));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'tables' });
});
afterEach(cleanup);

const tableRow = (name: string) => screen.getAllByTestId('table-row').find((element) => element.dataset.table === name);

describe('Tables screen', () => {
  it('lists tables with estimates and human sizes, and filters them', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    expect(screen.getByTestId('table-count').textContent).toBe('42 of 42');
    await userEvent.type(screen.getByTestId('table-filter'), 'custom_module');
    await waitFor(() => expect(screen.getByTestId('table-count').textContent).toMatch(/^\d+ of 42$/));
    const names = screen.getAllByTestId('table-row').map((row) => row.dataset.table);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => name!.includes('custom_module'))).toBe(true);
    expect(tableRow('public.custom_module_data')!.textContent).toMatch(/\d+(\.\d+)? (kB|MB|GB|TB)/);
  });

  it('configures a target: key column, validated bucket limit, queue with removal', async () => {
    const { api } = renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'custom_module_data');
    await userEvent.click(tableRow('public.custom_module_data')!);
    const detail = await screen.findByTestId('table-detail');
    await within(detail).findByTestId('column-table');
    expect(api.callsOf('tables.detail')).toEqual([
      { connectionId: 'sandbox', schema: 'public', table: 'custom_module_data' },
    ]);

    // Unusable columns say why and cannot be picked.
    const id = within(detail)
      .getAllByTestId('column-row')
      .find((row) => row.dataset.column === 'id')!;
    expect(within(id).getByTestId('column-reason').textContent).toMatch(/Unique/);
    expect((within(id).getByTestId('key-radio') as HTMLInputElement).disabled).toBe(true);

    const add = within(detail).getByTestId('add-target') as HTMLButtonElement;
    expect(add.disabled).toBe(true); // no key column yet
    const limit = within(detail).getByTestId('bucket-limit') as HTMLInputElement;
    expect(limit.value).toBe('1,000,000'); // the suggested limit
    const key = within(detail)
      .getAllByTestId('column-row')
      .find((row) => row.dataset.column === 'customer_id')!;
    await userEvent.click(within(key).getByTestId('key-radio'));
    expect(add.disabled).toBe(false);

    await userEvent.clear(limit);
    await userEvent.type(limit, '0');
    expect(within(detail).getByTestId('bucket-limit-error').textContent).toMatch(/at least 1/);
    expect(add.disabled).toBe(true);
    await userEvent.clear(limit);
    await userEvent.type(limit, '250,000');
    expect(add.disabled).toBe(false);
    await userEvent.click(add);

    expect(useTargets.getState().byConnection.sandbox).toEqual([
      { schema: 'public', table: 'custom_module_data', keyColumn: 'customer_id', bucketLimit: 250_000 },
    ]);
    const queue = screen.getByTestId('target-queue');
    expect(
      within(queue)
        .getAllByTestId('target-item')
        .map((item) => item.dataset.table),
    ).toEqual(['public.custom_module_data']);
    await userEvent.click(within(queue).getByTestId('target-remove'));
    expect(useTargets.getState().byConnection.sandbox).toEqual([]);
  });

  it("suggests the chosen key's bucket limit, weighing the leaves it gives, and keeps a typed limit", async () => {
    const suggested = { customer_id: [2_000_000, 12_150], module_id: [5_000_000, 60] } as const;
    renderWithApi(<TablesScreen />, {
      handlers: {
        'tables.detail': ({ schema, table }) => {
          const detail = tableDetail(schema, table);
          return {
            ...detail,
            columns: detail.columns.map((column) =>
              column.name in suggested
                ? {
                    ...column,
                    suggestedBucketLimit: suggested[column.name as keyof typeof suggested][0],
                    suggestedLeaves: suggested[column.name as keyof typeof suggested][1],
                  }
                : column,
            ),
          };
        },
      },
    });
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'custom_module_data');
    await userEvent.click(tableRow('public.custom_module_data')!);
    const detail = await screen.findByTestId('table-detail');
    const limit = (await within(detail).findByTestId('bucket-limit')) as HTMLInputElement;
    const pick = (name: string) =>
      userEvent.click(
        within(
          within(detail)
            .getAllByTestId('column-row')
            .find((row) => row.dataset.column === name)!,
        ).getByTestId('key-radio'),
      );
    expect(limit.value).toBe('1,000,000');
    await pick('module_id');
    expect(limit.value).toBe('5,000,000');
    expect(within(detail).getByTestId('bucket-limit-suggestion').textContent).toContain('about 60 leaves');
    await pick('customer_id');
    expect(limit.value).toBe('2,000,000');
    await userEvent.clear(limit);
    await userEvent.type(limit, '250,000');
    await pick('module_id');
    expect(limit.value).toBe('250,000');
  });

  it('selects a table with the keyboard', async () => {
    const { api } = renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    const list = screen.getByTestId('table-list');
    list.focus();
    for (let i = 0; i < 4; i++) fireEvent.keyDown(list, { key: 'ArrowDown' });
    fireEvent.keyDown(list, { key: 'Enter' });
    const detail = await screen.findByTestId('table-detail');
    // Largest first, a managed table's parts under it: payments_2025, orders with its
    // partitioned table and backup, then sessions_2021 (larger than the backup).
    expect(
      screen
        .getAllByTestId('table-row')
        .slice(0, 5)
        .map((row) => row.dataset.table),
    ).toEqual([
      'billing.payments_2025',
      'public.orders',
      'public.orders_partitioned',
      'public.orders_backup',
      'public.sessions_2021',
    ]);
    expect(detail.dataset.table).toBe('public.sessions_2021');
    expect(api.callsOf('tables.detail')).toEqual([
      { connectionId: 'sandbox', schema: 'public', table: 'sessions_2021' },
    ]);
  });

  it('shows a managed table with its tree and its parts under it, whatever the order', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'orders_backup');
    // Filtering by one part shows the whole managed table.
    const listed = () => screen.getAllByTestId('table-row').map((row) => row.dataset.table);
    await waitFor(() =>
      expect(listed()).toEqual(['public.orders', 'public.orders_partitioned', 'public.orders_backup']),
    );
    await userEvent.clear(screen.getByTestId('table-filter'));
    await userEvent.type(screen.getByTestId('table-filter'), 'orders');
    for (const direction of ['desc', 'asc']) {
      const names = listed();
      const at = names.indexOf('public.orders');
      expect(names.slice(at, at + 3), direction).toEqual([
        'public.orders',
        'public.orders_partitioned',
        'public.orders_backup',
      ]);
      await userEvent.click(screen.getByTestId('table-list-sort-size'));
    }
    const orders = tableSummaries().find((table) => table.name === 'orders')!;
    const managed = tableRow('public.orders')!;
    expect(managed.dataset.managed).toBe('true');
    expect(managed.textContent).toContain(formatBytes(orders.totalBytes));
    expect(managed.textContent).toContain(formatNumber(orders.rowEstimate));
    expect(tableRow('public.orders_partitioned')!.querySelector('.badge')!.textContent).toBe('partitioned');
    expect(tableRow('public.orders_backup')!.querySelector('.badge')!.textContent).toBe('backup');
  });

  it('says what a managed table is, with no ANALYZE advice and no target form, and opens it in Explorer', async () => {
    const { api } = renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'public.orders');
    await userEvent.click(tableRow('public.orders')!);
    const detail = await screen.findByTestId('table-detail');
    expect(within(detail).getByTestId('managed-summary').textContent).toMatch(
      /Managed by Partwise\. orders is a routing view over orders_partitioned.*kept as orders_backup until the migration is finalized/,
    );
    expect(within(detail).getByTestId('managed-figures').textContent).toMatch(/Keys48.*Leaves130/);
    expect(within(detail).queryByTestId('not-analyzed')).toBeNull();
    expect(within(detail).queryByTestId('target-form')).toBeNull();
    expect(api.callsOf('tables.detail')).toEqual([]);
    await userEvent.click(within(detail).getByTestId('open-explorer'));
    expect(useUi.getState()).toMatchObject({ screen: 'explorer', managedTable: { sandbox: 2 } });
  });

  it('says whose part the backup is, and refuses it as a target', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'orders_backup');
    await userEvent.click(tableRow('public.orders_backup')!);
    const detail = await screen.findByTestId('table-detail');
    expect(within(detail).getByTestId('part-summary').textContent).toMatch(/Backup of orders: the original table/);
    expect(within(detail).queryByTestId('target-form')).toBeNull();
  });

  it('shows names whole on hover and copies them, without opening the row', async () => {
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText } });
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'orders_partitioned');
    const row = tableRow('public.orders_partitioned')!;
    expect(within(row).getByTestId('object-name').getAttribute('title')).toBe('orders_partitioned');
    await userEvent.click(within(row).getByTestId('copy-name'));
    expect(writeText).toHaveBeenCalledWith('orders_partitioned');
    expect(screen.queryByTestId('table-detail')).toBeNull();
  });

  it('does not call an unreachable server an empty database', async () => {
    renderWithApi(<TablesScreen />, {
      handlers: {
        'tables.list': () => {
          throw new ApiError({
            kind: 'connection',
            message: 'Nothing is listening on 127.0.0.1:55439 (connection refused).',
            detail: 'connect ECONNREFUSED 127.0.0.1:55439',
          });
        },
      },
    });
    expect((await screen.findByTestId('waiting-for-server')).textContent).toContain(
      'Nothing is listening on 127.0.0.1:55439 (connection refused).',
    );
    expect(screen.queryByTestId('tables-empty')).toBeNull();
    expect(screen.queryByText(/ECONNREFUSED/)).toBeNull();
  });

  it('names the schema once, in the header, when every table listed is in it', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'payments');
    expect(within(tableRow('billing.payments')!).getByTestId('object-name').textContent).toBe('billing.payments');
    await userEvent.selectOptions(screen.getByTestId('schema-filter'), 'billing');
    await waitFor(() => expect(screen.getByTestId('table-list-sort-name').textContent).toBe('Table (billing)'));
    expect(within(tableRow('billing.payments')!).getByTestId('object-name').textContent).toBe('payments');
    expect(within(tableRow('billing.payments')!).getByTestId('object-name').getAttribute('title')).toBe('payments');
  });

  it('refuses tables that are partitioned already', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'billing.payments');
    await userEvent.click(tableRow('billing.payments')!);
    expect((await screen.findByTestId('table-blocked')).textContent).toMatch(/partitioned already/);
    expect((screen.getByTestId('add-target') as HTMLButtonElement).disabled).toBe(true);
  });
});
