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
import type { TestDatabase } from './support/postgres.js';
import { EVENTS_TABLE, KEY_COLUMN } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;

/** The events table migrated with a partition per key and finalized, then given a pool of keys under 1,000 rows. */
async function migrateWithPool(db: TestDatabase): Promise<void> {
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
  await db.queryAsOwner(`SELECT partwise.share_small_keys(config_id, 1000) FROM partwise.partition_config`);
}

test('isolates a pooled tenant from the Explorer', async ({ app, db, page }) => {
  await migrateWithPool(db);
  // New tenants 501 to 520 are pooled; tenant 507 writes 1,500 rows, more than the threshold.
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

// The reverse: a tenant with a partition of its own, on a table with a pool,
// shared from the Explorer: the plan names the rows moved and the lock on the
// table, the result says how long it was held, and the tree shows the key in
// the pool without a refresh; its partition is gone; Runs lists the action.
test('shares a tenant with a partition of its own into the pool from the Explorer', async ({ app, db, page }) => {
  await migrateWithPool(db);
  // Tenant 60, the smallest of the seed, has a partition of its own since the migration.
  const [tenant] = await db.query<{ rows: number; partition: string }>(
    `SELECT (SELECT count(*)::int FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = 60) AS rows,
            level_one_partition::text AS partition
       FROM partwise.partition_tracker WHERE key_value = '60' AND NOT in_pool`,
  );
  expect(tenant!.rows).toBeGreaterThan(0);
  const rows = tenant!.rows.toLocaleString('en-US');
  const { shell, connections, tables, explorer } = app;

  await test.step('connect and open the Explorer: tenant 60 has a partition of its own', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: 'Share', ...db.connection });
    await connections.save();
    await connections.use('Share');
    await expect(tables.row(EVENTS)).toBeVisible();
    await shell.go('explorer');
    await explorer.waitLoaded();
    await explorer.searchFor('60');
    await expect(explorer.partition('60')).toBeVisible();
    await expect(explorer.partition('60').getByTestId('key-pooled')).toHaveCount(0);
  });

  await test.step('the plan of sharing tenant 60, then the share', async () => {
    await explorer.select('60');
    const dialog = await explorer.openKeyAction('share');
    await expect(dialog.getByRole('heading')).toHaveText(`Share 1 key of ${EVENTS}?`);
    const plan = dialog.getByTestId('key-plan');
    await expect(plan.getByTestId('key-plan-rows')).toHaveText(`${rows} rows`);
    await expect(plan).toContainText('into the pool of small keys');
    await expect(plan.getByTestId('key-plan-locks')).toContainText('ACCESS EXCLUSIVE');
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-share-confirm.png') });
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText(
      `Key 60 of ${EVENTS} shares the pool of small keys: ${rows} rows moved out of`,
    );
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-share-done.png') });
    await dialog.getByTestId('confirm-cancel').click();
  });

  await test.step('the tree shows tenant 60 in the pool without a refresh', async () => {
    await expect(explorer.partition('60').getByTestId('key-pooled')).toHaveText('in pool');
    // The totals are the tree's now: tenant 60's partition and leaf gone.
    const [tree] = await db.query<{ levelOne: number; leaves: number }>(
      `SELECT count(*) FILTER (WHERE level = 1)::int AS "levelOne", count(*) FILTER (WHERE isleaf)::int AS leaves
         FROM pg_partition_tree('${EVENTS_TABLE}_partitioned')`,
    );
    const totals = explorer.root.getByTestId('tree-totals');
    await expect(totals).toContainText(`${tree!.levelOne} level-1 partitions`);
    await expect(totals).toContainText(`${tree!.leaves} leaves`);
    await shell.screenshotBothThemes('keys-share-after');
  });

  await test.step('Runs lists the share', async () => {
    await shell.go('runs');
    const history = page.getByTestId('key-history-row');
    await expect(history.nth(0)).toContainText('share');
    await expect(history.nth(0)).toContainText(`${EVENTS} key 60`);
    await expect(history.nth(0).getByTestId('key-history-status')).toHaveAttribute('data-status', 'succeeded');
  });

  expect(await db.query(`SELECT in_pool, state FROM partwise.partition_tracker WHERE key_value = '60'`)).toEqual([
    { in_pool: true, state: 'active' },
  ]);
  expect(await db.query(`SELECT to_regclass($1) IS NULL AS dropped`, [tenant!.partition])).toEqual([{ dropped: true }]);
  expect(await db.query(`SELECT count(*)::int AS n FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = 60`)).toEqual([
    { n: tenant!.rows },
  ]);
});
