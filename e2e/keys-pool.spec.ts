// A tenant that outgrew the pool of small keys, isolated from the Explorer:
// the plan names the pool leaves it reads and the locks, the result says how
// long the pool was locked, and the tree shows the key with buckets of its own
// without a refresh; Runs lists the action; the database agrees.
import path from 'node:path';
import pg from 'pg';
import { finalize } from '../electron/engine/index.js';
import { expect, test } from './support/fixtures.js';
import { migrateTable } from './support/managed.js';
import { SCREENSHOT_DIR } from './support/paths.js';
import { EVENTS_TABLE, KEY_COLUMN } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;

test('isolates a pooled tenant from the Explorer', async ({ app, db, page }) => {
  const runId = await migrateTable(db, {
    schema: 'public',
    table: EVENTS_TABLE,
    keyColumn: KEY_COLUMN,
    bucketLimit: 1_000,
  });
  const pool = new pg.Pool({ ...db.connection, max: 2 });
  try {
    await finalize(pool, runId);
  } finally {
    await pool.end();
  }
  // As the table's owner, as the app would (the pool's ticket counter is the owner's).
  // New tenants 501 to 520 are pooled; tenant 507 writes 1,500 rows, more than the threshold.
  await db.queryAsOwner(`SELECT partwise.share_small_keys(config_id, 1000) FROM partwise.partition_config`);
  await db.queryAsOwner(
    `INSERT INTO ${EVENTS_TABLE} (${KEY_COLUMN}, kind, payload)
     SELECT 501 + g % 20, 'order', 'p' FROM generate_series(1, 2000) g
     UNION ALL SELECT 507, 'order', 'big' FROM generate_series(1, 1400) g`,
  );
  const { shell, connections, tables, explorer } = app;

  await test.step('connect and open the Explorer: tenant 507 is in the pool', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: 'Pool', ...db.connection });
    await connections.save();
    await connections.use('Pool');
    await expect(tables.row(EVENTS)).toBeVisible();
    await shell.go('explorer');
    await explorer.waitLoaded();
    await explorer.searchFor('507');
    await expect(explorer.partition('507').getByTestId('key-pooled')).toHaveText('in pool');
  });

  await test.step('the plan of isolating tenant 507, then the isolation', async () => {
    await explorer.select('507');
    const dialog = await explorer.openKeyAction('isolate');
    await expect(dialog.getByRole('heading')).toHaveText(`Isolate 1 key of ${EVENTS}?`);
    const plan = dialog.getByTestId('key-plan');
    await expect(plan.getByTestId('key-plan-rows')).toHaveText('1,500 rows');
    await expect(plan).toContainText('into a partition of its own with 2 buckets of at most 1,000 rows');
    await expect(plan.getByTestId('key-plan-locks')).toContainText(
      'ACCESS EXCLUSIVE on the pool of small keys and each of its leaves',
    );
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-isolate-confirm.png') });
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText(
      `Key 507 of ${EVENTS} isolated: 1,500 rows moved out of the pool into ${EVENTS_TABLE}_${KEY_COLUMN}_507 (2 buckets)`,
    );
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-isolate-done.png') });
    await dialog.getByTestId('confirm-cancel').click();
  });

  await test.step('the tree shows tenant 507 with buckets of its own without a refresh', async () => {
    await expect(explorer.partition('507').getByTestId('key-pooled')).toHaveCount(0);
    await expect(explorer.partition('507').getByTestId('bucket-count')).toHaveText('2');
    // Its new leaves were analyzed: the estimate is no longer 0.
    await expect(explorer.partition('507')).toContainText('1,500');
    await shell.screenshotBothThemes('keys-isolate-after');
  });

  await test.step('Runs lists the isolation', async () => {
    await shell.go('runs');
    const rows = page.getByTestId('key-history-row');
    await expect(rows.nth(0)).toContainText('isolate');
    await expect(rows.nth(0)).toContainText(`${EVENTS} key 507`);
    await expect(rows.nth(0).getByTestId('key-history-status')).toHaveAttribute('data-status', 'succeeded');
  });

  expect(await db.query(`SELECT in_pool, state FROM partwise.partition_tracker WHERE key_value = '507'`)).toEqual([
    { in_pool: false, state: 'active' },
  ]);
  expect(await db.query(`SELECT count(*)::int AS n FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = 507`)).toEqual([
    { n: 1_500 },
  ]);
});
