// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
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

describe('unique keys on the Plan screen', () => {
  it('shows how each key stays enforced, and plans and starts with the choice made', async () => {
    const { api } = renderWithApi(<PlanScreen />);
    const section = await screen.findByTestId('unique-keys');
    const rows = within(section).getAllByTestId('unique-key');
    expect(rows.map((row) => [row.dataset.name, row.dataset.enforcement])).toEqual([
      ['custom_module_data_pkey', 'table'],
      ['custom_module_data_live_code', 'bucket'],
    ]);
    // No registry can keep an expression index: its switch is off and says why.
    const expression = within(rows[1]!).getByTestId('unique-key-switch') as HTMLInputElement;
    expect(expression.disabled).toBe(true);
    expect(within(rows[1]!).getByTestId('unique-key-note').textContent).toContain('it indexes expressions');

    await userEvent.click(within(rows[0]!).getByTestId('unique-key-switch'));
    await waitFor(() => expect(api.callsOf('plan.create')).toHaveLength(2));
    expect(api.callsOf('plan.create')[1]).toMatchObject({
      targets: [{ ...target, uniqueness: { custom_module_data_pkey: 'bucket' } }],
    });
    await waitFor(() => expect(screen.getAllByTestId('unique-key')[0]!.dataset.enforcement).toBe('bucket'));

    const start = screen.getByTestId('start-migration') as HTMLButtonElement;
    await waitFor(() => expect(start.disabled).toBe(false));
    await userEvent.click(start);
    await userEvent.click(within(screen.getByTestId('start-dialog')).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('runs.start')).toHaveLength(1));
    expect(api.callsOf('runs.start')[0]).toMatchObject({
      targets: [{ ...target, uniqueness: { custom_module_data_pkey: 'bucket' } }],
    });
  });
});
