// The screens a DBA reads after a migration, at the two window sizes they
// were reviewed at (1440x900 and 1024x700), in light and dark: the managed
// table on Tables with its parts, the table detail in view at 1024x700, the
// Explorer sorted by rows, the Sizes charts and their bars opening the
// Explorer, and the Tracker. Screenshots of each go to e2e/screenshots/.
import type { Page } from '@playwright/test';
import type { PartwiseApp } from './pages/app.js';
import { expect, test } from './support/fixtures.js';
import { migrateTable } from './support/managed.js';
import type { TestDatabase } from './support/postgres.js';
import { EVENTS_TABLE, KEY_COLUMN, NOTES_TABLE } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;
const BUCKET_LIMIT = 2_500;

const SIZES = [
  { name: '1440', width: 1440, height: 900 },
  { name: '1024', width: 1024, height: 700 },
] as const;

async function connect(app: PartwiseApp, db: TestDatabase): Promise<void> {
  const { connections, tables } = app;
  await connections.openNewForm();
  await connections.fill({ name: `Screens ${db.name}`, ...db.connection });
  await connections.save();
  await connections.use(`Screens ${db.name}`);
  await expect(tables.row(EVENTS)).toBeVisible();
}

/** Whether the whole element is inside the window (not below the fold, not scrolled away). */
async function inView(page: Page, testId: string): Promise<boolean> {
  const box = await page.getByTestId(testId).boundingBox();
  const viewport = page.viewportSize()!;
  return box !== null && box.y >= 0 && box.y + Math.min(box.height, 120) <= viewport.height;
}

test.describe('the screens after a migration', () => {
  test.beforeEach(async ({ db }) => {
    await migrateTable(db, { schema: 'public', table: EVENTS_TABLE, keyColumn: KEY_COLUMN, bucketLimit: BUCKET_LIMIT });
  });

  for (const size of SIZES) {
    test(`read well at ${size.width}x${size.height}`, async ({ app, db, page }) => {
      await page.setViewportSize({ width: size.width, height: size.height });
      const { shell, connections, tables, explorer, sizes, tracker } = app;
      const shot = (screen: string) => shell.screenshotBothThemes(`screens-${size.name}-${screen}`);
      await shell.go('connections');
      await connect(app, db);
      await shell.go('connections');
      await expect(connections.row(`Screens ${db.name}`)).toBeVisible();
      await shot('connections');

      await test.step('Tables: the managed table with its tree, its parts under it', async () => {
        await shell.go('tables');
        const managed = tables.row(EVENTS);
        await expect(managed).toHaveAttribute('data-managed', 'true');
        await expect(managed).toContainText('40,000');
        await expect(managed).not.toContainText(/\b0 B\b/);
        const order = await tables.list
          .locator('[data-testid="table-row"]')
          .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-table')));
        const at = order.indexOf(EVENTS);
        expect(order.slice(at, at + 3)).toEqual([EVENTS, `${EVENTS}_partitioned`, `${EVENTS}_backup`]);
        await managed.click();
        await expect(tables.detail.getByTestId('managed-summary')).toContainText('Managed by Partwise');
        await expect(tables.detail.getByTestId('not-analyzed')).toHaveCount(0);
        expect(await inView(page, 'table-detail')).toBe(true);
        await shot('tables-managed');
      });

      await test.step('Tables: a plain table opens in view and its form can be reached', async () => {
        await tables.open(`public.${NOTES_TABLE}`);
        expect(await inView(page, 'table-detail')).toBe(true);
        const add = tables.detail.getByTestId('add-target');
        await add.scrollIntoViewIfNeeded();
        await expect(add).toBeInViewport();
        await tables.detail.getByTestId('column-table').scrollIntoViewIfNeeded();
        await shot('tables-detail');
      });

      await test.step('Explorer: the keys with the most rows, one expanded', async () => {
        await shell.go('explorer');
        await explorer.waitLoaded();
        await explorer.root.getByTestId('tree-sort-rows').click();
        const first = (await explorer.renderedKeys())[0]!;
        await explorer.expand(first);
        await expect(explorer.buckets(first).first().getByTestId('bucket-count')).toHaveText('');
        await expect(explorer.buckets(first).first().getByTestId('fill-bar')).toHaveAttribute(
          'data-fill-level',
          'full',
        );
        await expect(explorer.totalSize()).toHaveText(/^\d[\d.,]* (kB|MB|GB)$/);
        await shot('explorer');
      });

      await test.step('Sizes', async () => {
        await shell.go('sizes');
        await sizes.waitLoaded();
        await expect(sizes.root.getByTestId('size-compare').locator('[data-part="original"]')).toContainText(
          `${EVENTS_TABLE}_backup`,
        );
        await shot('sizes');
      });

      await test.step('Tracker', async () => {
        await shell.go('tracker');
        await expect(tracker.rows().first()).toBeVisible();
        await tracker.runMaintenance(80);
        await shot('tracker');
      });
    });
  }

  test('a bar on Sizes opens its key, or its fill band, in the Explorer', async ({ app, db }) => {
    const { shell, sizes, explorer } = app;
    await connect(app, db);
    await shell.go('sizes');
    await sizes.waitLoaded();
    // The largest key holds the most rows (the seed gives tenant 1 about a quarter of them).
    const [largest] = await db.query<{ key: string }>(
      `SELECT ${KEY_COLUMN}::text AS key FROM public.${EVENTS_TABLE} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
    );
    await expect(sizes.largestBars().first()).toHaveAttribute('data-key', largest!.key);
    await sizes.largestBars().first().locator('path').click();
    await expect(explorer.root).toBeVisible();
    await expect(explorer.search).toHaveValue(largest!.key);
    await expect(explorer.partition(largest!.key)).toHaveAttribute('aria-expanded', 'true');

    await shell.go('sizes');
    await sizes.waitLoaded();
    // The 90-100% band holds every full bucket.
    await sizes.bandBar(9).locator('path').click();
    await expect(explorer.root.getByTestId('tree-band-filter')).toContainText('Buckets 90-100% full');
    const fills = await explorer.tree
      .locator('[data-testid="tree-row"][data-kind="bucket"] [data-testid="fill-bar"]')
      .evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute('data-fill'))));
    expect(fills.length).toBeGreaterThan(0);
    expect(fills.every((fill) => fill >= 0.9 && fill <= 1)).toBe(true);
  });
});
