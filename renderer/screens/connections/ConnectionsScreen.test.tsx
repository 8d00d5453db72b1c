// @vitest-environment jsdom
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionsScreen } from './ConnectionsScreen';
import { renderWithApi, resetStores } from '../../testing/render';
import { useUi } from '../../state/ui';
import type { ConnectionDraft } from '../../../shared/connection';

/**
 * Puts text into a field as one paste: the form re-renders on every key, and
 * typing long values key by key made a test's time depend on the machine's load.
 */
async function fill(testId: string, text: string): Promise<void> {
  await userEvent.click(screen.getByTestId(testId));
  await userEvent.paste(text);
}

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

  it('fills the fields from a pasted URL and says which parameters a profile does not keep', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await userEvent.click(await screen.findByTestId('connection-add'));
    await userEvent.click(screen.getByTestId('connection-url'));
    await userEvent.paste(
      'postgresql://app%40corp:s3cret@db.example.com:6543/sales?sslmode=verify-full&sslrootcert=/etc/ca.pem&target_session_attrs=any',
    );
    await userEvent.click(screen.getByTestId('connection-url-fill'));
    expect((screen.getByTestId('connection-host') as HTMLInputElement).value).toBe('db.example.com');
    expect((screen.getByTestId('connection-port') as HTMLInputElement).value).toBe('6543');
    expect((screen.getByTestId('connection-user') as HTMLInputElement).value).toBe('app@corp');
    expect((screen.getByTestId('connection-sslRootCert') as HTMLInputElement).value).toBe('/etc/ca.pem');
    expect((screen.getByTestId('connection-sslMode') as HTMLSelectElement).value).toBe('verify-full');
    expect(screen.getByTestId('connection-url-note').textContent).toBe('Not kept by a profile: target_session_attrs.');
    await userEvent.click(screen.getByTestId('connection-save'));
    await waitFor(() => expect(api.callsOf('connections.save')).toHaveLength(1));
    expect(api.callsOf('connections.save')[0]).toMatchObject({
      name: 'db.example.com',
      password: 's3cret',
      sslRootCert: '/etc/ca.pem',
    });

    await userEvent.click(await screen.findByTestId('connection-add'));
    await userEvent.click(screen.getByTestId('connection-url'));
    await userEvent.paste('postgresql://h:99999/d');
    await userEvent.click(screen.getByTestId('connection-url-fill'));
    expect(screen.getByTestId('connection-url-note').textContent).toBe(
      'port: "99999" is not a port number from 1 to 65535',
    );
  });

  it('asks for the passphrase of a client key once a key file is given, and sends it as a secret', async () => {
    const { api } = renderWithApi(<ConnectionsScreen />);
    await userEvent.click(await screen.findByTestId('connection-add'));
    expect(screen.queryByTestId('connection-sslPassword')).toBeNull();
    await userEvent.click(screen.getByTestId('connection-url'));
    await userEvent.paste(
      'postgresql://app@db.example.com/sales?sslmode=verify-full&sslcert=/k/client.crt&sslkey=/k/client.key&sslpassword=open%20sesame',
    );
    await userEvent.click(screen.getByTestId('connection-url-fill'));
    const passphrase = screen.getByTestId('connection-sslPassword') as HTMLInputElement;
    expect(passphrase.type).toBe('password');
    expect(passphrase.value).toBe('open sesame');
    await userEvent.click(screen.getByTestId('connection-save'));
    await waitFor(() => expect(api.callsOf('connections.save')).toHaveLength(1));
    expect(api.callsOf('connections.save')[0]).toMatchObject({ sslKey: '/k/client.key', sslPassword: 'open sesame' });
  });

  it('names invalid SSH fields, and offers an unknown host key to trust', async () => {
    const fingerprint = `SHA256:${'A'.repeat(43)}`;
    const { api } = renderWithApi(<ConnectionsScreen />, {
      handlers: {
        'connections.test': () => ({
          ok: false,
          failure: 'ssh_host_key',
          message: `The SSH host key of bastion:22 is not known yet: ssh-ed25519 ${fingerprint}.`,
          sshHostKey: { fingerprint, keyType: 'ssh-ed25519' },
        }),
      },
    });
    await userEvent.click(await screen.findByTestId('connection-add'));
    await fill('connection-name', 'Behind bastion');
    await userEvent.click(screen.getByTestId('connection-useSsh'));
    await userEvent.click(screen.getByTestId('connection-save'));
    expect(screen.getByTestId('connection-sshHost-error').textContent).toBe('SSH host is required');
    expect(screen.getByTestId('connection-sshKeyFile-error').textContent).toBe(
      'SSH key file is required for key authentication',
    );
    expect(api.callsOf('connections.save')).toHaveLength(0);

    await fill('connection-sshHost', 'bastion');
    await fill('connection-sshUser', 'ops');
    await fill('connection-sshKeyFile', '~/.ssh/id_ed25519');
    await userEvent.click(screen.getByTestId('connection-test'));
    expect((await screen.findByTestId('connection-host-key')).textContent).toBe(`ssh-ed25519 ${fingerprint}`);
    await userEvent.click(screen.getByTestId('connection-host-key-accept'));
    expect((screen.getByTestId('connection-sshHostKey') as HTMLInputElement).value).toBe(fingerprint);
    await userEvent.click(screen.getByTestId('connection-production'));
    await userEvent.click(screen.getByTestId('connection-save'));
    await waitFor(() => expect(api.callsOf('connections.save')).toHaveLength(1));
    expect(api.callsOf('connections.save')[0]).toMatchObject({
      production: true,
      ssh: { host: 'bastion', port: 22, user: 'ops', auth: 'key', keyFile: '~/.ssh/id_ed25519', hostKey: fingerprint },
    });
  });

  it('imports the chosen services of pg_service.conf, and cannot choose one that needs fixing', async () => {
    const service = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      file: `/home/dba/.pg_service.conf:1`,
      host: 'db.example.com',
      port: 5432,
      database: 'sales',
      user: 'app',
      sslMode: 'verify-full' as const,
      pgpassPassword: true,
      ignored: [],
      ...extra,
    });
    const { api } = renderWithApi(<ConnectionsScreen />, {
      handlers: {
        'connections.services': () => ({
          files: ['/home/dba/.pg_service.conf'],
          services: [service('sales'), service('broken', { problem: 'the certificate path "ca.pem" is relative' })],
        }),
      },
    });
    await userEvent.click(await screen.findByTestId('connection-import'));
    const entries = await screen.findAllByTestId('service-entry');
    expect(entries.map((entry) => entry.dataset.service)).toEqual(['sales', 'broken']);
    expect((within(entries[1]!).getByTestId('service-choose') as HTMLInputElement).disabled).toBe(true);
    expect(entries[1]!.textContent).toContain('is relative');
    await userEvent.click(within(entries[0]!).getByTestId('service-choose'));
    await userEvent.click(screen.getByTestId('service-import-save'));
    await waitFor(() => expect(api.callsOf('connections.importServices')).toEqual([{ names: ['sales'] }]));
    await waitFor(() => expect(screen.queryByTestId('service-import')).toBeNull());
  });
});
