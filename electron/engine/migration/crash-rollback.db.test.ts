// kill -9 at each phase of a migration (and in the middle of a rollback), the
// application writing throughout; then `partwise rollback` must return the
// original table with every committed row, and leave nothing of the run behind.
// Both placements: a partition per key, and small keys sharing the pool
// (--share-below): its partitions, metadata and ticket sequence go too.
import { describe, expect, it, beforeAll } from 'vitest';
import { Journal } from '../journal.js';
import type { CrashPoint } from './crash-points.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { killHard, runCli, runCliUntil, runMigrateCli, runMigrateCliUntil } from '../../testing/cli.js';
import {
  createMirroredTable,
  createSkewedMirroredTable,
  expectMirrored,
  mirroredWrites,
} from '../../testing/mirror.js';

const db = useTestDatabase('crash_rollback');

beforeAll(async () => {
  await installPartwise(db);
});

const points: CrashPoint[] = [
  'prepare:after-capture',
  'copy:after-first-chunk',
  'indexes:before',
  'indexes:registry-after-first-range',
  'catch_up:before',
  // The registries being built while the appliers apply the log.
  'catch_up:building-registries',
  'cutover:inside-transaction',
  'verify:before',
];

async function expectNothingLeft(table: string): Promise<void> {
  expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = $1::regclass`, [table])).toEqual([{ relkind: 'r' }]);
  expect(
    await db.query(`SELECT to_regclass($1) AS partitioned, to_regclass($2) AS backup`, [
      `${table}_partitioned`,
      `${table}_backup`,
    ]),
  ).toEqual([{ partitioned: null, backup: null }]);
  expect(
    await db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, [table]),
  ).toEqual([]);
  expect(
    await db.query(
      `SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE $1 || '\\_customer\\_id\\_%' AND relkind IN ('r', 'p')`,
      [table],
    ),
  ).toEqual([{ n: 0 }]);
  expect(
    await db.query(`SELECT count(*)::int AS n FROM partwise.partition_config WHERE table_name = $1`, [table]),
  ).toEqual([{ n: 0 }]);
  // The registry that keeps the primary key unique, filled or not.
  expect(
    await db.query(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'partwise' AND c.relname LIKE $1 || '\\_pkey%'`,
      [table],
    ),
  ).toEqual([{ n: 0 }]);
  // The pool of small keys: its metadata and ticket sequence.
  expect(
    await db.query(
      `SELECT (SELECT count(*)::int FROM partwise.key_pool) AS pools,
              (SELECT count(*)::int FROM pg_class WHERE relname LIKE 'pool\\_ticket\\_%' AND relkind = 'S') AS sequences`,
    ),
  ).toEqual([{ pools: 0, sequences: 0 }]);
}

async function runId(table: string): Promise<number> {
  const runs = await new Journal('partwise').listRuns(db.pool);
  return runs.find((r) => r.targets[0]!.table === table)!.runId;
}

describe('rollback after kill -9', () => {
  for (const [point, shared] of [...points.map((p) => [p, false] as const), ...points.map((p) => [p, true] as const)]) {
    it(`restores the original table after a run killed at ${point}${shared ? ', small keys sharing' : ''}`, async () => {
      const table = `back_${point.replace(/[^a-z]+/g, '_')}${shared ? 'shared' : ''}`;
      if (shared) await createSkewedMirroredTable(db, table, { small: 60, large: 3, largeRows: 4000 });
      else await createMirroredTable(db, table, 20_000, 12);
      const child = await runMigrateCliUntil(db, table, point, {
        bucketLimit: 700,
        shareBelow: shared ? 1000 : undefined,
      });
      const during = mirroredWrites(db.pool, table, 1);
      if (point !== 'cutover:inside-transaction') await during;
      await killHard(child, db.url);
      await during;
      await mirroredWrites(db.pool, table, 2);

      const rolledBack = await runCli(['rollback', '--url', db.url, '--run', String(await runId(table)), '--yes']);
      expect(rolledBack.code, rolledBack.stderr + rolledBack.stdout).toBe(0);
      await mirroredWrites(db.pool, table, 3);
      await expectMirrored(db, table);
      await expectNothingLeft(table);
      // The sequence continues past every id drawn, before the run and during it.
      const [drawn] = await db.query<{ id: string }>(`SELECT max(id) AS id FROM ${table}_expected`);
      const [next] = await db.query<{ id: string }>(
        `INSERT INTO ${table} (customer_id, payload) VALUES (1, 'x') RETURNING id`,
      );
      expect(Number(next!.id)).toBeGreaterThan(Number(drawn!.id));
    });
  }

  it('finishes a rollback that was itself killed', async () => {
    const table = 'back_twice';
    await createMirroredTable(db, table, 10_000, 8);
    const migrated = await runMigrateCli(db, table, { bucketLimit: 500 });
    expect(migrated.code, migrated.stderr).toBe(0);
    await mirroredWrites(db.pool, table, 1); // written through the routing view, after the swap
    const id = await runId(table);
    const child = await runCliUntil(
      ['rollback', '--url', db.url, '--run', String(id), '--yes'],
      'rollback:before-drop',
    );
    await killHard(child, db.url);
    // Not "succeeded": interrupted in its rollback, which a rollback (not a resume) continues.
    const killed = (await new Journal('partwise').listRuns(db.pool)).find((r) => r.runId === id)!;
    expect(killed).toMatchObject({
      status: 'interrupted',
      rollingBack: true,
      canResume: false,
      canRollback: true,
      canFinalize: false,
    });
    expect(killed.targets[0]).toMatchObject({ phase: 'rollback', status: 'done' });
    const resumed = await runCli(['resume', '--url', db.url, '--run', String(id), '--yes']);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain(`stopped while rolling back; continue the rollback instead`);
    await mirroredWrites(db.pool, table, 2); // the original table is back already
    const again = await runCli(['rollback', '--url', db.url, '--run', String(id), '--yes']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    await expectMirrored(db, table);
    await expectNothingLeft(table);
    const done = (await new Journal('partwise').listRuns(db.pool)).find((r) => r.runId === id)!;
    expect(done).toMatchObject({ status: 'rolled_back', rollingBack: false, canRollback: false });
    // The killed rollback's step has no end; the one that finished it has.
    expect(done.steps.filter((s) => s.phase === 'rollback').map((s) => s.finishedAt !== null)).toEqual([false, true]);
  });
});
