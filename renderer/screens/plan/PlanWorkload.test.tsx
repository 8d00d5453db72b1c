// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlanScreen } from './PlanScreen';
import { renderWithApi, resetStores } from '../../testing/render';
import { plan } from '../../testing/fixtures';
import { planWithWorkload, unavailable } from '../../testing/workload-fixtures';
import { useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';

const target = { schema: 'public', table: 'custom_module_data', keyColumn: 'customer_id', bucketLimit: 1_000_000 };

beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'plan' });
  useTargets.setState({ byConnection: { sandbox: [target] } });
});
afterEach(cleanup);

describe("the plan's statements on the table", () => {
  it('lists the key-less statements with their cost, and starts only once they are accepted', async () => {
    const { api } = renderWithApi(<PlanScreen />, {
      handlers: { 'plan.create': ({ targets, exact }) => targets.map((t) => planWithWorkload(plan(t, exact))) },
    });
    const section = await screen.findByTestId('plan-workload');
    const rows = within(section).getAllByTestId('workload-statement');
    expect(rows.map((row) => [row.dataset.verdict, row.dataset.frequent])).toEqual([
      ['keyless', 'true'],
      ['keyless', 'true'],
      ['keyless', 'false'],
    ]);
    expect(rows[0]!.textContent).toContain('SELECT * FROM custom_module_data WHERE id = $1');
    expect(rows[0]!.textContent).toContain('1,804,220');
    expect(rows[0]!.textContent).toContain('≈ 41 ms');
    expect(within(section).getByTestId('workload-cost').textContent).toContain('38 ms to plan');
    expect(within(section).getByTestId('workload-keyed').dataset.count).toBe('1');
    expect(within(section).getByTestId('workload-not-analysed').textContent).toContain('cannot prepare it');
    expect(screen.getByTestId('plan-status').textContent).toBe('1 blocker to fix before starting');
    expect((screen.getByTestId('start-migration') as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(within(section).getByTestId('accept-keyless'));
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(2));
    expect(api.callsOf('plan.create')[1]).toMatchObject({ targets: [{ ...target, acceptKeylessQueries: true }] });
    const start = screen.getByTestId('start-migration') as HTMLButtonElement;
    await waitFor(() => expect(start.disabled).toBe(false));
    expect((screen.getByTestId('accept-keyless') as HTMLInputElement).checked).toBe(true);
    await userEvent.click(start);
    await userEvent.click(within(screen.getByTestId('start-dialog')).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.start')).toHaveLength(1));
    expect(api.callsOf('runs.start')[0]).toMatchObject({ targets: [{ ...target, acceptKeylessQueries: true }] });
  });

  it('says how to enable pg_stat_statements when the workload is unknown', async () => {
    renderWithApi(<PlanScreen />, {
      handlers: { 'plan.create': ({ targets, exact }) => targets.map((t) => unavailable(plan(t, exact))) },
    });
    const section = await screen.findByTestId('plan-workload');
    const notice = within(section).getByTestId('workload-unavailable');
    expect(notice.textContent).toContain('neither loaded by the server nor created');
    expect(notice.textContent).toContain("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';");
    expect(within(section).queryByTestId('accept-keyless')).toBeNull();
    expect(within(section).queryByTestId('workload-statement')).toBeNull();
  });

  it('shows nothing of the kind for a plan without a workload', async () => {
    renderWithApi(<PlanScreen />);
    await screen.findByTestId('plan-card');
    expect(screen.queryByTestId('plan-workload')).toBeNull();
  });
});
