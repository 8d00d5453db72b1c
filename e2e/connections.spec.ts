// Connections: what a user sees when a password is wrong, and the Sandbox
// started from the Connections screen of the real `npm run web` process.
import { expect, test, watchPage } from './support/fixtures.js';
import { PartwiseApp } from './pages/app.js';
import { startWebProcess } from './support/web-process.js';

test('a wrong password shows the authentication error, and the right one then connects', async ({ app, db }) => {
  const { connections, shell, tables } = app;
  await connections.openNewForm();
  await connections.fill({ name: 'Wrong password', ...db.connection, password: 'not-the-password' });
  const result = await connections.testDraft();
  await expect(result).toHaveAttribute('data-tone', 'error');
  await expect(result.getByTestId('connection-test-message')).toHaveText(
    `Password authentication failed for user "${db.connection.user}".`,
  );
  // The form hands the password field back to the user.
  await expect(connections.form.getByTestId('connection-password')).toBeFocused();

  // Saved anyway, the connection fails where it is used, with the same cause.
  await connections.save();
  await connections.use('Wrong password');
  await expect(tables.root.getByTestId('error-state')).toHaveAttribute('data-error-kind', 'auth');

  await shell.go('connections');
  await connections.row('Wrong password').getByTestId('connection-edit').click();
  await connections.form.getByTestId('password-replace').click();
  await connections.form.getByTestId('connection-password').fill(db.connection.password);
  await expect(await connections.testDraft()).toHaveAttribute('data-tone', 'success');
  await connections.save();
  // Saving drops what was cached for the connection: the list loads without a Retry.
  await connections.use('Wrong password');
  await expect(tables.row('public.tenant_events')).toBeVisible();
  await expect(tables.root.getByTestId('error-state')).toHaveCount(0);
});

test('the Sandbox starts from the Connections screen and shows its tables', async ({ page }) => {
  test.setTimeout(240_000);
  const web = await startWebProcess();
  try {
    const problems = watchPage(page);
    const app = new PartwiseApp(page);
    await app.shell.open(web.url);
    await expect(app.connections.sandbox.getByTestId('sandbox-start')).toBeEnabled();
    await app.connections.startSandbox();
    // The first start creates the cluster and seeds about 300,000 rows.
    await expect(app.tables.root).toBeVisible({ timeout: 180_000 });
    await expect(app.shell.activeConnection).toHaveAttribute('data-connection-id', 'sandbox');
    for (const table of ['public.custom_module_data', 'public.customers', 'public.custom_module_equipment_map']) {
      await expect(app.tables.row(table)).toHaveAttribute('data-managed', 'false');
    }
    await app.tables.open('public.custom_module_data');
    await expect(app.tables.column('customer_id')).toHaveAttribute('data-usable', 'true');
    await app.shell.go('connections');
    await expect(app.connections.sandbox).toHaveAttribute('data-connection-id', 'sandbox');
    expect(problems, 'errors in the browser').toEqual([]);
  } finally {
    await web.stop();
  }
});
