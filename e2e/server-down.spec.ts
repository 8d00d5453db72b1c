// The server goes away mid-session and comes back: the user sees one state
// (the sidebar and a banner naming the server, in plain words, with the last
// answer's time), the data already on screen dated as stale rather than
// replaced by "no tables", and everything fresh again once the server answers,
// without touching anything.
import type { Page } from '@playwright/test';
import { expect, test } from './support/fixtures.js';
import { migrateTable } from './support/managed.js';
import { startRestartableServer, type RestartableServer } from './support/postgres.js';
import { EVENTS_TABLE, KEY_COLUMN } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;
/** The heartbeat asks every 5 s while the server answers: it notices an outage within that, plus the failed request. */
const NOTICED = { timeout: 20_000 };

let server: RestartableServer;

test.beforeEach(async () => {
  server = await startRestartableServer();
  await migrateTable(server, { schema: 'public', table: EVENTS_TABLE, keyColumn: KEY_COLUMN, bucketLimit: 2_500 });
});

test.afterEach(async () => {
  await server?.close();
});

async function visibleText(page: Page): Promise<string> {
  return page.evaluate(() => document.body.innerText);
}

test('a server that stops and starts again mid-session', async ({ app, page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  const { shell, connections, tables, explorer } = app;
  const where = `${server.connection.host}:${server.connection.port}`;
  const banner = page.getByTestId('connection-banner');
  const health = shell.activeConnection;

  await test.step('connected: Tables and the Explorer show the data', async () => {
    await connections.openNewForm();
    await connections.fill({ name: 'Restarting server', ...server.connection });
    await connections.save();
    await connections.use('Restarting server');
    await expect(tables.row(EVENTS)).toHaveAttribute('data-managed', 'true');
    await shell.go('explorer');
    await explorer.waitLoaded();
    await expect(explorer.totals).toContainText('60 level-1 partitions');
    await expect(health).toHaveAttribute('data-health', 'ok');
    await expect(banner).toHaveCount(0);
  });

  await test.step('the server stops: one clear state, the data kept and dated', async () => {
    await server.stop();
    // Nothing is clicked: the heartbeat finds out.
    await expect(health).toHaveAttribute('data-health', 'unreachable', NOTICED);
    await expect(health.getByTestId('connection-health')).toHaveText('unreachable, retrying…');
    await expect(banner.getByTestId('connection-banner-title')).toHaveText(`Server unreachable at ${where}, retrying…`);
    await expect(banner.getByTestId('connection-banner-message')).toHaveText(
      `Nothing is listening on ${where} (connection refused).`,
      NOTICED,
    );
    await expect(banner.getByTestId('connection-banner-since')).toHaveText(
      /^Last answer at \d\d:\d\d:\d\d: what the screens show dates from then\.$/,
    );
    // The Explorer keeps its tree, marked as not current.
    await expect(explorer.root.getByTestId('stale-mark')).toHaveText(/^as of \d\d:\d\d:\d\d, not current$/);
    await expect(explorer.partitions().first()).toBeVisible();
    await shell.screenshotBothThemes('server-down-explorer');

    // Tables, refreshed by hand while the server is away: the list stays, no "no tables", no raw error text.
    await shell.go('tables');
    await tables.refresh();
    await expect(tables.row(EVENTS)).toBeVisible();
    await expect(tables.root.getByTestId('stale-mark')).toBeVisible();
    await expect(tables.root.getByTestId('tables-empty')).toHaveCount(0);
    await expect(tables.root.getByTestId('error-state')).toHaveCount(0);
    expect(await visibleText(page)).not.toContain('ECONNREFUSED');
    // The raw error is one click away.
    await banner.getByTestId('connection-banner-detail').locator('summary').click();
    await expect(banner.getByTestId('connection-banner-detail')).toContainText('ECONNREFUSED');
    await shell.screenshotBothThemes('server-down-tables');
    await page.setViewportSize({ width: 1024, height: 700 });
    await shell.screenshotBothThemes('server-down-tables-1024');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await test.step('the server is back: everything recovers by itself', async () => {
    await server.start();
    await expect(health).toHaveAttribute('data-health', 'ok', NOTICED);
    await expect(banner).toHaveCount(0);
    await expect(tables.root.getByTestId('stale-mark')).toHaveCount(0);
    await expect(tables.row(EVENTS)).toHaveAttribute('data-managed', 'true');
    await shell.go('explorer');
    await explorer.waitLoaded();
    await expect(explorer.root.getByTestId('stale-mark')).toHaveCount(0);
    await expect(explorer.totals).toContainText('60 level-1 partitions');
  });
});
