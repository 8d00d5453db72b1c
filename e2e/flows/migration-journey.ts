// The user journey from an empty app to a migrated table and back, and to a
// migration kept for good: add a connection, choose a table and its key, read
// the plan, run the migration, explore the result, run maintenance, roll back,
// migrate again, finalize. Shared by the browser and the Electron specs; each
// step checks the screen and, where it matters, the database itself, and
// saves a picture of every screen it passes (numbered in journey order).
import { expect, test } from '@playwright/test';
import { overallProgress } from '../../shared/progress.js';
import type { PartwiseApp } from '../pages/app.js';
import type { TestDatabase } from '../support/postgres.js';
import { EVENT_ROWS, EVENTS_TABLE, KEY_COLUMN, NOTES_TABLE } from '../support/seed.js';

export interface JourneyOptions {
  /** Prefix of the screenshot files, e.g. `electron-`; screenshots are `<prefix><nn>-<screen>-<size>-<theme>.png`. */
  screenshotPrefix: string;
  /** Whether to read the clipboard back after "Copy DDL" (needs the clipboard permission). */
  readClipboard: boolean;
  /** Extra window sizes for pictures of the Runs screen (the browser can resize its window, Electron's is its own). */
  runsSizes: { width: number; height: number }[];
}

const BUCKET_LIMIT = 2_500;
/**
 * A tenant that does not exist before the migration: its rows arrive through
 * the routing view afterwards, filling its second bucket to 84% (so that
 * maintenance creates its third bucket ahead).
 */
const LATE_TENANT = '999';
const LATE_ROWS = 4_600;
const AHEAD_PERCENT = 80;

const EVENTS = `public.${EVENTS_TABLE}`;
const NOTES = `public.${NOTES_TABLE}`;
const PARTITIONED = `${EVENTS_TABLE}_partitioned`;
const BACKUP = `${EVENTS_TABLE}_backup`;

async function relkind(db: TestDatabase, name: string): Promise<string | null> {
  const [row] = await db.query<{ kind: string | null }>(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
    [`public.${name}`],
  );
  return row!.kind;
}

async function rowsPerKey(db: TestDatabase): Promise<Map<string, number>> {
  const rows = await db.query<{ key: string; n: number }>(
    `SELECT ${KEY_COLUMN}::text AS key, count(*)::int AS n FROM public.${EVENTS_TABLE} GROUP BY 1`,
  );
  return new Map(rows.map((row) => [row.key, row.n]));
}

const numerically = (a: string, b: string) => Number(a) - Number(b);

export async function migrationJourney(app: PartwiseApp, db: TestDatabase, options: JourneyOptions): Promise<void> {
  const { shell, connections, tables, plan, runs, explorer, sizes, tracker } = app;
  let shots = 0;
  const shot = (screen: string, sizes: { width: number; height: number }[] = []) =>
    shell.screenshotBothThemes(`${options.screenshotPrefix}${String(++shots).padStart(2, '0')}-${screen}`, sizes);
  const connectionName = `E2E ${db.name}`;
  let runId = 0;
  let secondRunId = 0;
  const seeded = await rowsPerKey(db);

  await test.step('add a connection through the form, test it, save it and use it', async () => {
    await shell.go('connections');
    await connections.openNewForm();
    await connections.fill({ name: connectionName, ...db.connection });
    const result = await connections.testDraft();
    await expect(result).toHaveAttribute('data-tone', 'success');
    await connections.save();
    const row = connections.row(connectionName);
    await expect(row).toBeVisible();
    await expect(row.getByTestId('connection-has-password')).toBeVisible();
    await expect(row).toContainText(`${db.connection.user}@${db.connection.host}:${db.connection.port}/${db.name}`);
    // The first saved connection becomes the active one.
    const id = await row.getAttribute('data-connection-id');
    await expect(shell.activeConnection).toHaveAttribute('data-connection-id', id!);
    await shot('connections');
    await connections.use(connectionName);
    await expect(tables.root).toBeVisible();
  });

  await test.step('pick tables on Tables, choose the key and bucket limit, queue them', async () => {
    await expect(tables.row(EVENTS)).toHaveAttribute('data-managed', 'false');
    await tables.open(EVENTS);
    await expect(tables.column(KEY_COLUMN)).toHaveAttribute('data-usable', 'true');
    // The primary key has a value per row: it would make a partition per row.
    await expect(tables.column('id')).toHaveAttribute('data-usable', 'false');
    await expect(tables.column('id').getByTestId('column-reason')).toBeVisible();
    await tables.addTarget(KEY_COLUMN, BUCKET_LIMIT);
    await expect(tables.queued(EVENTS)).toContainText('2,500 rows per bucket');
    // A second table whose key column has NULLs: the plan must block it.
    await tables.open(NOTES);
    await tables.addTarget(KEY_COLUMN, BUCKET_LIMIT);
    await expect(tables.queue).toHaveAttribute('data-count', '2');
    await tables.open(EVENTS);
    await shot('tables');
    await tables.goToPlan();
  });

  await test.step('read the plan: blockers, warnings, DDL, copy; start only once nothing blocks', async () => {
    await plan.waitPlanned([EVENTS, NOTES]);
    await expect(plan.card(NOTES)).toHaveAttribute('data-blockers', '1');
    await expect(plan.issue(NOTES, 'blocker', 'null_keys')).toBeVisible();
    await expect(plan.status).toContainText('1 blocker');
    await expect(plan.start).toBeDisabled();

    const card = plan.card(EVENTS);
    await expect(card).toHaveAttribute('data-blockers', '0');
    // The primary key (id) must gain the key and bucket columns to be enforceable on a partitioned table;
    // by default a registry keeps it unique across the whole table. Per bucket only, the plan warns.
    const primaryKey = `${EVENTS_TABLE}_pkey`;
    await expect(plan.issue(EVENTS, 'info', 'unique_kept')).toBeVisible();
    await expect(plan.uniqueKey(EVENTS, primaryKey)).toHaveAttribute('data-enforcement', 'table');
    await plan.chooseUnique(EVENTS, primaryKey, 'bucket');
    await expect(plan.issue(EVENTS, 'warning', 'unique_index_widened')).toBeVisible();
    await plan.uniqueKey(EVENTS, primaryKey).scrollIntoViewIfNeeded();
    await shot('plan-unique-keys');
    await plan.chooseUnique(EVENTS, primaryKey, 'table');
    await expect(plan.issue(EVENTS, 'info', 'unique_kept')).toBeVisible();
    await expect(card.getByTestId('plan-summary')).toContainText('40,000');
    const ddl = card.getByTestId('plan-ddl');
    await expect(ddl).toContainText('PARTITION BY LIST');
    await expect(ddl).toContainText(PARTITIONED);
    await shot('plan');

    await card.getByTestId('copy-ddl').click();
    await expect(card.getByTestId('copy-ddl')).toHaveText('Copied');
    if (options.readClipboard) {
      const copied = await plan.page.evaluate(() => navigator.clipboard.readText());
      expect(copied).toContain(`PARTITION BY LIST ("${KEY_COLUMN}")`);
      expect(copied).toContain(`CREATE VIEW public.${EVENTS_TABLE} AS`);
    }

    await plan.issue(NOTES, 'blocker', 'null_keys').scrollIntoViewIfNeeded();
    await shot('plan-blocked');

    await plan.removeTarget(NOTES);
    await expect(plan.status).toContainText('Ready');
    await plan.openStartDialog();
    await expect(plan.startDialog.getByTestId('start-tables')).toContainText(EVENTS_TABLE);
    await plan.confirmStart();
  });

  await test.step('watch the run monitor until the migration is done', async () => {
    await expect(runs.root).toBeVisible();
    runId = await runs.monitoredRunId();
    expect(runId).toBeGreaterThan(0);
    await expect(runs.target(EVENTS).getByTestId('progress-bar')).toBeVisible();
    expect(await runs.waitFinished()).toBe('succeeded');
    await expect(runs.monitor.getByTestId('run-status')).toHaveAttribute('data-status', 'succeeded');
    await expect(runs.target(EVENTS)).toHaveAttribute('data-phase', 'done');
    const steps = runs.target(EVENTS).getByTestId('phase-stepper').locator('li');
    await expect(steps).toHaveCount(8);
    await expect(runs.target(EVENTS).getByTestId('phase-stepper').locator('li[data-state="done"]')).toHaveCount(8);
    await expect(runs.target(EVENTS).getByTestId('progress-bar')).toHaveAttribute('data-progress', '1.0000');
    await expect(runs.monitor.getByTestId('run-finished-message')).toBeVisible();
    // Every phase reports at least one line.
    expect(await runs.monitor.getByTestId('log-line').count()).toBeGreaterThanOrEqual(8);
    await expect(runs.historyRow(runId)).toHaveAttribute('data-status', 'succeeded');
    await expect(runs.historyRow(runId).getByTestId('run-finalize')).toBeVisible();
    // After the run: the time of each phase, what it went through, and the swap's exclusive lock.
    expect(await runs.timedPhases()).toEqual([
      'prepare',
      'provision',
      'copy',
      'indexes',
      'catch_up',
      'cutover',
      'verify',
    ]);
    await expect(runs.timings.locator('[data-phase="copy"]')).toContainText(
      `${EVENT_ROWS.toLocaleString('en-US')} rows`,
    );
    await expect(runs.timings.getByTestId('run-timing-lock')).toHaveText(/^\d[\d,]* ms$|^\d+ s$/);
    await expect(runs.monitor.getByTestId('run-duration')).toContainText('took ');
    await shot('runs-migrated', options.runsSizes);
  });

  await test.step('the database holds every row, each leaf one key and at most the bucket limit', async () => {
    expect(await relkind(db, EVENTS_TABLE)).toBe('v'); // the routing view under the original name
    expect(await relkind(db, PARTITIONED)).toBe('p');
    expect(await relkind(db, BACKUP)).toBe('r');
    const leaves = await db.query<{ leaf: string; n: number; keys: number }>(
      `SELECT tableoid::regclass::text AS leaf, count(*)::int AS n, count(DISTINCT ${KEY_COLUMN})::int AS keys
         FROM public.${PARTITIONED} GROUP BY 1`,
    );
    expect(leaves.reduce((sum, leaf) => sum + leaf.n, 0)).toBe(EVENT_ROWS);
    expect(Math.max(...leaves.map((leaf) => leaf.n))).toBeLessThanOrEqual(BUCKET_LIMIT);
    expect(leaves.every((leaf) => leaf.keys === 1)).toBe(true);
    const [view] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${EVENTS_TABLE}`);
    expect(view!.n).toBe(EVENT_ROWS);
  });

  await test.step('new rows of a new key arrive through the routing view', async () => {
    await db.queryAsOwner(
      `INSERT INTO public.${EVENTS_TABLE} (${KEY_COLUMN}, kind, payload)
       SELECT ${LATE_TENANT}, 'late', 'after the migration' FROM generate_series(1, ${LATE_ROWS})`,
    );
    const [late] = await db.query<{ leaves: number; max: number }>(
      `SELECT count(*)::int AS leaves, max(n)::int AS max FROM (
         SELECT count(*) AS n FROM public.${PARTITIONED} WHERE ${KEY_COLUMN} = ${LATE_TENANT} GROUP BY tableoid) l`,
    );
    expect(late).toEqual({ leaves: Math.ceil(LATE_ROWS / BUCKET_LIMIT), max: BUCKET_LIMIT });
  });

  const keys = [...seeded.keys(), LATE_TENANT].sort(numerically);

  await test.step('browse the Explorer: keys in numeric order, buckets with fill bars, search', async () => {
    await shell.go('explorer');
    await explorer.waitLoaded();
    await expect(explorer.totals).toContainText(`${keys.length} level-1 partitions`);
    // Keys are integers, so 2 comes before 10 (as text, "10" would).
    const shown = await explorer.renderedKeys();
    expect(shown.length).toBeGreaterThan(5);
    expect(shown).toEqual(keys.slice(0, shown.length));

    const biggest = [...seeded.entries()].sort((a, b) => b[1] - a[1])[0]!;
    await explorer.expand(biggest[0]);
    const buckets = explorer.buckets(biggest[0]);
    await expect(buckets).toHaveCount(Math.ceil(biggest[1] / BUCKET_LIMIT));
    await expect(buckets.first().getByTestId('fill-bar')).toHaveAttribute('data-fill-level', 'full');
    await expect(explorer.partition(biggest[0]).getByTestId('current-fill-bar')).toBeVisible();
    // Sizes fill in after the tree: a real figure, in bytes of some unit.
    await expect(explorer.totalSize()).toHaveText(/^\d[\d.,]* (kB|MB|GB)$/);
    await shot('explorer');

    await explorer.searchFor('5');
    const matching = keys.filter((key) => key.includes('5'));
    await expect(explorer.root.getByTestId('tree-matches')).toHaveText(
      `${matching.length} of ${keys.length} keys match`,
    );
    expect(await explorer.renderedKeys()).toEqual(matching);

    await explorer.searchFor(LATE_TENANT);
    expect(await explorer.renderedKeys()).toEqual([LATE_TENANT]);
    await explorer.expand(LATE_TENANT);
    await expect(explorer.buckets(LATE_TENANT)).toHaveCount(Math.ceil(LATE_ROWS / BUCKET_LIMIT));
    await explorer.search.fill('');
  });

  await test.step('see the Sizes charts', async () => {
    await shell.go('sizes');
    await sizes.waitLoaded();
    await expect(sizes.bars(sizes.largest)).toHaveCount(Math.min(20, keys.length));
    await expect(sizes.bars(sizes.fill).first()).toBeVisible();
    await expect(sizes.sectors(sizes.split).first()).toBeVisible();
    await expect(sizes.splitRow('table')).not.toContainText(/\b0 B\b/);
    await expect(sizes.splitRow('indexes')).not.toContainText(/\b0 B\b/);
    await shot('sizes');
  });

  await test.step('read the Tracker rows and run maintenance', async () => {
    await shell.go('tracker');
    await expect(tracker.count).toHaveText(`${keys.length} of ${keys.length} keys`);
    const shown = await tracker.renderedKeys();
    expect(shown.length).toBeGreaterThan(5);
    expect(shown).toEqual(keys.slice(0, shown.length));

    // Keys whose current bucket is at least AHEAD_PERCENT full get their next bucket now.
    const counts = new Map(seeded);
    counts.set(LATE_TENANT, LATE_ROWS);
    const dueAhead = [...counts.values()].filter(
      (n) => ((n - 1) % BUCKET_LIMIT) + 1 >= (AHEAD_PERCENT / 100) * BUCKET_LIMIT,
    ).length;
    expect(dueAhead).toBeGreaterThan(0);
    const bucketCount = async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM partwise.partition_bucket`))[0]!.n;
    const before = await bucketCount();

    // Maintenance reports missing leaves; it does not recreate them.
    await expect(tracker.maintenance).toContainText('missing leaves are reported, not recreated');
    await tracker.runMaintenance(AHEAD_PERCENT);
    await expect(tracker.report).toContainText(`Checked ${keys.length} keys`);
    await expect(tracker.report).toContainText(`${dueAhead} created ahead`);
    expect(await bucketCount()).toBe(before + dueAhead);
    await shot('tracker');
  });

  await test.step('roll back from the run history', async () => {
    await shell.go('runs');
    await expect(runs.historyRow(runId)).toHaveAttribute('data-status', 'succeeded');
    await runs.rollBack(runId);
    await expect(runs.historyRow(runId)).toHaveAttribute('data-status', 'rolled_back', { timeout: 120_000 });
    await expect(runs.monitor).toHaveAttribute('data-status', 'rolled_back');
    await expect(runs.monitor.getByTestId('run-finished-message')).toContainText(`Run ${runId} rolled back`);
    // The migration's own time, and the rollback's apart: not the time between them.
    await expect(runs.monitor.getByTestId('run-duration')).toContainText(/took .* · rollback /);
    await expect(runs.historyRow(runId).getByTestId('run-row-duration')).toContainText('rollback');
    expect((await runs.timedPhases()).at(-1)).toBe('rollback');
    await expect(runs.historyRow(runId).getByTestId('run-rollback')).toHaveCount(0);
    await expect(runs.historyRow(runId).getByTestId('run-finalize')).toHaveCount(0);
    await runs.showMonitor();
    await shot('runs-rolled-back', options.runsSizes);
  });

  await test.step('the table is a plain table again, with the rows written meanwhile', async () => {
    await shell.go('tables');
    await tables.refresh();
    await expect(tables.row(EVENTS)).toHaveAttribute('data-managed', 'false');
    await tables.open(EVENTS);
    await expect(tables.detail.getByTestId('table-blocked')).toHaveCount(0);
    await expect(tables.column(KEY_COLUMN).getByTestId('key-radio')).toBeEnabled();

    expect(await relkind(db, EVENTS_TABLE)).toBe('r');
    expect(await relkind(db, PARTITIONED)).toBeNull();
    const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${EVENTS_TABLE}`);
    expect(count!.n).toBe(EVENT_ROWS + LATE_ROWS);
    await shot('tables-rolled-back');
  });

  await test.step('migrate the table again', async () => {
    await tables.addTarget(KEY_COLUMN, BUCKET_LIMIT);
    await tables.goToPlan();
    await plan.waitPlanned([EVENTS]);
    await expect(plan.status).toContainText('Ready');
    await shot('plan-again');
    // A reader of the application keeps the table open: the swap waits for it, and the run is seen running.
    const endReader = await db.holdReader(EVENTS);
    try {
      await plan.openStartDialog();
      await plan.confirmStart();
      await expect(runs.root).toBeVisible();
      await expect(runs.monitor).not.toHaveAttribute('data-run-id', String(runId));
      secondRunId = await runs.monitoredRunId();
      await expect(runs.target(EVENTS)).toHaveAttribute('data-phase', 'cutover');
      await expect(runs.monitor).toHaveAttribute('data-status', 'running');
      await expect(runs.step(EVENTS, 'verify')).toHaveAttribute('data-state', 'pending');
      // The bar is the whole migration: the copy, indexes and catch up behind it, not a phase's own 0%.
      await expect(runs.target(EVENTS).getByTestId('progress-bar')).toHaveAttribute(
        'aria-valuenow',
        String(Math.round(overallProgress('cutover', 0)! * 100)),
      );
      await expect(runs.historyRow(secondRunId)).toHaveAttribute('data-status', 'running');
      await expect(runs.historyRow(secondRunId)).toContainText('Cut over');
      await expect(runs.monitor.getByTestId('run-cancel')).toBeVisible();
      await expect(runs.monitor.getByTestId('log-line').filter({ hasText: 'swap waiting' }).first()).toBeVisible();
      // Pause holds copy and index work (the swap is not held): the journal says who holds it, Continue lets go.
      await runs.monitor.getByTestId('run-pause').click();
      await expect(runs.monitor.getByTestId('run-continue')).toBeVisible();
      await runs.monitor.getByTestId('run-continue').click();
      await expect(runs.monitor.getByTestId('run-pause')).toBeVisible();
      await shot('runs-running', options.runsSizes);
    } finally {
      await endReader();
    }
    expect(await runs.waitFinished()).toBe('succeeded');
    await expect(runs.historyRow(secondRunId)).toHaveAttribute('data-status', 'succeeded');
    await expect(runs.historyRow(runId)).toHaveAttribute('data-status', 'rolled_back');
    expect(await relkind(db, EVENTS_TABLE)).toBe('v');
  });

  await test.step('finalize from the run history: the dialog closes, the history says finalized', async () => {
    await runs.finalize(secondRunId);
    await expect(runs.historyRow(secondRunId)).toHaveAttribute('data-status', 'finalized');
    await expect(runs.historyRow(secondRunId).getByTestId('run-row-status')).toHaveText('finalized');
    await expect(runs.monitor).toHaveAttribute('data-run-id', String(secondRunId));
    await expect(runs.monitor).toHaveAttribute('data-status', 'finalized');
    await expect(runs.monitor.getByTestId('run-finished-message')).toContainText(
      `Run ${secondRunId} finalized: backups dropped`,
    );
    expect((await runs.timedPhases()).at(-1)).toBe('finalize');
    await expect(runs.timings.getByTestId('run-timing-lock')).toHaveCount(1);
    // Nothing more can be done with it: rollback is gone with the backup.
    await expect(runs.historyRow(secondRunId).getByTestId('run-rollback')).toHaveCount(0);
    await expect(runs.historyRow(secondRunId).getByTestId('run-finalize')).toHaveCount(0);
    expect(await relkind(db, BACKUP)).toBeNull();
    expect(await relkind(db, EVENTS_TABLE)).toBe('v');
    const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${EVENTS_TABLE}`);
    expect(count!.n).toBe(EVENT_ROWS + LATE_ROWS);
    await runs.showMonitor();
    await shot('runs-finalized', options.runsSizes);
  });

  await test.step('the Tracker offers no finalize once the backup is gone', async () => {
    await shell.go('tracker');
    await expect(tracker.count).toHaveText(`${keys.length} of ${keys.length} keys`);
    await expect(tracker.root.getByTestId('finalize-box')).toHaveCount(0);
    await shot('tracker-finalized');
  });
}
