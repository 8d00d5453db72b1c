// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TrackerScreen } from './TrackerScreen';
import { fakeLayout, renderWithApi, resetStores } from '../../testing/render';
import { useUi } from '../../state/ui';

let restoreLayout: () => void;
beforeAll(() => (restoreLayout = fakeLayout()));
afterAll(() => restoreLayout());
beforeEach(() => {
  resetStores();
  useUi.setState({ connectionId: 'sandbox', screen: 'tracker' });
});
afterEach(cleanup);

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
