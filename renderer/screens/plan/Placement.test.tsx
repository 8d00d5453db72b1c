// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlanScreen } from './PlanScreen';
import { renderWithApi, resetStores } from '../../testing/render';
import { useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';

const target = { schema: 'public', table: 'custom_module_data', keyColumn: 'customer_id', bucketLimit: 1_000_000 };

beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'plan' });
  useTargets.setState({ byConnection: { sandbox: [target] } });
});
afterEach(cleanup);

describe("the plan's placement", () => {
  it('plans with small keys sharing, shows the relations both ways, and starts the migration with it', async () => {
    const { api } = renderWithApi(<PlanScreen />);
    const section = await screen.findByTestId('plan-placement');
    expect(within(section).getByTestId('placement-per-key').textContent).toContain(
      'Every key gets a level-1 partition of its own',
    );
    await userEvent.click(within(section).getByTestId('placement-share'));
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(2));
    expect(api.callsOf('plan.create')[1]).toMatchObject({ targets: [{ ...target, shareBelow: 1000 }] });
    const shared = await screen.findByTestId('placement-relations-shared');
    // The fake plan: 12,000 keys, 10,800 of them pooled (40 rows each) in 1 bucket.
    expect(screen.getByTestId('placement-pooled').textContent).toBe('~10,800 keys (~432,000 rows) in ~1 bucket');
    expect(shared.textContent).toBe('~9,626 (~1,201 level-1 partitions, the pool one of them; ~1,204 leaves)');
    expect(screen.getByTestId('placement-relations-per-key').textContent).toBe(
      '~96,018 (~12,000 level-1 partitions; ~12,003 leaves)',
    );
    // The summary and the DDL count are the shared tree's, the per-key figures beside them.
    const levelOne = screen.getByTestId('plan-level-one');
    expect(levelOne.querySelector('.stat-value')!.textContent).toBe('1,201');
    expect(levelOne.querySelector('.stat-note')!.textContent).toBe(
      'up to 13,201; the pool one of them; 12,000 with a partition per key',
    );
    const leaves = screen.getByTestId('plan-leaves');
    expect(leaves.querySelector('.stat-value')!.textContent).toBe('1,204');
    expect(leaves.querySelector('.stat-note')!.textContent).toBe(
      'up to 13,204; 12,003 with a partition per key; the tree is 344% of the lock table',
    );
    // The table, a statement per partition, the pool's three beyond them, the indexes and the view.
    expect(screen.getByTestId('plan-ddl-count').textContent).toMatch(/^\(about 2,412 statements, up to /);

    // Another threshold, applied when the field is left.
    const threshold = screen.getByTestId('placement-threshold');
    await userEvent.clear(threshold);
    await userEvent.type(threshold, '500');
    fireEvent.blur(threshold);
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(3));
    expect(api.callsOf('plan.create')[2]).toMatchObject({ targets: [{ ...target, shareBelow: 500 }] });

    const start = screen.getByTestId('start-migration') as HTMLButtonElement;
    await waitFor(() => expect(start.disabled).toBe(false));
    await userEvent.click(start);
    // What the confirmation names is the shared tree, not a partition per key.
    expect(within(screen.getByTestId('start-dialog')).getByTestId('start-tables').textContent).toMatch(
      /rows into [\d,]+ leaves, small keys sharing$/,
    );
    await userEvent.click(within(screen.getByTestId('start-dialog')).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.start')).toHaveLength(1));
    expect(api.callsOf('runs.start')[0]).toMatchObject({ targets: [{ ...target, shareBelow: 500 }] });
  });

  it('refuses a threshold that is not a whole number of rows, 1 or more, and plans nothing with it', async () => {
    const { api } = renderWithApi(<PlanScreen />);
    const section = await screen.findByTestId('plan-placement');
    for (const bad of ['0', '-3', '2.5', 'many']) {
      const threshold = within(section).getByTestId('placement-threshold');
      await userEvent.clear(threshold);
      await userEvent.type(threshold, bad);
      expect(within(section).getByTestId('placement-error').textContent).toBe(
        'The threshold must be a whole number of rows, 1 or more.',
      );
      expect((within(section).getByTestId('placement-share') as HTMLInputElement).disabled).toBe(true);
    }
    expect(api.callsOf('plan.create')).toHaveLength(1);
    expect(useTargets.getState().byConnection.sandbox).toEqual([target]);
  });

  it('marks the largest keys under the threshold as in the pool, without buckets of their own', async () => {
    useTargets.setState({ byConnection: { sandbox: [{ ...target, shareBelow: 100_000 }] } });
    renderWithApi(<PlanScreen />);
    await screen.findByTestId('placement-counts');
    const rows = screen.getAllByTestId('plan-largest-key').map((row) => row.textContent);
    expect(rows).toEqual(['1042310,5521', '77201,0041', '512098,113in pool', '940,221in pool']);
  });

  it('goes back to a partition per key when unticked', async () => {
    useTargets.setState({ byConnection: { sandbox: [{ ...target, shareBelow: 1000 }] } });
    const { api } = renderWithApi(<PlanScreen />);
    await screen.findByTestId('placement-counts');
    await userEvent.click(screen.getByTestId('placement-share'));
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(2));
    expect(api.callsOf('plan.create')[1]).toMatchObject({ targets: [target] });
    expect((api.callsOf('plan.create')[1] as { targets: object[] }).targets[0]).not.toHaveProperty('shareBelow');
    await screen.findByTestId('placement-per-key');
  });
});
