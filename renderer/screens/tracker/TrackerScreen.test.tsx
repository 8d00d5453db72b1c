// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TrackerScreen } from './TrackerScreen';
import { parseAheadPercent } from './MaintenancePanel';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { useUi } from '../../state/ui';
import { managedTables, trackerRows } from '../../testing/fixtures';

let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout()));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'tracker' });
});
afterEach(cleanup);

describe('parseAheadPercent', () => {
  it('accepts 1-100 as a fraction', () => {
    expect(parseAheadPercent('80')).toBe(0.8);
    expect(parseAheadPercent(' 100 ')).toBe(1);
    expect(parseAheadPercent('0')).toBeNull();
    expect(parseAheadPercent('101')).toBeNull();
    expect(parseAheadPercent('abc')).toBeNull();
  });
});

describe('Tracker screen', () => {
  it('lists tracker rows, virtualized and sortable', async () => {
    renderWithApi(<TrackerScreen />);
    const table = await screen.findByTestId('tracker-table');
    expect(table.dataset.rowCount).toBe('12000');
    const keys = () =>
      within(table)
        .getAllByTestId('tracker-row')
        .map((row) => row.dataset.key);
    await waitFor(() => expect(keys()[0]).toBe('1000'));
    await userEvent.click(within(table).getByTestId('tracker-table-sort-key'));
    await waitFor(() => expect(keys()[0]).toBe('12999'));
  });

  it('orders integer keys as numbers, negative ones included', async () => {
    const table = managedTables()[0]!;
    const rows = trackerRows(table, 5);
    const keyed = ['1000', '-5', '2', '-40', '10'].map((keyValue, i) => ({ ...rows[i]!, keyValue }));
    useUi.setState({ managedTable: { sandbox: table.configId } });
    renderWithApi(<TrackerScreen />, { handlers: { 'tracker.list': () => ({ table, rows: keyed }) } });
    const grid = await screen.findByTestId('tracker-table');
    const keys = () =>
      within(grid)
        .getAllByTestId('tracker-row')
        .map((row) => row.dataset.key);
    await waitFor(() => expect(keys()).toEqual(['-40', '-5', '2', '10', '1000']));
    await userEvent.click(within(grid).getByTestId('tracker-table-sort-key'));
    await waitFor(() => expect(keys()).toEqual(['1000', '10', '2', '-5', '-40']));
  });

  it('edits the bucket limit for buckets opened from now on', async () => {
    const { api } = renderWithApi(<TrackerScreen />);
    const input = (await screen.findByTestId('tracker-bucket-limit')) as HTMLInputElement;
    expect(input.value).toBe('1,000');
    expect(screen.getByTestId('bucket-limit-form').textContent).toContain('Applies to buckets opened from now on');
    await userEvent.clear(input);
    await userEvent.type(input, '1.5');
    expect(screen.getByTestId('tracker-bucket-limit-error').textContent).toMatch(/whole number/);
    await userEvent.clear(input);
    await userEvent.type(input, '5000');
    await userEvent.click(screen.getByTestId('tracker-bucket-limit-save'));
    await waitFor(() =>
      expect(api.callsOf('tracker.setBucketLimit')).toEqual([
        { connectionId: 'sandbox', configId: 1, bucketLimit: 5000 },
      ]),
    );
    // The editor is rebuilt with the new limit, and the confirmation survives it.
    await waitFor(() => expect((screen.getByTestId('tracker-bucket-limit') as HTMLInputElement).value).toBe('5,000'));
    expect(screen.getByTestId('bucket-limit-saved').textContent).toBe(
      'Bucket limit set to 5,000 rows for new buckets.',
    );
    // Typing again clears it.
    await userEvent.type(screen.getByTestId('tracker-bucket-limit'), '0');
    expect(screen.queryByTestId('bucket-limit-saved')).toBeNull();
  });

  it('runs maintenance with buckets ahead and shows the findings', async () => {
    const { api } = renderWithApi(<TrackerScreen />);
    await userEvent.click(await screen.findByTestId('maintenance-run'));
    const report = await screen.findByTestId('maintenance-report');
    expect(api.callsOf('maintenance.run')).toEqual([{ connectionId: 'sandbox', configId: 1, ahead: 0.8 }]);
    expect(report.textContent).toContain('2 over-full');
    expect(report.dataset.findings).toBe('5');
    // Sized to its five rows (header, rows and border), not a fixed box.
    expect(screen.getByTestId('maintenance-findings').style.height).toContain(`${32 + 5 * 30 + 2}px`);

    await userEvent.click(screen.getByTestId('maintenance-ahead'));
    await userEvent.click(screen.getByTestId('maintenance-run'));
    await waitFor(() =>
      expect(api.callsOf('maintenance.run')[1]).toEqual({ connectionId: 'sandbox', configId: 1, ahead: null }),
    );
  });

  it('shows a finding about the pool of small keys as the pool, not a key', async () => {
    renderWithApi(<TrackerScreen />, {
      handlers: {
        'maintenance.run': ({ configId }) => ({
          configId,
          keysChecked: 3,
          findings: [
            {
              keyValue: null,
              kind: 'created_ahead',
              bucketId: 4,
              leaf: 'custom_module_data_customer_id_shared_bucket_id_4',
              rows: 0,
              capacity: 500_000,
              detail: 'next pool bucket created ahead of need',
            },
          ],
        }),
      },
    });
    await userEvent.click(await screen.findByTestId('maintenance-run'));
    const row = await screen.findByTestId('finding-row');
    expect(row.dataset.key).toBe('pool');
    expect(within(row).getByTitle('The pool of small keys: the buckets all small keys share').textContent).toBe('pool');
    expect(row.textContent).toContain('next pool bucket created ahead of need');
  });

  it('says so when maintenance finds nothing', async () => {
    renderWithApi(<TrackerScreen />, {
      handlers: { 'maintenance.run': ({ configId }) => ({ configId, keysChecked: 12_000, findings: [] }) },
    });
    await userEvent.click(await screen.findByTestId('maintenance-run'));
    expect((await screen.findByTestId('maintenance-no-findings')).textContent).toContain('No findings');
    expect(screen.queryByTestId('maintenance-findings')).toBeNull();
  });

  it('offers finalize through the run that kept the backup', async () => {
    const { api } = renderWithApi(<TrackerScreen />);
    await userEvent.click(await screen.findByTestId('tracker-finalize'));
    const dialog = screen.getByTestId('run-finalize-dialog');
    expect(dialog.textContent).toContain('#2');
    await userEvent.click(within(dialog).getByTestId('confirm-acknowledge'));
    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.finalize')).toEqual([{ connectionId: 'sandbox', runId: 2 }]));
    await waitFor(() => expect(screen.queryByTestId('run-finalize-dialog')).toBeNull());
  });

  it('never traps the user in the finalize confirmation: Esc closes it while the request is under way', async () => {
    renderWithApi(<TrackerScreen />, { handlers: { 'runs.finalize': () => new Promise(() => undefined) } });
    await userEvent.click(await screen.findByTestId('tracker-finalize'));
    const dialog = screen.getByTestId('run-finalize-dialog');
    await userEvent.click(within(dialog).getByTestId('confirm-acknowledge'));
    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    expect(within(dialog).getByTestId('confirm-accept').textContent).toBe('Working…');
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByTestId('run-finalize-dialog')).toBeNull();
  });
});

describe('the live statements of a managed table', () => {
  it('reads them on request and lists the ones that read every leaf', async () => {
    const { api } = renderWithApi(<TrackerScreen />);
    const panel = await screen.findByTestId('live-workload');
    expect(api.callsOf('workload.live')).toEqual([]);
    await userEvent.click(within(panel).getByTestId('live-workload-read'));
    await waitFor(() => expect(within(panel).getAllByTestId('workload-statement')).toHaveLength(3));
    expect(api.callsOf('workload.live')).toEqual([{ connectionId: 'sandbox', configId: 1 }]);
    const statements = within(panel).getByTestId('workload-statements');
    expect(statements.dataset.phase).toBe('after');
    expect(statements.textContent).toContain('plans against, locks and reads all 31,870 leaves');
    expect(within(panel).getAllByTestId('workload-statement')[0]!.textContent).toContain('39 ms');
    // The statistics were reset before the table was migrated: the counts include the original table's.
    expect(within(panel).getByTestId('live-workload-reset').textContent).toContain('before this table was migrated');
    await userEvent.click(within(panel).getByTestId('live-workload-refresh'));
    await waitFor(() => expect(api.callsOf('workload.live')).toHaveLength(2));
  });
});
