// The Plan screen and the start dialog as a DBA meets them, through the real
// backend: a bucket limit whose tree the lock table cannot hold is a warning
// with the setting and the limit that fit, rows without a key are a blocker
// (Start disabled, the fix shown), and the start dialog repeats the warnings
// and says what the default workers do. Screenshots at 1440x900 and 1024x700.
import path from 'node:path';
import type { Page } from '@playwright/test';
import type { PartwiseApp } from './pages/app.js';
import type { TestDatabase } from './support/postgres.js';
import { expect, test } from './support/fixtures.js';
import { SCREENSHOT_DIR } from './support/paths.js';
import { EVENTS_TABLE, KEY_COLUMN, NOTES_TABLE } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;
const NOTES = `public.${NOTES_TABLE}`;
const SIZES = [
  { width: 1440, height: 900 },
  { width: 1024, height: 700 },
];

async function connect(app: PartwiseApp, db: TestDatabase): Promise<void> {
  const { shell, connections, tables } = app;
  await shell.go('connections');
  await connections.openNewForm();
  await connections.fill({ name: `E2E ${db.name}`, ...db.connection });
  await connections.save();
  await connections.use(`E2E ${db.name}`);
  await expect(tables.root).toBeVisible();
}

/** The window at each size, as it is: `<name>-<width>.png`. */
async function screenshots(page: Page, name: string): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.mouse.move(0, size.height - 1);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-${size.width}.png`), animations: 'disabled' });
  }
}

test('a tree the lock table cannot hold is a warning, keyless rows block Start; the start dialog repeats the warnings', async ({
  app,
  db,
  page,
}) => {
  const { tables, plan, shell } = app;
  await page.setViewportSize(SIZES[0]!);
  await connect(app, db);

  await test.step('one row per bucket: 40,000 leaves against a lock table of 6,400; rows without a key', async () => {
    await tables.open(EVENTS);
    await tables.addTarget(KEY_COLUMN, 1);
    await expect(tables.queued(EVENTS)).toContainText('1 row per bucket');
    await tables.open(NOTES);
    await tables.addTarget(KEY_COLUMN, 100);
    await tables.goToPlan();
    await plan.waitPlanned([EVENTS, NOTES]);
    const card = plan.card(EVENTS);
    await expect(card.getByTestId('plan-counting')).toContainText('Counted exactly by scanning the table');
    // The run locks a bounded share of the tree per transaction, the
    // primary key's registry included: what the tree costs is the
    // application's queries that do not filter by the key.
    const warning = plan.issue(EVENTS, 'warning', 'partition_tree_too_large');
    await expect(warning).toBeVisible();
    await expect(warning).toContainText('The tree would have 40,061 partitions: more than the lock table holds');
    await expect(warning).toContainText('ALTER SYSTEM SET max_locks_per_transaction = 802;');
    await expect(card).toContainText('1 row per bucket');
    const blocker = plan.issue(NOTES, 'blocker', 'null_keys');
    await expect(blocker).toBeVisible();
    await expect(blocker).toContainText('100 rows have no tenant_id (NULL)');
    await expect(blocker).toContainText(
      `UPDATE ${NOTES} SET "${KEY_COLUMN}" = <a key value> WHERE "${KEY_COLUMN}" IS NULL;  -- or delete those rows`,
    );
    await expect(plan.status).toHaveText('1 blocker to fix before starting');
    await expect(plan.start).toBeDisabled();
    await screenshots(page, 'plan-limit-1');
  });

  await test.step('a bucket limit that fits: Start opens a dialog that repeats the warnings', async () => {
    await page.setViewportSize(SIZES[0]!);
    await plan.removeTarget(NOTES);
    await plan.removeTarget(EVENTS);
    await shell.go('tables');
    await tables.open(EVENTS);
    await tables.addTarget(KEY_COLUMN, 2_500);
    await tables.goToPlan();
    await plan.waitPlanned([EVENTS]);
    await expect(plan.status).toContainText('Ready, with');
    await plan.openStartDialog();
    const warnings = plan.startDialog.getByTestId('start-warnings');
    // The primary key stays unique across the table (a registry), so it is no warning any more.
    await expect(warnings.locator('[data-code="workload_unknown"]')).toBeVisible();
    await expect(warnings.locator('[data-code="no_upserts"]')).toBeVisible();
    await expect(warnings.locator('[data-code="unique_index_widened"]')).toHaveCount(0);
    await expect(plan.startDialog.getByTestId('run-workers')).toHaveValue('');
    await expect(plan.startDialog.locator('#run-workers option:checked')).toHaveText('Default (2)');
    await expect(plan.startDialog.getByTestId('run-workers-note')).toContainText('the run holds up to 5 connections');
    await screenshots(page, 'plan-start-dialog');
    await plan.startDialog.getByTestId('confirm-cancel').click();
    await expect(plan.startDialog).toBeHidden();
    // Nothing ran.
    expect(await db.query(`SELECT to_regclass('public.${EVENTS_TABLE}_partitioned') AS t`)).toEqual([{ t: null }]);
  });

  await test.step('small keys share: the plan counts the keys pooled and the relations both ways', async () => {
    const placement = plan.card(EVENTS).getByTestId('plan-placement');
    await expect(placement.getByTestId('placement-per-key')).toBeVisible();
    const card = plan.card(EVENTS);
    // A partition per key: a statement per partition, beside the table's, its indexes' and the view's.
    const ddlCount = async (): Promise<number> =>
      Number(
        /^\((?:about )?([\d,]+) statements?/
          .exec((await card.getByTestId('plan-ddl-count').textContent())!)![1]!
          .replace(/,/g, ''),
      );
    const perKeyDdl = await ddlCount();
    await placement.getByTestId('placement-share').check();
    await expect(placement.getByTestId('placement-counts')).toBeVisible();
    const [expected] = await db.query<{ keys: number; rows: number }>(
      `SELECT count(*)::int AS keys, sum(n)::int AS rows
         FROM (SELECT count(*) AS n FROM public.${EVENTS_TABLE} GROUP BY ${KEY_COLUMN}) k WHERE n < 1000`,
    );
    const buckets = Math.max(1, Math.ceil(expected!.rows / 2_500));
    await expect(placement.getByTestId('placement-pooled')).toHaveText(
      `${expected!.keys} keys (${expected!.rows.toLocaleString('en-US')} rows) in ${buckets} bucket${buckets === 1 ? '' : 's'}`,
    );
    await expect(placement.getByTestId('placement-relations-shared')).toContainText('the pool one of them');
    await expect(placement.getByTestId('placement-relations-per-key')).toContainText('60 level-1 partitions');
    // The summary and the DDL count are the tree the migration makes: the larger keys' partitions and the pool.
    const [tree] = await db.query<{ own: number; ownLeaves: number; leaves: number }>(
      `SELECT count(*) FILTER (WHERE n >= 1000)::int AS own,
              coalesce(sum(ceil(n / 2500.0)) FILTER (WHERE n >= 1000), 0)::int AS "ownLeaves",
              sum(ceil(n / 2500.0))::int AS leaves
         FROM (SELECT count(*) AS n FROM public.${EVENTS_TABLE} GROUP BY ${KEY_COLUMN}) k`,
    );
    const levelOne = card.getByTestId('plan-level-one');
    await expect(levelOne.locator('.stat-value')).toHaveText(String(tree!.own + 1));
    await expect(levelOne.locator('.stat-note')).toHaveText('the pool one of them; 60 with a partition per key');
    const leaves = card.getByTestId('plan-leaves');
    await expect(leaves.locator('.stat-value')).toHaveText((tree!.ownLeaves + buckets).toLocaleString('en-US'));
    await expect(leaves.locator('.stat-note')).toContainText(`${tree!.leaves} with a partition per key`);
    // The pool's partitions in place of the pooled keys', and its three statements beyond them
    // (attached as the DEFAULT partition, its first bucket attached, its ticket counter).
    const sharedDdl = perKeyDdl - (60 + tree!.leaves) + (tree!.own + 1 + tree!.ownLeaves + buckets) + 3;
    await expect(card.getByTestId('plan-ddl-count')).toHaveText(
      new RegExp(`^\\((about )?${sharedDdl.toLocaleString('en-US')} statements`),
    );
    await expect(card.getByTestId('plan-ddl')).toContainText('ATTACH PARTITION');
    // The last of the largest keys listed (tenant 8, 889 rows) goes to the pool.
    await expect(card.getByTestId('plan-largest-key').last()).toHaveText(/^8889in pool$/);
    await card.getByTestId('plan-summary').scrollIntoViewIfNeeded();
    await screenshots(page, 'plan-placement-summary');
    await placement.scrollIntoViewIfNeeded();
    await screenshots(page, 'plan-placement');
  });
});
