// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlanScreen } from './PlanScreen';
import { renderWithApi, resetStores } from '../../testing/render';
import { useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';

const target = (table: string) => ({ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 1_000_000 });

beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'plan' });
});
afterEach(cleanup);

describe('Plan screen', () => {
  it('says what to do when nothing is queued', async () => {
    renderWithApi(<PlanScreen />);
    expect((await screen.findByTestId('plan-empty')).textContent).toContain('No run targets queued');
  });

  it('counts what is cheap by default, and every table exactly on request', async () => {
    useTargets.setState({ byConnection: { sandbox: [target('custom_module_data')] } });
    const { api } = renderWithApi(<PlanScreen />);
    const card = await screen.findByTestId('plan-card');
    expect(api.callsOf('plan.create')).toEqual([
      { connectionId: 'sandbox', targets: [target('custom_module_data')], exact: false },
    ]);
    expect(within(card).getByTestId('plan-summary').textContent).toContain('2,412,118');
    expect(within(card).getByTestId('plan-ddl').textContent).toContain('PARTITION BY LIST (customer_id)');
    expect(within(card).getAllByTestId('plan-warning')).toHaveLength(1);
    await userEvent.click(screen.getByTestId('plan-exact'));
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(2));
    expect(api.callsOf('plan.create')[1]).toMatchObject({ exact: true });
  });

  it('keeps Start disabled while a blocker exists, and shows its fix', async () => {
    useTargets.setState({ byConnection: { sandbox: [target('custom_module_data'), target('events')] } });
    renderWithApi(<PlanScreen />);
    const cards = await screen.findAllByTestId('plan-card');
    const events = cards.find((card) => card.dataset.table === 'public.events')!;
    const blocker = within(events).getByTestId('plan-blocker');
    expect(blocker.textContent).toMatch(/NULL customer_id/);
    expect(blocker.textContent).toContain('DELETE FROM public.events WHERE customer_id IS NULL;');
    expect(screen.getByTestId('plan-status').textContent).toBe('1 blocker to fix before starting');
    expect((screen.getByTestId('start-migration') as HTMLButtonElement).disabled).toBe(true);
  });

  it('starts only after a confirmation that names the tables, then follows the run', async () => {
    useTargets.setState({ byConnection: { sandbox: [target('custom_module_data')] } });
    const { api } = renderWithApi(<PlanScreen />);
    await screen.findByTestId('plan-card');
    const start = screen.getByTestId('start-migration') as HTMLButtonElement;
    await waitFor(() => expect(start.disabled).toBe(false));
    await userEvent.click(start);
    const dialog = screen.getByTestId('start-dialog');
    expect(within(dialog).getByTestId('start-tables').textContent).toContain('public.custom_module_data');
    expect(api.callsOf('runs.start')).toHaveLength(0);

    await userEvent.click(within(dialog).getByTestId('confirm-cancel'));
    expect(screen.queryByTestId('start-dialog')).toBeNull();
    expect(api.callsOf('runs.start')).toHaveLength(0);

    await userEvent.click(start);
    await userEvent.selectOptions(screen.getByTestId('run-workers'), '4');
    await userEvent.click(within(screen.getByTestId('start-dialog')).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.start')).toHaveLength(1));
    expect(api.callsOf('runs.start')[0]).toEqual({
      connectionId: 'sandbox',
      targets: [target('custom_module_data')],
      workers: 4,
    });
    await waitFor(() => expect(useUi.getState().screen).toBe('runs'));
    expect(useUi.getState().monitoredRunId).toBe(4);
    expect(useTargets.getState().byConnection.sandbox).toEqual([]);
  });

  it('says how the counts were obtained, with the bounds of an estimate', async () => {
    useTargets.setState({ byConnection: { sandbox: [target('custom_module_data')] } });
    renderWithApi(<PlanScreen />);
    const card = await screen.findByTestId('plan-card');
    expect(within(card).getByTestId('plan-counting').textContent).toContain('estimated from statistics');
    expect(within(card).getByTestId('plan-summary').textContent).toContain('up to 24,000');
    expect(within(card).getByTestId('plan-ddl-count').textContent).toMatch(
      /^\(about [\d,]+ statements, up to [\d,]+\)$/,
    );
  });

  it('warns of a tree the lock table cannot hold, with its fix, and lets Start go', async () => {
    useTargets.setState({ byConnection: { sandbox: [{ ...target('custom_module_data'), bucketLimit: 1 }] } });
    renderWithApi(<PlanScreen />);
    const card = await screen.findByTestId('plan-card');
    expect(within(card).queryAllByTestId('plan-blocker')).toEqual([]);
    const warning = within(card)
      .getAllByTestId('plan-warning')
      .find((w) => w.dataset.code === 'partition_tree_too_large')!;
    expect(warning.textContent).toContain('ALTER SYSTEM SET max_locks_per_transaction = 40446;');
    expect(card.textContent).toContain('1 row per bucket');
    expect(screen.getByTestId('plan-status').className).toContain('warn');
    await waitFor(() => expect((screen.getByTestId('start-migration') as HTMLButtonElement).disabled).toBe(false));
  });

  it('repeats the warnings in the start dialog and says what the default workers do', async () => {
    useTargets.setState({ byConnection: { sandbox: [target('custom_module_data')] } });
    renderWithApi(<PlanScreen />);
    await screen.findByTestId('plan-card');
    expect(screen.getByTestId('plan-status').className).toContain('warn');
    const start = screen.getByTestId('start-migration') as HTMLButtonElement;
    await waitFor(() => expect(start.disabled).toBe(false));
    await userEvent.click(start);
    const dialog = screen.getByTestId('start-dialog');
    const warnings = within(dialog).getByTestId('start-warnings');
    expect(
      within(warnings)
        .getAllByTestId('plan-warning')
        .map((w) => w.dataset.code),
    ).toEqual(['unique_index_widened']);
    expect(within(dialog).getByTestId('start-estimates').textContent).toContain(
      'the run counts every key before creating any partition',
    );
    const workers = within(dialog).getByTestId('run-workers') as HTMLSelectElement;
    expect(workers.selectedOptions[0]!.textContent).toBe('Default (2)');
    expect(within(dialog).getByTestId('run-workers-note').textContent).toMatch(
      /^2 workers copy the table, build its indexes and verify it, each on its own connection, in parallel; with its control, journal and lock-watch connections the run holds up to 5 connections\. Each worker keeps about one CPU core of the server busy/,
    );
    await userEvent.selectOptions(workers, '8');
    expect(within(dialog).getByTestId('run-workers-note').textContent).toContain('the run holds up to 11 connections');
  });
});
