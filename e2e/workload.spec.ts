// The statements an application runs, in the app: with pg_stat_statements
// loaded and created, the owner's application looks rows up by id (what ORMs
// do) and by tenant and id. The Plan screen lists the by-id lookup as a
// frequent statement that will read every leaf and blocks until it is
// accepted; after the migration the Tracker lists it for the live table.
import path from 'node:path';
import pg from 'pg';
import { expect, test } from './support/fixtures.js';
import { SCREENSHOT_DIR } from './support/paths.js';
import { EVENTS_TABLE, KEY_COLUMN } from './support/seed.js';

const EVENTS = `public.${EVENTS_TABLE}`;
const BY_ID = `SELECT * FROM ${EVENTS_TABLE} WHERE id = $1`;
const BY_TENANT_AND_ID = `SELECT * FROM ${EVENTS_TABLE} WHERE ${KEY_COLUMN} = $1 AND id = $2`;
const CALLS = 1_100;

test('the plan lists the statements that do not filter by the key; the live table lists them too', async ({
  app,
  db,
}) => {
  const { shell, connections, tables, plan, runs, tracker } = app;
  await db.query('CREATE EXTENSION pg_stat_statements');
  const client = new pg.Client(db.connection);
  await client.connect();
  try {
    for (let i = 1; i <= CALLS; i++) {
      await client.query(BY_ID, [i]);
      await client.query(BY_TENANT_AND_ID, [1 + (i % 60), i]);
    }
  } finally {
    await client.end();
  }

  await test.step('connect and queue the table', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: 'Workload', ...db.connection });
    await connections.save();
    await connections.use('Workload');
    await tables.open(EVENTS);
    await tables.addTarget(KEY_COLUMN, 2_500);
    await tables.goToPlan();
  });

  await test.step('the plan lists the by-id lookup as frequent and blocks until it is accepted', async () => {
    await plan.waitPlanned([EVENTS]);
    await expect(plan.issue(EVENTS, 'blocker', 'keyless_queries')).toBeVisible();
    const section = plan.workload(EVENTS);
    const row = plan.statement(EVENTS, BY_ID);
    await expect(row).toHaveAttribute('data-verdict', 'keyless');
    await expect(row).toHaveAttribute('data-frequent', 'true');
    await expect(row).toContainText('1,100');
    await expect(section.getByTestId('workload-cost')).toContainText('measured on this server');
    await expect(section.getByTestId('workload-keyed')).toContainText('filter');
    await expect(plan.start).toBeDisabled();
    await section.scrollIntoViewIfNeeded();
    await section.screenshot({ path: path.join(SCREENSHOT_DIR, 'plan-workload-section.png') });
    await shell.screenshotBothThemes('plan-workload');

    await section.getByTestId('accept-keyless').check();
    await expect(plan.issue(EVENTS, 'warning', 'keyless_queries_accepted')).toBeVisible();
    await expect(plan.status).toContainText('Ready');
    await plan.openStartDialog();
    await plan.confirmStart();
    expect(await runs.waitFinished()).toBe('succeeded');
    await expect(runs.monitor.getByTestId('log-line').filter({ hasText: 'accepted' })).toHaveCount(1);
  });

  await test.step('the Tracker lists what still reads every leaf of the live table', async () => {
    await shell.go('tracker');
    await tracker.readWorkload();
    const panel = tracker.workload;
    const row = panel.locator('[data-testid="workload-statement"]', { hasText: BY_ID });
    await expect(row).toHaveAttribute('data-verdict', 'keyless');
    await expect(panel.getByTestId('workload-statements')).toHaveAttribute('data-phase', 'after');
    await panel.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: path.join(SCREENSHOT_DIR, 'tracker-workload-section.png') });
  });
});
