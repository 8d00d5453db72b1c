// Offboarding a tenant from the Explorer: export its rows to a file, then
// drop it (the confirmation names the key with its rows and bytes and shows
// the plan), and detach another; the tree shows each result without a
// refresh, Runs lists the three actions, and the database agrees.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from './support/fixtures.js';
import { migrateTable } from './support/managed.js';
import { SCREENSHOT_DIR } from './support/paths.js';
import { EVENTS_TABLE, KEY_COLUMN } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;

test('exports, drops and detaches tenants from the Explorer', async ({ app, db, page }) => {
  await migrateTable(db, { schema: 'public', table: EVENTS_TABLE, keyColumn: KEY_COLUMN, bucketLimit: 2_500 });
  const { shell, connections, tables, explorer } = app;
  const [counted] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = 7`,
  );
  const tenant7 = counted!.n;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-e2e-export-'));
  const file = path.join(dir, 'tenant-7.csv');

  await test.step('connect and open the Explorer', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: 'Keys', ...db.connection });
    await connections.save();
    await connections.use('Keys');
    await expect(tables.row(EVENTS)).toBeVisible();
    await shell.go('explorer');
    await explorer.waitLoaded();
  });

  await test.step('export tenant 7 to a CSV file', async () => {
    await explorer.searchFor('7');
    await explorer.select('7');
    await expect(explorer.root.getByTestId('key-selection')).toContainText('1 key selected: 7');
    const dialog = await explorer.openKeyAction('export');
    await expect(dialog.getByTestId('key-plan-rows')).toHaveText(`${tenant7.toLocaleString('en-US')} rows`);
    await expect(dialog.getByTestId('confirm-accept')).toBeDisabled();
    await dialog.getByTestId('key-export-path').fill(file);
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText(
      `Key 7 of public.${EVENTS_TABLE}: ${tenant7.toLocaleString('en-US')} rows exported`,
    );
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-export-done.png') });
    await dialog.getByTestId('confirm-cancel').click();
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(`id,${KEY_COLUMN},kind,payload,created_at`);
    expect(lines).toHaveLength(tenant7 + 1);
  });

  await test.step('drop tenant 7: the confirmation names it with its rows and bytes and shows the plan', async () => {
    const dialog = await explorer.openKeyAction('drop');
    await expect(dialog.getByRole('heading')).toHaveText(`Drop 1 key of public.${EVENTS_TABLE}?`);
    const plan = dialog.getByTestId('key-plan');
    await expect(plan).toContainText('Key 7 (active)');
    await expect(plan.getByTestId('key-plan-rows')).toHaveText(`${tenant7.toLocaleString('en-US')} rows`);
    await expect(plan.getByTestId('key-plan-bytes')).toHaveText(/^\d[\d.,]* (B|kB|MB)$/);
    await expect(plan.getByTestId('key-plan-ddl')).toContainText(`DROP TABLE ${EVENTS_TABLE}_${KEY_COLUMN}_7`);
    await expect(plan.getByTestId('key-plan-locks')).toContainText('ACCESS EXCLUSIVE');
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-drop-confirm.png') });
    await expect(dialog.getByTestId('confirm-accept')).toBeDisabled();
    await dialog.getByTestId('confirm-acknowledge').check();
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText(
      `Key 7 of public.${EVENTS_TABLE} dropped: ${tenant7.toLocaleString('en-US')} rows`,
    );
    await dialog.getByTestId('confirm-cancel').click();
    // No refresh: the tree and the dropped keys update from the invalidated queries.
    await expect(explorer.partition('7')).toHaveCount(0);
    await expect(explorer.root.getByTestId('key-action-bar')).toHaveCount(0);
    await expect(explorer.root.getByTestId('retired-keys')).toContainText('1 dropped key: 7');
  });

  await test.step('detach tenant 17: its row shows the state', async () => {
    await explorer.searchFor('17');
    await explorer.select('17');
    const dialog = await explorer.openKeyAction('detach');
    await expect(dialog.getByTestId('key-plan-ddl')).toContainText('DETACH PARTITION');
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText('detached');
    await dialog.getByTestId('confirm-cancel').click();
    await expect(explorer.partition('17').getByTestId('key-state')).toHaveText('detached');
    // Its rows left the partitioned table: the totals count them apart.
    await expect(explorer.root.getByTestId('tree-detached')).toHaveText(
      /^not counted: 1 detached key \([\d,]+ rows?\)$/,
    );
    await explorer.search.fill('');
    await page.getByTestId('retired-keys').locator('summary').click();
    await shell.screenshotBothThemes('keys-explorer-after');
  });

  await test.step('Runs lists the three actions from their journal', async () => {
    await shell.go('runs');
    const rows = page.getByTestId('key-history-row');
    await expect(rows).toHaveCount(3);
    await expect(rows.nth(0)).toContainText(`detach`);
    await expect(rows.nth(0)).toContainText(`public.${EVENTS_TABLE} key 17`);
    await expect(rows.nth(1)).toContainText('drop');
    await expect(rows.nth(1)).toContainText(`${tenant7.toLocaleString('en-US')} rows`);
    await expect(rows.nth(2)).toContainText('export');
    for (const status of await rows.getByTestId('key-history-status').all())
      await expect(status).toHaveAttribute('data-status', 'succeeded');
    await page.getByTestId('key-action-history').scrollIntoViewIfNeeded();
    await shell.screenshotBothThemes('keys-runs');
  });

  const state = await db.query(
    `SELECT key_value, state FROM partwise.partition_tracker WHERE key_value IN ('7', '17') ORDER BY 1`,
  );
  expect(state).toEqual([{ key_value: '17', state: 'detached' }]);
  expect(await db.query(`SELECT key_value, on_insert FROM partwise.retired_key`)).toEqual([
    { key_value: '7', on_insert: 'refuse' },
  ]);
  expect(await db.query(`SELECT count(*)::int AS n FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} IN (7, 17)`)).toEqual([
    { n: 0 },
  ]);
  fs.rmSync(dir, { recursive: true });
});

test('compacts a tenant whose buckets ran mostly empty, from the Explorer', async ({ app, db }) => {
  await migrateTable(db, { schema: 'public', table: EVENTS_TABLE, keyColumn: KEY_COLUMN, bucketLimit: 1_000 });
  const { shell, connections, tables, explorer } = app;
  const [config] = await db.query<{ root: string }>(
    `SELECT format('%I.%I', table_schema, partitioned_table) AS root FROM partwise.partition_config`,
  );
  // Tenant 1's closed buckets (about 10,000 rows) lose 19 rows of every 20:
  // about 500 are left, which one bucket holds; the current bucket keeps its rows.
  await db.query(
    `DELETE FROM ${config!.root} WHERE ${KEY_COLUMN} = 1 AND id % 20 <> 0
        AND bucket_id < (SELECT current_bucket_id FROM partwise.partition_tracker WHERE key_value = '1')`,
  );
  const countOf = async (): Promise<number> =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = 1`))[0]!.n;
  const rows = await countOf();
  const [before] = await db.query<{ leaves: number; closed: number; left: number }>(
    `SELECT count(*)::int AS leaves, count(*) FILTER (WHERE b.bucket_id < t.current_bucket_id)::int AS closed,
            (SELECT count(*)::int FROM ${config!.root} r WHERE r.${KEY_COLUMN} = 1 AND r.bucket_id < t.current_bucket_id) AS left
       FROM partwise.partition_bucket b JOIN partwise.partition_tracker t USING (config_id, key_value)
      WHERE b.key_value = '1' GROUP BY t.current_bucket_id`,
  );
  expect(before!.closed).toBeGreaterThan(5);
  expect(before!.left).toBeLessThanOrEqual(1_000);
  // The closed buckets' rows fit in one: the current bucket (and any opened ahead) stay.
  const after = before!.leaves - before!.closed + 1;

  await test.step('connect and open the Explorer', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: 'Compact', ...db.connection });
    await connections.save();
    await connections.use('Compact');
    await expect(tables.row(EVENTS)).toBeVisible();
    await shell.go('explorer');
    await explorer.waitLoaded();
  });

  await test.step('the plan of compacting tenant 1 shows its leaves before and after and the locks', async () => {
    await explorer.searchFor('1');
    await expect(explorer.partition('1').getByTestId('bucket-count')).toHaveText(String(before!.leaves));
    await explorer.select('1');
    const dialog = await explorer.openKeyAction('compact');
    await expect(dialog.getByRole('heading')).toHaveText(`Compact 1 key of public.${EVENTS_TABLE}?`);
    await expect(dialog.getByTestId('key-plan-compaction')).toContainText(
      `${before!.leaves} leaves before, ${after} after`,
    );
    await expect(dialog.getByTestId('key-plan-locks')).toContainText('EXCLUSIVE on each emptied leaf');
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-compact-confirm.png') });
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog.getByTestId('key-action-results')).toContainText(`Key 1 of public.${EVENTS_TABLE} compacted:`);
    await expect(dialog.getByTestId('key-action-results')).toContainText(
      `${before!.leaves} leaves before, ${after} after.`,
    );
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, 'keys-compact-done.png') });
    await dialog.getByTestId('confirm-cancel').click();
  });

  await test.step('the tree shows the fewer leaves without a refresh', async () => {
    await expect(explorer.partition('1').getByTestId('bucket-count')).toHaveText(String(after));
    await explorer.expand('1');
    await expect(explorer.buckets('1')).toHaveCount(after);
    await shell.screenshotBothThemes('keys-compact-after');
  });

  expect(await countOf()).toBe(rows);
  expect(await db.query(`SELECT count(*)::int AS n FROM partwise.partition_bucket WHERE key_value = '1'`)).toEqual([
    { n: 2 },
  ]);
});
