// Reaching a server behind a bastion, over verified TLS with a client
// certificate, from the Connections form of the app in the browser: a pasted
// URL fills the fields, the bastion's unknown host key is shown and trusted,
// the connection is marked production, and a migration runs end to end
// through the tunnel (the table's name typed to start it). Against Debian's
// OpenSSH server and a TLS-only PostgreSQL started for this file.
import path from 'node:path';
import pg from 'pg';
import type { Page } from '@playwright/test';
import { startSshServer, type SshServer } from '../electron/testing/ssh-server.js';
import { startTlsServer, type TlsServer } from '../electron/testing/tls-server.js';
import { expect, test } from './support/fixtures.js';
import { SCREENSHOT_DIR } from './support/paths.js';

let ssh: SshServer;
let tls: TlsServer;

async function asCertUser(text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client(tls.adminUrl.replace(/\/postgres$/, `/${tls.database}`));
  await client.connect();
  try {
    await client.query(`SET ROLE ${tls.certUser}`);
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({
    path: path.join(SCREENSHOT_DIR, `ssh-tls-${name}.png`),
    animations: 'disabled',
    fullPage: true,
  });
}

test.beforeAll(async () => {
  [ssh, tls] = await Promise.all([startSshServer(), startTlsServer()]);
  await asCertUser(`CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, body text)`);
  await asCertUser(
    `INSERT INTO events (account_id, body) SELECT 1 + g % 6, 'event ' || g FROM generate_series(1, 6000) g`,
  );
  await asCertUser('ANALYZE events');
});

test.afterAll(async () => {
  await Promise.all([ssh?.stop(), tls?.stop()]);
});

test('a migration through an SSH tunnel over verified TLS with a client certificate', async ({ app, page }) => {
  test.setTimeout(180_000);
  const { connections, shell, tables, plan, runs } = app;
  await page.setViewportSize({ width: 1280, height: 1000 });

  await test.step('paste the URL, add the bastion, trust its host key', async () => {
    await connections.openNewForm();
    const query = new URLSearchParams({
      sslmode: 'verify-full',
      sslrootcert: tls.files.ca,
      sslcert: tls.files.clientCert,
      sslkey: tls.files.clientKey,
      application_name: 'partwise e2e',
    });
    // localhost as the bastion sees the server: the certificate names localhost, and verify-full checks it.
    await connections.form
      .getByTestId('connection-url')
      .fill(
        `postgresql://${tls.certUser}@localhost:${tls.port}/${tls.database}?${query.toString().replace(/\+/g, '%20')}`,
      );
    await connections.form.getByTestId('connection-url-fill').click();
    await expect(connections.form.getByTestId('connection-sslMode')).toHaveValue('verify-full');
    await expect(connections.form.getByTestId('connection-sslCert')).toHaveValue(tls.files.clientCert);
    await connections.form.getByTestId('connection-name').fill('Orders (production, via bastion)');
    await connections.form.getByText('SSH tunnel through a bastion').click();
    await expect(connections.form.getByTestId('connection-useSsh')).toBeChecked();
    await connections.form.getByTestId('connection-sshHost').fill(ssh.host);
    await connections.form.getByTestId('connection-sshPort').fill(String(ssh.port));
    await connections.form.getByTestId('connection-sshUser').fill(ssh.user);
    await connections.form.getByTestId('connection-sshKeyFile').fill(ssh.key);

    const unknown = await connections.testDraft();
    await expect(unknown).toHaveAttribute('data-tone', 'error');
    await expect(unknown.getByTestId('connection-test-message')).toContainText('is not known yet');
    await expect(unknown.getByTestId('connection-host-key')).toHaveText(`ssh-ed25519 ${ssh.hostKey.fingerprint}`);
    await shot(page, '1-host-key');
    await unknown.getByTestId('connection-host-key-accept').click();
    await expect(connections.form.getByTestId('connection-sshHostKey')).toHaveValue(ssh.hostKey.fingerprint);

    await connections.form.getByText('Production: a red band on every screen', { exact: false }).click();
    await expect(connections.form.getByTestId('connection-production')).toBeChecked();
    const reached = await connections.testDraft();
    await expect(reached).toHaveAttribute('data-tone', 'success');
    await expect(reached.getByTestId('connection-test-message')).toHaveText(
      new RegExp(
        `^Connected to PostgreSQL [\\d.]+ \\(TLS\\) through the SSH tunnel via ${ssh.host.replace(/\./g, '\\.')}\\.$`,
      ),
    );
    await shot(page, '2-connected');
    await connections.save();
    const row = connections.row('Orders (production, via bastion)');
    await expect(row.getByTestId('connection-ssh-badge')).toHaveText(`SSH via ${ssh.user}@${ssh.host}:${ssh.port}`);
    await expect(row.getByTestId('connection-production-badge')).toBeVisible();
    await shot(page, '3-connections');
    await connections.use('Orders (production, via bastion)');
  });

  await test.step('every screen carries the production band; the migration asks for the table name', async () => {
    await expect(tables.root).toBeVisible();
    await expect(page.getByTestId('production-band')).toContainText(
      `${tls.certUser}@localhost:${tls.port}/${tls.database} via ${ssh.host}`,
    );
    await tables.open('public.events');
    await tables.addTarget('account_id', 1500);
    await shot(page, '4-tables');
    await tables.goToPlan();
    await plan.waitPlanned(['public.events']);
    await expect(page.getByTestId('production-band')).toBeVisible();
    await plan.openStartDialog();
    const accept = plan.startDialog.getByTestId('confirm-accept');
    await expect(accept).toBeDisabled();
    await plan.startDialog.getByTestId('confirm-type').fill('public.event');
    await expect(accept).toBeDisabled();
    await plan.startDialog.getByTestId('confirm-type').fill('public.events');
    await shot(page, '5-typed-confirmation');
    await plan.confirmStart();
    expect(await runs.waitFinished()).toBe('succeeded');
    await expect(page.getByTestId('production-band')).toBeVisible();
    await shot(page, '6-migrated');
    await shell.go('connections');
  });

  const [table] = await asCertUser(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = 'events'::regclass) AS kind, (SELECT count(*)::int FROM events) AS n,
            (SELECT count(*)::int FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.application_name = 'partwise e2e' AND s.ssl AND s.client_dn = '/CN=${tls.certUser}') AS tls_sessions`,
  );
  expect(table).toMatchObject({ kind: 'v', n: 6000 });
  // The app's pool is still open: its sessions are TLS ones, logged in by certificate.
  expect(table!.tls_sessions).toBeGreaterThan(0);
});
