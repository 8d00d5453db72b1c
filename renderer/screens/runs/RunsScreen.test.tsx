// @vitest-environment jsdom
import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../shared/progress';
import { RunsScreen } from './RunsScreen';
import { connectRunEvents } from '../../api/run-events';
import { useRunProgress } from '../../state/run-progress';
import { useUi } from '../../state/ui';
import { createFakeApi, notAvailable } from '../../testing/fake-api';
import { renderWithApi, resetStores } from '../../testing/render';

const table = 'public.custom_module_data';
const at = new Date().toISOString();

beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'runs', monitoredRunId: 4 });
});
afterEach(cleanup);

function setup() {
  const api = createFakeApi();
  const stop = connectRunEvents(api, { ingest: (events) => useRunProgress.getState().ingest(events), flushEveryMs: 0 });
  const view = renderWithApi(<RunsScreen />, { api });
  const emit = (event: RunEvent) => act(() => api.emit('run.event', event));
  return { ...view, api, emit, stop };
}

describe('Runs screen', () => {
  it('shows live progress: phase stepper, done/total, rate, ETA, key, log', async () => {
    const { emit, stop } = setup();
    await emit({ type: 'phase', runId: 4, table, at, phase: 'prepare', message: 'Checking' });
    await emit({ type: 'phase', runId: 4, table, at, phase: 'copy', message: 'Copying rows' });
    await emit({
      type: 'progress',
      runId: 4,
      table,
      at,
      phase: 'copy',
      done: 73_100,
      total: 298_952,
      unit: 'rows',
      perSecond: 42_800,
      etaSeconds: 5.3,
      currentKey: '3329',
    });
    await emit({ type: 'log', runId: 4, table, at, level: 'warn', message: 'Key 3740 has 5 buckets' });
    await emit({ type: 'log', runId: 4, table, at, level: 'debug', message: 'lock_timeout = 5s' });

    const monitor = await screen.findByTestId('run-monitor');
    expect(within(monitor).getByTestId('run-status').dataset.status).toBe('running');
    const card = within(monitor).getByTestId('run-target');
    expect(within(card).getByTestId('progress-count').textContent).toBe('73,100 / 298,952 rows');
    expect(within(card).getByTestId('progress-rate').textContent).toContain('42,800 rows/s');
    expect(within(card).getByTestId('progress-eta').textContent).toContain('5 s');
    expect(within(card).getByTestId('progress-key').textContent).toContain('3329');
    expect(within(card).getByTestId('progress-bar').getAttribute('aria-valuenow')).toBe('24');
    const steps = within(card).getByTestId('phase-stepper').querySelectorAll('li');
    expect(
      Array.from(steps, (step) => `${step.getAttribute('data-phase')}:${step.getAttribute('data-state')}`).slice(0, 4),
    ).toEqual(['prepare:done', 'provision:done', 'copy:current', 'indexes:pending']);

    // Debug lines are hidden until asked for; levels filter the log.
    const lines = () =>
      within(monitor)
        .queryAllByTestId('log-line')
        .map((line) => line.dataset.level);
    expect(lines()).toEqual(['info', 'info', 'warn']);
    await userEvent.click(within(monitor).getByTestId('log-level-debug'));
    expect(lines()).toEqual(['info', 'info', 'warn', 'debug']);
    await userEvent.click(within(monitor).getByTestId('log-level-info'));
    expect(lines()).toEqual(['warn', 'debug']);
    await userEvent.type(within(monitor).getByTestId('log-filter'), 'lock');
    expect(lines()).toEqual(['debug']);

    await emit({
      type: 'finished',
      runId: 4,
      table,
      at,
      status: 'succeeded',
      message: 'Migrated public.custom_module_data',
    });
    await waitFor(() => expect(within(monitor).getByTestId('run-status').dataset.status).toBe('succeeded'));
    expect(within(monitor).getByTestId('run-finished-message').textContent).toContain('Migrated');
    expect(within(monitor).queryByTestId('run-cancel')).toBeNull();
    stop();
  });

  it('ignores the events of a run with the same number in another connection', async () => {
    const { emit, stop } = setup();
    const other = { runId: 4, table, at, connectionId: 'elsewhere' };
    await emit({ ...other, type: 'phase', phase: 'copy', message: 'Copying rows elsewhere' });
    await emit({ ...other, type: 'log', level: 'warn', message: 'Not this database' });
    await emit({ runId: 4, table, at, connectionId: 'sandbox', type: 'phase', phase: 'prepare', message: 'Checking' });
    const monitor = await screen.findByTestId('run-monitor');
    await waitFor(() => expect(within(monitor).getByTestId('run-target').dataset.phase).toBe('prepare'));
    expect(monitor.textContent).not.toContain('Not this database');
    expect(monitor.textContent).not.toContain('Copying rows elsewhere');
    await emit({ ...other, type: 'finished', status: 'failed', message: 'Failed elsewhere' });
    expect(within(monitor).getByTestId('run-status').dataset.status).toBe('running');
    stop();
  });

  it('cancels only after a confirmation that says what cancelling does', async () => {
    const { emit, api, stop } = setup();
    await emit({ type: 'phase', runId: 4, table, at, phase: 'copy', message: 'Copying rows' });
    await userEvent.click(await screen.findByTestId('run-cancel'));
    const dialog = screen.getByTestId('run-cancel-dialog');
    expect(dialog.textContent).toContain('Cancelling rolls back; the table stays as it was.');
    expect(api.callsOf('runs.cancel')).toHaveLength(0);
    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.cancel')).toEqual([{ connectionId: 'sandbox', runId: 4 }]));
    stop();
  });

  it('lists the history with the actions each run allows', async () => {
    useUi.setState({ monitoredRunId: null });
    const { api } = renderWithApi(<RunsScreen />);
    const rows = await screen.findAllByTestId('run-row');
    const byId = (id: string) => rows.find((row) => row.dataset.runId === id)!;
    expect(rows.map((row) => `${row.dataset.runId}:${row.dataset.status}`)).toEqual([
      '3:failed',
      '2:succeeded',
      '1:finalized',
    ]);
    expect(within(byId('3')).queryByTestId('run-resume')).toBeTruthy();
    expect(within(byId('3')).queryByTestId('run-rollback')).toBeTruthy();
    expect(within(byId('3')).queryByTestId('run-finalize')).toBeNull();
    expect(within(byId('1')).queryByTestId('run-rollback')).toBeNull();

    // Finalize needs the acknowledgement, because rollback is gone afterwards.
    await userEvent.click(within(byId('2')).getByTestId('run-finalize'));
    const dialog = screen.getByTestId('run-finalize-dialog');
    expect(dialog.textContent).toMatch(/rollback is no\s+longer possible/);
    const accept = within(dialog).getByTestId('confirm-accept') as HTMLButtonElement;
    expect(accept.disabled).toBe(true);
    await userEvent.click(within(dialog).getByTestId('confirm-acknowledge'));
    await userEvent.click(accept);
    await waitFor(() => expect(api.callsOf('runs.finalize')).toEqual([{ connectionId: 'sandbox', runId: 2 }]));
    expect(useUi.getState().monitoredRunId).toBe(2);
  });

  it('shows a service that is not available yet as an error with Retry', async () => {
    let available = false;
    const { api } = renderWithApi(<RunsScreen />, {
      handlers: {
        'runs.list': () => {
          if (!available) throw notAvailable('run');
          return [];
        },
      },
    });
    const error = await screen.findByTestId('error-state');
    expect(error.dataset.errorKind).toBe('blocked');
    expect(within(error).getByTestId('error-message').textContent).toBe(
      'This build does not include the run service yet.',
    );
    available = true;
    await userEvent.click(within(error).getByTestId('retry'));
    expect(await screen.findByTestId('runs-empty')).toBeTruthy();
    expect(api.callsOf('runs.list')).toHaveLength(2);
  });
});
