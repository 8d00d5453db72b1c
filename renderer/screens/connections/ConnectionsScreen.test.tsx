// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionsScreen } from './ConnectionsScreen';
import { renderWithApi, resetStores } from '../../testing/render';
import { useUi } from '../../state/ui';
import type { ConnectionDraft } from '../../../shared/connection';

beforeEach(resetStores);
afterEach(cleanup);

const row = (name: string) =>
  screen.getAllByTestId('connection-row').find((element) => element.dataset.connectionName === name)!;

describe('Connections screen', () => {
  it('lists the Sandbox specially and saved profiles without any password', async () => {
    renderWithApi(<ConnectionsScreen />);
    const sandbox = await screen.findByTestId('sandbox-entry');
    expect(sandbox.textContent).toContain('Sandbox: embedded PostgreSQL with sample data');
    expect(within(sandbox).getByTestId('sandbox-start').textContent).toContain('Open');
    expect(within(row('orders-db (replica test)')).getByTestId('connection-has-password').textContent).toContain(
      'password saved',
    );
    expect(within(row('Local 16')).queryByTestId('connection-has-password')).toBeNull();
    // The session_only notice of the browser bridge.
    expect((await screen.findByTestId('secret-storage-notice')).textContent).toContain('~/.pgpass');
  });

  it('says where passwords are in the words true for each shell', async () => {
    renderWithApi(<ConnectionsScreen />);
    const browser = await screen.findByTestId('secret-storage-notice');
    expect(browser.textContent).toMatch(/the bridge process keeps passwords in memory while it runs/);
    expect(screen.getByTestId('screen-connections').textContent).not.toContain('main process');
    cleanup();
    renderWithApi(<ConnectionsScreen />, {
      handlers: { 'app.info': () => ({ version: '1', shell: 'electron', secretStorage: 'keychain' }) },
    });
    expect((await screen.findByTestId('secret-storage-notice')).textContent).toBe(
      'Saved passwords are encrypted with the OS keychain and never sent to this window.',
    );
  });

  it('tests a connection that has no name yet, and says what it reached once', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await userEvent.click(await screen.findByTestId('connection-add'));
    await userEvent.click(screen.getByTestId('connection-test'));
    const result = await screen.findByTestId('connection-test-result');
    expect(screen.queryByTestId('connection-name-error')).toBeNull();
    expect(api.callsOf('connections.test')).toEqual([
      { draft: { host: 'localhost', port: 5432, database: 'postgres', user: 'postgres', sslMode: 'prefer' } },
    ]);
    expect(result.textContent).toBe('Connected to PostgreSQL 17.2 (TLS).');
    // Saving still asks for the name.
    await userEvent.click(screen.getByTestId('connection-save'));
    expect(screen.getByTestId('connection-name-error').textContent).toBe('Give the connection a name');
  });

  it('warns when saved passwords are only obfuscated', async () => {
    renderWithApi(<ConnectionsScreen />, {
      handlers: { 'app.info': () => ({ version: '1', shell: 'electron', secretStorage: 'basic_text' }) },
    });
    expect((await screen.findByTestId('secret-storage-notice')).textContent).toMatch(/only obfuscated/);
  });

  it('validates a new connection with the shared schema, then saves it', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await userEvent.click(await screen.findByTestId('connection-add'));
    await userEvent.clear(screen.getByTestId('connection-port'));
    await userEvent.type(screen.getByTestId('connection-port'), '70000');
    await userEvent.click(screen.getByTestId('connection-save'));
    expect(screen.getByTestId('connection-name-error').textContent).toBe('Give the connection a name');
    expect(screen.getByTestId('connection-port-error').textContent).toMatch(/1 to 65535/);
    expect(api.callsOf('connections.save')).toHaveLength(0);

    await userEvent.type(screen.getByTestId('connection-name'), 'Reporting');
    await userEvent.clear(screen.getByTestId('connection-port'));
    await userEvent.type(screen.getByTestId('connection-port'), '6432');
    await userEvent.click(screen.getByTestId('connection-save'));
    await waitFor(() => expect(api.callsOf('connections.save')).toHaveLength(1));
    const draft = api.callsOf('connections.save')[0] as ConnectionDraft;
    expect(draft).toMatchObject({ name: 'Reporting', host: 'localhost', port: 6432, sslMode: 'prefer' });
    // An empty password on a new profile sends none at all.
    expect('password' in draft).toBe(false);
    await waitFor(() => expect(screen.queryByTestId('connection-form')).toBeNull());
    // The first saved connection becomes the active one.
    expect(useUi.getState().connectionId).toBe('c-new');
  });

  it('never shows a saved password; it can be cleared', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await screen.findByTestId('sandbox-entry');
    await userEvent.click(within(row('orders-db (replica test)')).getByTestId('connection-edit'));
    const form = screen.getByTestId('connection-form');
    expect(within(form).getByTestId('password-saved').textContent).toContain('password saved');
    expect(within(form).queryByTestId('connection-password')).toBeNull();
    await userEvent.click(within(form).getByTestId('password-clear'));
    await userEvent.click(within(form).getByTestId('connection-save'));
    await waitFor(() => expect(api.callsOf('connections.save')).toHaveLength(1));
    expect(api.callsOf('connections.save')[0]).toMatchObject({ id: 'c-prod', password: '' });
  });

  it('shows a failed test and puts the cursor in the password field on an auth failure', async () => {
    renderWithApi(<ConnectionsScreen />, {
      handlers: {
        'connections.test': () => ({
          ok: false,
          failure: 'auth',
          message: 'password authentication failed for user "partwise"',
        }),
      },
    });
    await screen.findByTestId('sandbox-entry');
    await userEvent.click(within(row('orders-db (replica test)')).getByTestId('connection-edit'));
    await userEvent.click(screen.getByTestId('connection-test'));
    const result = await screen.findByTestId('connection-test-result');
    expect(result.dataset.tone).toBe('error');
    expect(result.textContent).toContain('password authentication failed');
    const password = await screen.findByTestId('connection-password');
    await waitFor(() => expect(document.activeElement).toBe(password));
  });

  it('deletes a profile only after confirmation', async () => {
    useUi.setState({ connectionId: 'c-local' });
    const { api } = renderWithApi(<ConnectionsScreen />);
    await screen.findByTestId('sandbox-entry');
    await userEvent.click(within(row('Local 16')).getByTestId('connection-delete'));
    const dialog = screen.getByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Nothing in the database changes');
    expect(api.callsOf('connections.delete')).toHaveLength(0);
    await userEvent.click(within(dialog).getByTestId('confirm-accept'));
    await waitFor(() => expect(api.callsOf('connections.delete')).toEqual([{ id: 'c-local' }]));
    expect(useUi.getState().connectionId).toBeNull();
  });

  it('starts the Sandbox, makes it active and opens Tables', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await userEvent.click(await screen.findByTestId('sandbox-start'));
    await waitFor(() => expect(useUi.getState().connectionId).toBe('sandbox'));
    expect(useUi.getState().screen).toBe('tables');
    expect(api.callsOf('sandbox.start')).toHaveLength(1);
  });
});
