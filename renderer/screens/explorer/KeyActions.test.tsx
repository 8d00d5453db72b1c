// @vitest-environment jsdom
// Key actions in the Explorer: select keys, read the plan in the confirmation,
// confirm, see the result; the tree is asked for again without a refresh.
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyPlan } from '../../../shared/keys';
import { ExplorerScreen } from './ExplorerScreen';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { useUi } from '../../state/ui';
import * as fixtures from '../../testing/fixtures';

let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout(1200, 600)));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'explorer' });
});
afterEach(cleanup);

function plan(keyValue: string, action: KeyPlan['action']): KeyPlan {
  return {
    action,
    schema: 'public',
    table: 'custom_module_data',
    keyColumn: 'customer_id',
    keyValue,
    state: 'active',
    levelOne: `custom_module_data_customer_id_${keyValue}`,
    leaves: ['leaf_0', 'leaf_1'],
    rows: 12_345,
    rowsExact: true,
    bytes: 3 * 1024 * 1024,
    bucketLimit: null,
    serverMajor: 16,
    steps: [`drop custom_module_data_customer_id_${keyValue}`],
    ddl: [`DROP TABLE custom_module_data_customer_id_${keyValue}`],
    locks: [{ relation: `custom_module_data_customer_id_${keyValue}`, mode: 'ACCESS EXCLUSIVE', held: 'briefly' }],
    notes: [],
  };
}

/** Ticks the first key of the tree and opens the export's confirmation, its plan shown. */
async function openExportDialog(): Promise<HTMLElement> {
  await screen.findByTestId('partition-tree');
  await waitFor(() => expect(screen.queryAllByTestId('tree-select').length).toBeGreaterThan(0));
  await userEvent.click(screen.getAllByTestId('tree-select')[0]!);
  await userEvent.click(screen.getByTestId('key-action-export'));
  const dialog = await screen.findByTestId('key-action-dialog');
  await within(dialog).findByTestId('key-plan');
  return dialog;
}

describe('key actions', () => {
  it('drops the selected keys after a confirmation that names them with their rows and bytes', async () => {
    const { api } = renderWithApi(<ExplorerScreen />, {
      handlers: {
        'keys.plan': ({ keyValues, action }) => keyValues.map((key) => plan(key, action)),
        'keys.run': ({ keyValues, action }) =>
          keyValues.map((keyValue, i) => ({
            actionId: i + 1,
            action,
            schema: 'public',
            table: 'custom_module_data',
            keyValue,
            state: 'retired' as const,
            changed: true,
            message: `Key ${keyValue} of public.custom_module_data dropped: 12,345 rows, 3 MB deleted.`,
            rows: 12_345,
            bytes: 3 * 1024 * 1024,
            durationMs: 10,
          })),
      },
    });
    await screen.findByTestId('partition-tree');
    await waitFor(() => expect(screen.queryAllByTestId('tree-select').length).toBeGreaterThan(2));
    const boxes = screen.getAllByTestId('tree-select');
    await userEvent.click(boxes[0]!);
    await userEvent.click(boxes[1]!);
    // Ticking a key does not expand it.
    expect(screen.queryAllByTestId('tree-row').some((row) => row.dataset.kind === 'bucket')).toBe(false);
    expect(screen.getByTestId('key-selection').textContent).toBe('2 keys selected: 1000, 1001');

    await userEvent.click(screen.getByTestId('key-action-drop'));
    const dialog = await screen.findByTestId('key-action-dialog');
    await waitFor(() => expect(within(dialog).getAllByTestId('key-plan')).toHaveLength(2));
    expect(
      within(dialog)
        .getAllByTestId('key-plan-rows')
        .map((e) => e.textContent),
    ).toEqual(['12,345 rows', '12,345 rows']);
    expect(within(dialog).getAllByTestId('key-plan-bytes')[0]!.textContent).toBe('3 MB');
    expect(api.callsOf('keys.plan')).toEqual([
      {
        connectionId: 'sandbox',
        configId: 1,
        action: 'drop',
        keyValues: ['1000', '1001'],
        options: { onInsert: 'refuse' },
      },
    ]);
    const accept = within(dialog).getByTestId('confirm-accept');
    expect(accept).toHaveProperty('disabled', true);
    await userEvent.click(within(dialog).getByTestId('key-drop-recreate'));
    await userEvent.click(within(dialog).getByTestId('confirm-acknowledge'));
    await waitFor(() => expect(accept).toHaveProperty('disabled', false));
    const treeCalls = api.callsOf('explorer.tree').length;
    await userEvent.click(accept);
    expect((await within(dialog).findByTestId('key-action-results')).textContent).toContain(
      'Key 1000 of public.custom_module_data dropped',
    );
    expect(api.callsOf('keys.run')).toEqual([
      {
        connectionId: 'sandbox',
        configId: 1,
        action: 'drop',
        keyValues: ['1000', '1001'],
        options: { onInsert: 'recreate' },
      },
    ]);
    await waitFor(() => expect(api.callsOf('explorer.tree').length).toBeGreaterThan(treeCalls));
  });

  it('offers isolate and share for a table with a pool only, and isolates a pooled key; the tree is asked for again', async () => {
    const table = fixtures.managedTables()[0]!;
    let shared = false;
    const { api } = renderWithApi(<ExplorerScreen />, {
      handlers: {
        'explorer.tree': ({ exactCounts }) => {
          const tree = fixtures.partitionTree(table, 3, exactCounts);
          return shared ? fixtures.withPool(tree, 2, 3, exactCounts) : tree;
        },
        'keys.plan': ({ keyValues, action }) =>
          keyValues.map((key) => ({
            ...plan(key, action),
            levelOne: 'custom_module_data_customer_id_shared',
            steps: [`in one transaction: move the 40 rows of key ${key} into a partition of its own`],
          })),
        'keys.run': ({ keyValues, action }) =>
          keyValues.map((keyValue, i) => ({
            actionId: i + 1,
            action,
            schema: 'public',
            table: 'custom_module_data',
            keyValue,
            state: 'active' as const,
            changed: true,
            message: `Key ${keyValue} of public.custom_module_data isolated: 40 rows moved out of the pool.`,
            rows: 40,
            bytes: 4096,
            durationMs: 10,
          })),
      },
    });
    await screen.findByTestId('partition-tree');
    await waitFor(() => expect(screen.queryAllByTestId('tree-select').length).toBeGreaterThan(0));
    await userEvent.click(screen.getAllByTestId('tree-select')[0]!);
    expect(screen.queryByTestId('key-action-isolate')).toBeNull();
    expect(screen.queryByTestId('key-action-share')).toBeNull();
    await userEvent.click(screen.getByTestId('key-selection-clear'));

    shared = true;
    await userEvent.click(screen.getByTestId('tree-refresh'));
    await waitFor(() => expect(screen.queryAllByTestId('key-pooled').length).toBe(2));
    const pooledRow = screen.getAllByTestId('tree-row').find((row) => row.dataset.key === '9000')!;
    await userEvent.click(within(pooledRow).getByTestId('tree-select'));
    expect(screen.getByTestId('key-action-share')).toBeTruthy();
    await userEvent.click(screen.getByTestId('key-action-isolate'));
    const dialog = await screen.findByTestId('key-action-dialog');
    expect((await within(dialog).findByTestId('key-plan')).textContent).toContain(
      'in one transaction: move the 40 rows of key 9000 into a partition of its own',
    );
    const treeCalls = api.callsOf('explorer.tree').length;
    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    expect((await within(dialog).findByTestId('key-action-results')).textContent).toContain(
      'Key 9000 of public.custom_module_data isolated',
    );
    expect(api.callsOf('keys.run')).toEqual([
      { connectionId: 'sandbox', configId: 1, action: 'isolate', keyValues: ['9000'], options: {} },
    ]);
    await waitFor(() => expect(api.callsOf('explorer.tree').length).toBeGreaterThan(treeCalls));
  });

  it('asks for a full file path before an export', async () => {
    renderWithApi(<ExplorerScreen />, {
      handlers: { 'keys.plan': ({ keyValues, action }) => keyValues.map((key) => plan(key, action)) },
    });
    const dialog = await openExportDialog();
    expect(within(dialog).getByText('Give the full path of the file to write.')).toBeTruthy();
    await userEvent.type(within(dialog).getByTestId('key-export-path'), 'relative.csv');
    expect(within(dialog).getByTestId('confirm-accept')).toHaveProperty('disabled', true);
    await userEvent.clear(within(dialog).getByTestId('key-export-path'));
    await userEvent.type(within(dialog).getByTestId('key-export-path'), '/srv/exports/k.csv');
    expect(within(dialog).getByTestId('confirm-accept')).toHaveProperty('disabled', false);
  });

  it("chooses the file in the desktop app's save dialog and shows the export's progress while it runs", async () => {
    let finish: (() => void) | undefined;
    const { api } = renderWithApi(<ExplorerScreen />, {
      handlers: {
        'app.info': () => ({ version: '0.1.0', shell: 'electron', secretStorage: 'keychain' }),
        'files.chooseSavePath': ({ suggestedName }) => ({ path: `/home/me/Downloads/${suggestedName}` }),
        'keys.plan': ({ keyValues, action }) => keyValues.map((key) => plan(key, action)),
        'keys.run': ({ keyValues, action }) =>
          new Promise((resolve) => {
            finish = () =>
              resolve(
                keyValues.map((keyValue) => ({
                  actionId: 1,
                  action,
                  schema: 'public',
                  table: 'custom_module_data',
                  keyValue,
                  state: 'active' as const,
                  changed: true,
                  message: `Key ${keyValue} exported: 12,345 rows.`,
                  rows: 12_345,
                  bytes: 5 * 1024 * 1024,
                  durationMs: 10,
                })),
              );
          }),
      },
    });
    const dialog = await openExportDialog();
    await userEvent.click(await within(dialog).findByTestId('key-export-choose'));
    await waitFor(() =>
      expect(within(dialog).getByTestId('key-export-path')).toHaveProperty(
        'value',
        '/home/me/Downloads/custom_module_data-1000.csv',
      ),
    );
    expect(api.callsOf('files.chooseSavePath')).toEqual([{ suggestedName: 'custom_module_data-1000.csv' }]);

    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    expect((await within(dialog).findByTestId('key-action-progress')).textContent).toContain('Starting');
    const event = {
      connectionId: 'sandbox',
      configId: 1,
      action: 'export' as const,
      keyValue: '1000',
      position: 1,
      of: 1,
    };
    // Another table's progress is not this dialog's.
    api.emit('keys.progress', { ...event, configId: 2, progress: { step: 'exporting key 9', done: 1, unit: 'bytes' } });
    api.emit('keys.progress', {
      ...event,
      progress: { step: 'exporting key 1000', done: 3 * 1024 * 1024, total: null, unit: 'bytes' },
    });
    await waitFor(() =>
      expect(within(dialog).getByTestId('key-action-progress').textContent).toBe('exporting key 1000: 3 MB written'),
    );
    finish!();
    expect((await within(dialog).findByTestId('key-action-results')).textContent).toContain('Key 1000 exported');
    expect(within(dialog).queryByTestId('key-action-progress')).toBeNull();
  });

  it('has no save dialog in a browser: the path is typed', async () => {
    renderWithApi(<ExplorerScreen />, {
      handlers: { 'keys.plan': ({ keyValues, action }) => keyValues.map((key) => plan(key, action)) },
    });
    const dialog = await openExportDialog();
    expect(within(dialog).queryByTestId('key-export-choose')).toBeNull();
  });

  it('moves a key to a tablespace chosen from those the plan lists', async () => {
    const { api } = renderWithApi(<ExplorerScreen />, {
      handlers: {
        'keys.plan': ({ keyValues, action, options }) =>
          keyValues.map((key) => ({
            ...plan(key, action),
            steps: options.tablespace ? [`move 2 leaves of key ${key} to ${options.tablespace}`] : [],
            tablespaces: ['cold_disk', 'pg_default'],
          })),
        'keys.run': ({ keyValues, action }) =>
          keyValues.map((keyValue) => ({
            actionId: 1,
            action,
            schema: 'public',
            table: 'custom_module_data',
            keyValue,
            state: 'active' as const,
            changed: true,
            message: `Key ${keyValue} of public.custom_module_data moved to tablespace cold_disk: 2 leaves (3 MB) rewritten there.`,
            rows: 12_345,
            bytes: 3 * 1024 * 1024,
            durationMs: 10,
          })),
      },
    });
    await screen.findByTestId('partition-tree');
    await waitFor(() => expect(screen.queryAllByTestId('tree-select').length).toBeGreaterThan(0));
    await userEvent.click(screen.getAllByTestId('tree-select')[0]!);
    await userEvent.click(screen.getByTestId('key-action-move'));
    const dialog = await screen.findByTestId('key-action-dialog');
    await within(dialog).findByTestId('key-plan');
    expect(within(dialog).getByText('Choose a tablespace.')).toBeTruthy();
    const picker = within(dialog).getByTestId('key-move-tablespace');
    await waitFor(() =>
      expect([...picker.querySelectorAll('option')].map((o) => o.textContent)).toEqual([
        'Choose…',
        'cold_disk',
        'pg_default',
      ]),
    );
    await userEvent.selectOptions(picker, 'cold_disk');
    expect(await within(dialog).findByText('move 2 leaves of key 1000 to cold_disk')).toBeTruthy();
    const accept = within(dialog).getByTestId('confirm-accept');
    await waitFor(() => expect(accept).toHaveProperty('disabled', false));
    await userEvent.click(accept);
    expect((await within(dialog).findByTestId('key-action-results')).textContent).toContain(
      'moved to tablespace cold_disk',
    );
    expect(api.callsOf('keys.run')).toEqual([
      {
        connectionId: 'sandbox',
        configId: 1,
        action: 'move',
        keyValues: ['1000'],
        options: { tablespace: 'cold_disk' },
      },
    ]);
  });
});
