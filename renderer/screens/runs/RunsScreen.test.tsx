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
import { runs, runSteps } from '../../testing/fixtures';
import type { RunSummary } from '../../../shared/runs';
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
    // The bar is the table's whole migration: prepare and provision behind it, a quarter of the copy done.
    expect(within(card).getByTestId('progress-bar').getAttribute('aria-valuenow')).toBe('19');
    expect(within(card).getByTestId('progress-phase').textContent).toBe('Copy');
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

  it('never moves the bar back between phases, and shows no rate before one is measured', async () => {
    const { emit, stop } = setup();
    const report = (phase: 'copy' | 'indexes', done: number, total: number, perSecond: number | null) =>
      emit({
        type: 'progress',
        runId: 4,
        table,
        at,
        phase,
        done,
        total,
        unit: phase === 'copy' ? 'rows' : 'indexes',
        perSecond,
        etaSeconds: null,
      });
    await emit({ type: 'phase', runId: 4, table, at, phase: 'copy', message: 'Copying rows' });
    await report('copy', 0, 3_428_880, null);
    const card = await screen.findByTestId('run-target');
    const bar = () => Number(within(card).getByTestId('progress-bar').getAttribute('aria-valuenow'));
    expect(within(card).getByTestId('progress-count').textContent).toBe('0 / 3,428,880 rows');
    expect(within(card).getByTestId('progress-rate').textContent).toBe('rate —');
    await report('copy', 3_428_880, 3_428_880, 512_000);
    const copied = bar();
    expect(within(card).getByTestId('progress-rate').textContent).toContain('512,000 rows/s');
    // The next phase starts: its own figures, labelled, and the bar stays where it was.
    await emit({ type: 'phase', runId: 4, table, at, phase: 'indexes', message: 'Building indexes' });
    expect(bar()).toBe(copied);
    // No figures of the copy under the name of the indexes.
    expect(within(card).queryByTestId('progress-count')).toBeNull();
    await report('indexes', 0, 646, null);
    expect(within(card).getByTestId('progress-phase').textContent).toBe('Indexes');
    expect(within(card).getByTestId('progress-count').textContent).toBe('0 / 646 indexes');
    expect(within(card).getByTestId('progress-rate').textContent).toBe('rate —');
    expect(bar()).toBe(copied);
    await report('indexes', 323, 646, 300);
    expect(bar()).toBeGreaterThan(copied);
    expect(within(card).queryByTestId('progress-pending')).toBeNull();
    // Catch-up: the apply rate, and the changes still pending while the application adds more.
    await emit({ type: 'phase', runId: 4, table, at, phase: 'catch_up', message: 'Applying changes' });
    await emit({
      type: 'progress',
      runId: 4,
      table,
      at,
      phase: 'catch_up',
      done: 120_000,
      total: 132_500,
      unit: 'changes',
      perSecond: 21_000,
      etaSeconds: 1,
      pending: 12_500,
    });
    expect(within(card).getByTestId('progress-rate').textContent).toContain('21,000 changes/s');
    expect(within(card).getByTestId('progress-pending').textContent).toBe('pending 12,500 changes');
    stop();
  });

  it('says why a throttled run waits while it does, and nothing once it goes on', async () => {
    const { emit, stop } = setup();
    await emit({ type: 'phase', runId: 4, table, at, phase: 'copy', message: 'Copying rows' });
    const report = (paused?: string) =>
      emit({
        type: 'progress',
        runId: 4,
        table,
        at,
        phase: 'copy',
        done: 10,
        total: 100,
        unit: 'rows',
        perSecond: 5,
        etaSeconds: 18,
        paused,
      });
    await report('standby replica1 lag 12 MB > 8 MB');
    const card = within(await screen.findByTestId('run-monitor')).getByTestId('run-target');
    expect(within(card).getByTestId('progress-paused').textContent).toBe('paused: standby replica1 lag 12 MB > 8 MB');
    await report();
    expect(within(card).queryByTestId('progress-paused')).toBeNull();
    stop();
  });

  it('says a cancel once, as the choice of the user: no error anywhere', async () => {
    const { emit, stop } = setup();
    await emit({ type: 'phase', runId: 4, table, at, phase: 'copy', message: 'Copying rows' });
    await emit({ type: 'phase', runId: 4, table, at, phase: 'rollback', message: `rolling back ${table}` });
    const message = `Run 4 cancelled, rolled back: ${table} is as it was`;
    await emit({ type: 'finished', runId: 4, at, status: 'cancelled', message });
    const monitor = await screen.findByTestId('run-monitor');
    await waitFor(() => expect(monitor.dataset.status).toBe('cancelled'));
    const finished = within(monitor).getByTestId('run-finished-message');
    expect(finished.textContent).toBe(message);
    expect(finished.className).toContain('status-cancelled');
    expect(within(monitor).queryAllByRole('alert')).toEqual([]);
    expect(
      within(monitor)
        .queryAllByTestId('log-line')
        .map((line) => line.dataset.level),
    ).not.toContain('error');
    expect(within(monitor).getAllByText(message, { exact: false })).toHaveLength(2); // the banner, and its log line
    stop();
  });

  it('says "rolling back" while a rollback of a succeeded run runs, and offers no cancel', async () => {
    useUi.setState({ monitoredRunId: 2 });
    const { emit, stop } = setup();
    const monitor = await screen.findByTestId('run-monitor');
    await waitFor(() => expect(monitor.dataset.status).toBe('succeeded'));
    await emit({ type: 'phase', runId: 2, table, at, phase: 'rollback', message: `rolling back ${table}` });
    await waitFor(() => expect(monitor.dataset.status).toBe('running'));
    expect(within(monitor).getByTestId('run-status').textContent).toBe('rolling back');
    expect(within(monitor).queryByTestId('run-cancel')).toBeNull();
    expect(within(monitor).queryByTestId('monitor-finalize')).toBeNull();
    const row = (await screen.findAllByTestId('run-row')).find((r) => r.dataset.runId === '2')!;
    expect(row.dataset.status).toBe('running');
    expect(within(row).getByTestId('run-row-status').textContent).toBe('rolling back');
    expect(within(row).queryByTestId('run-finalize')).toBeNull();
    stop();
  });

  it('shows a run whose rollback was killed as interrupted in rollback, with the rollback to continue', async () => {
    useUi.setState({ monitoredRunId: 2 });
    const interrupted = {
      ...runs()[1]!,
      status: 'interrupted' as const,
      rollingBack: true,
      canResume: false,
      canRollback: true,
      canFinalize: false,
      targets: runs()[1]!.targets.map((target) => ({ ...target, phase: 'rollback' as const })),
    };
    renderWithApi(<RunsScreen />, { handlers: { 'runs.list': () => [interrupted] } });
    const monitor = await screen.findByTestId('run-monitor');
    await waitFor(() => expect(monitor.dataset.status).toBe('interrupted'));
    expect(within(monitor).getByTestId('run-status').textContent).toBe('interrupted in rollback');
    expect(within(monitor).getByTestId('run-statement').textContent).toContain('Interrupted while rolling back');
    const next = within(monitor).getByTestId('monitor-rollback');
    expect(next.textContent).toBe('Continue rollback');
    const row = screen.getByTestId('run-row');
    expect(within(row).getByTestId('run-rollback').textContent).toBe('Continue rollback');
    expect(within(row).queryByTestId('run-resume')).toBeNull();
    await userEvent.click(next);
    const dialog = screen.getByTestId('run-rollback-dialog');
    expect(dialog.textContent).toContain('Continue the rollback of run #2?');
  });

  it('times a run by its recorded steps: a rollback days later does not lengthen the migration', async () => {
    useUi.setState({ monitoredRunId: 2 });
    const [, succeeded] = runs();
    const rolledBack = {
      ...succeeded!,
      status: 'rolled_back' as const,
      canRollback: false,
      canFinalize: false,
      finishedAt: '2025-11-27T09:00:02Z',
      steps: [...succeeded!.steps, ...runSteps('2025-11-27T09:00:00Z', [['rollback', 2_100, { lockMs: 35 }]])],
    };
    renderWithApi(<RunsScreen />, { handlers: { 'runs.list': () => [rolledBack] } });
    const row = await screen.findByTestId('run-row');
    expect(within(row).getByTestId('run-row-duration').textContent).toBe('6.7 srollback 2.1 s');
    const monitor = screen.getByTestId('run-monitor');
    expect(within(monitor).getByTestId('run-duration').textContent).toContain('took 6.7 s · rollback 2.1 s');
    const timings = within(monitor).getByTestId('run-timings');
    expect(
      within(timings)
        .getAllByTestId('run-timing')
        .map((r) => r.dataset.phase),
    ).toEqual(['prepare', 'provision', 'copy', 'indexes', 'catch_up', 'cutover', 'verify', 'rollback']);
    const copy = within(timings).getAllByTestId('run-timing')[2]!;
    expect(copy.textContent).toContain('2.9 s');
    expect(copy.textContent).toContain('298,952 rows');
    expect(
      within(timings)
        .getAllByTestId('run-timing-lock')
        .map((cell) => cell.textContent),
    ).toEqual(['42 ms', '35 ms']);
    expect(within(timings).getByTestId('run-lock-total').textContent).toContain('77 ms in all');
  });

  it('keeps the history row level with the monitor between reads of the journal', async () => {
    useUi.setState({ monitoredRunId: 2 });
    const { emit, stop } = setup();
    const row = () => screen.getAllByTestId('run-row').find((r) => r.dataset.runId === '2')!;
    await screen.findAllByTestId('run-row');
    await emit({ type: 'phase', runId: 2, table, at, phase: 'finalize', message: 'dropping the backup' });
    await waitFor(() => expect(row().dataset.status).toBe('running'));
    await emit({ type: 'finished', runId: 2, at, status: 'finalized', message: 'Run 2 finalized: backups dropped' });
    await waitFor(() => expect(row().dataset.status).toBe('finalized'));
    expect(screen.getByTestId('run-monitor').dataset.status).toBe('finalized');
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

  it('pauses a running migration and continues it as the journal says it is held', async () => {
    let paused: RunSummary['paused'] = null;
    const api = createFakeApi({
      'runs.list': () => [{ ...runs()[0]!, runId: 4, status: 'running', finishedAt: null, paused }],
      'runs.pause': () => {
        paused = { at: '2025-11-24T10:03:00Z', by: 'dba' };
        return {};
      },
      'runs.continue': () => {
        paused = null;
        return {};
      },
    });
    renderWithApi(<RunsScreen />, { api });
    await userEvent.click(await screen.findByTestId('run-pause'));
    expect(api.callsOf('runs.pause')).toEqual([{ connectionId: 'sandbox', runId: 4 }]);
    // No confirmation: Continue undoes it.
    await userEvent.click(await screen.findByTestId('run-continue'));
    expect(api.callsOf('runs.continue')).toEqual([{ connectionId: 'sandbox', runId: 4 }]);
    await screen.findByTestId('run-pause');
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

  it('lists the actions on keys from their journal, a running one with the progress its window reports', async () => {
    const { api, stop } = setup();
    const panel = await screen.findByTestId('key-action-history');
    const rows = await within(panel).findAllByTestId('key-history-row');
    expect(rows.map((row) => row.dataset.actionId)).toEqual(['3', '2', '1']);
    expect(within(rows[0]!).getByTestId('key-history-status').dataset.status).toBe('running');
    expect(rows[1]!.textContent).toContain('does not belong to key 1002');
    expect(within(rows[1]!).getByTestId('key-history-step').textContent).toBe('stopped at: attaching');
    expect(within(rows[2]!).getByTestId('key-history-step').textContent).toBe('—');
    expect(rows[2]!.textContent).toContain('12,345 rows, 3 MB');
    expect(rows[2]!.textContent).toContain('2.5 s');
    expect(within(rows[0]!).getByTestId('key-history-step').textContent).toBe('start');
    const event = {
      connectionId: 'sandbox',
      configId: 1,
      action: 'export' as const,
      keyValue: '1001',
      position: 1,
      of: 1,
    };
    act(() =>
      api.emit('keys.progress', {
        ...event,
        progress: { step: 'exporting key 1001', done: 5 * 1024 * 1024, total: null, unit: 'bytes' },
      }),
    );
    expect(within(rows[0]!).getByTestId('key-history-step').textContent).toBe('exporting key 1001: 5 MB written');
    // The journal is read again while an action runs (it may run from the command line).
    await waitFor(() => expect(api.callsOf('keys.history').length).toBeGreaterThan(1), { timeout: 4000 });
    stop();
  });
});
