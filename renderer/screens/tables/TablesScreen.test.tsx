// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
    expect(screen.getByTestId('table-count').textContent).toBe('40 of 40');
    await userEvent.type(screen.getByTestId('table-filter'), 'custom_module');
    await waitFor(() => expect(screen.getByTestId('table-count').textContent).toMatch(/^\d+ of 40$/));
    const names = screen.getAllByTestId('table-row').map((row) => row.dataset.table);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => name!.includes('custom_module'))).toBe(true);
    expect(tableRow('public.custom_module_data')!.textContent).toMatch(/\d+(\.\d+)? (KB|MB|GB|TB)/);
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
    fireEvent.keyDown(list, { key: 'ArrowDown' });
    fireEvent.keyDown(list, { key: 'Enter' });
    const detail = await screen.findByTestId('table-detail');
    // Sorted by size, largest first: Enter opened the second row.
    const second = [...tableSummaries()].sort((a, b) => b.totalBytes - a.totalBytes)[1]!;
    expect(detail.dataset.table).toBe(`${second.schema}.${second.name}`);
    expect(api.callsOf('tables.detail')).toEqual([
      { connectionId: 'sandbox', schema: second.schema, table: second.name },
    ]);
  });

  it('refuses tables Partwise manages already', async () => {
    renderWithApi(<TablesScreen />);
    await screen.findAllByTestId('table-row');
    await userEvent.type(screen.getByTestId('table-filter'), 'public.orders');
    await userEvent.click(tableRow('public.orders')!);
    expect((await screen.findByTestId('table-blocked')).textContent).toMatch(/manages this table already/);
    expect((screen.getByTestId('add-target') as HTMLButtonElement).disabled).toBe(true);
  });
});
