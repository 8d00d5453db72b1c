// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../api/transport';
import { useUi } from '../../state/ui';
import type { Handlers } from '../../testing/fake-api';
import { renderWithApi, resetStores } from '../../testing/render';
import { RunActionDialog } from './RunActionDialog';
import { ProductionBand } from '../../components/ProductionBand';

beforeEach(() => resetStores());
afterEach(cleanup);

function open(handlers: Handlers) {
  let closed = 0;
  const view = renderWithApi(
    <RunActionDialog
      connectionId="sandbox"
      runId={2}
      tables={['public.custom_module_data']}
      action="finalize"
      onClose={() => closed++}
    />,
    { handlers },
  );
  return { ...view, closed: () => closed };
}

async function confirm() {
  const dialog = screen.getByTestId('run-finalize-dialog');
  await userEvent.click(within(dialog).getByTestId('confirm-acknowledge'));
  await userEvent.click(within(dialog).getByTestId('confirm-accept'));
  return dialog;
}

describe('run action dialog', () => {
  it('never traps the user: Close and Esc work while the request is under way', async () => {
    const { closed } = open({ 'runs.finalize': () => new Promise(() => undefined) });
    const dialog = await confirm();
    expect(within(dialog).getByTestId('confirm-accept').textContent).toBe('Working…');
    expect(within(dialog).getByTestId('confirm-busy-note').textContent).toContain('does not stop it');
    const close = within(dialog).getByTestId('confirm-cancel') as HTMLButtonElement;
    expect(close.disabled).toBe(false);
    expect(close.textContent).toBe('Close');
    await userEvent.keyboard('{Escape}');
    expect(closed()).toBe(1);
    await userEvent.click(close);
    expect(closed()).toBe(2);
  });

  it('closes and follows the run once it is under way', async () => {
    const { closed } = open({ 'runs.finalize': ({ runId }) => ({ runId }) });
    await confirm();
    await waitFor(() => expect(closed()).toBe(1));
    expect(useUi.getState().monitoredRunId).toBe(2);
  });

  it('shows why a request was refused, and stays open', async () => {
    const { closed } = open({
      'runs.finalize': () => {
        throw new ApiError({
          kind: 'conflict',
          message: 'Run 2 was rolled back; only a succeeded run can be finalized',
        });
      },
    });
    const dialog = await confirm();
    expect((await within(dialog).findByTestId('confirm-error')).textContent).toContain('only a succeeded run');
    expect(closed()).toBe(0);
    expect((within(dialog).getByTestId('confirm-cancel') as HTMLButtonElement).disabled).toBe(false);
  });

  it('says what happened when there was nothing to do, with Close only', async () => {
    const { closed } = open({
      'runs.finalize': ({ runId }) => ({
        runId,
        outcome: { status: 'finalized', message: 'Run 2 was already finalized; nothing to do' },
      }),
    });
    const dialog = await confirm();
    expect((await within(dialog).findByTestId('confirm-result')).textContent).toBe(
      'Run 2 was already finalized; nothing to do',
    );
    expect(within(dialog).queryByTestId('confirm-accept')).toBeNull();
    await userEvent.click(within(dialog).getByTestId('confirm-cancel'));
    expect(closed()).toBe(1);
  });

  it('asks for the table name on a production connection before rolling back or finalizing', async () => {
    useUi.getState().selectConnection('c-prod-marked');
    const production = {
      id: 'c-prod-marked',
      name: 'orders (production)',
      kind: 'server' as const,
      host: 'db.internal',
      port: 5432,
      database: 'orders',
      user: 'ops',
      sslMode: 'verify-full' as const,
      hasPassword: true,
      production: true,
    };
    const { api } = renderWithApi(
      <>
        <ProductionBand />
        <RunActionDialog
          connectionId="c-prod-marked"
          runId={2}
          tables={['public.custom_module_data']}
          action="rollback"
          onClose={() => undefined}
        />
      </>,
      { handlers: { 'connections.list': () => [production], 'runs.rollback': ({ runId }) => ({ runId }) } },
    );
    expect((await screen.findByTestId('production-band')).textContent).toContain('ops@db.internal:5432/orders');
    const dialog = screen.getByTestId('run-rollback-dialog');
    const accept = within(dialog).getByTestId('confirm-accept') as HTMLButtonElement;
    await waitFor(() => expect(within(dialog).getByTestId('confirm-type')).toBeTruthy());
    expect(accept.disabled).toBe(true);
    await userEvent.type(within(dialog).getByTestId('confirm-type'), 'public.custom_module');
    expect(accept.disabled).toBe(true);
    await userEvent.type(within(dialog).getByTestId('confirm-type'), '_data');
    expect(accept.disabled).toBe(false);
    await userEvent.click(accept);
    await waitFor(() => expect(api.callsOf('runs.rollback')).toHaveLength(1));
  });
});
