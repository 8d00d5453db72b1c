// kill -9 at each phase of a migration, the application writing before and
// after the kill; then `partwise resume` must finish the migration with every
// committed row in place. Both placements: a partition per key, and small
// keys sharing the pool (--share-below), whose rows the application changes.
import { describe, expect, it, beforeAll } from 'vitest';
import { Journal } from '../journal.js';
import type { CrashPoint } from './crash-points.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { killHard, runCli, runMigrateCliUntil } from '../../testing/cli.js';
import {
  createMirroredTable,
  createSkewedMirroredTable,
  expectMirrored,
  mirroredWrites,
} from '../../testing/mirror.js';

const db = useTestDatabase('crash_resume');

beforeAll(async () => {
  await installPartwise(db);
});

/**
 * Leaves of the new table that hold autovacuum off, on themselves or their
 * TOAST table, as the copy fills them until after the swap.
 */
async function leavesWithoutAutovacuum(table: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid
       LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
      WHERE t.isleaf AND ('autovacuum_enabled=false' = ANY (c.reloptions) OR 'autovacuum_enabled=false' = ANY (toast.reloptions))`,
    [`${table}_partitioned`],
  );
  return row!.n;
}

const points: CrashPoint[] = [
  'prepare:after-capture',
  'copy:after-first-chunk',
  'indexes:before',
  'indexes:after-leaves',
  'catch_up:before',
  // The registries being built while the appliers apply the log.
  'catch_up:building-registries',
  'cutover:inside-transaction',
  'verify:before',
];

/** Skewed: 60 keys under the threshold (pooled, the rows mirroredWrites changes are theirs), 3 keys over it. */
const SHARED = { small: 60, large: 3, largeRows: 4000 };

describe('resume after kill -9', () => {
  for (const [point, shared] of [...points.map((p) => [p, false] as const), ...points.map((p) => [p, true] as const)]) {
    it(`finishes a run killed at ${point}${shared ? ', small keys sharing' : ''}`, async () => {
      const table = `resume_${point.replace(/[^a-z]+/g, '_')}${shared ? 'shared' : ''}`;
      if (shared) await createSkewedMirroredTable(db, table, SHARED);
      else await createMirroredTable(db, table, 20_000, 12);
      const child = await runMigrateCliUntil(db, table, point, {
        bucketLimit: 700,
        workers: 2,
        shareBelow: shared ? 1000 : undefined,
      });
      // The application writes while the migration is stopped there. During the
      // swap its table is locked: the write waits, and goes through once the
      // killed swap has been rolled back by the server.
      const during = mirroredWrites(db.pool, table, 1);
      if (point !== 'cutover:inside-transaction') await during;
      await killHard(child, db.url);
      await during;
      // Killed after the copy started, before autovacuum was given back: the leaves hold it off.
      if (point !== 'prepare:after-capture') expect(await leavesWithoutAutovacuum(table)).toBeGreaterThan(0);

      const journal = new Journal('partwise');
      const [run] = (await journal.listRuns(db.pool)).filter((r) => r.targets[0]!.table === table);
      expect(run).toMatchObject({ status: 'interrupted', canResume: true, canRollback: true });
      const status = await runCli(['status', '--url', db.url]);
      expect(status.stdout).toContain(`run ${run!.runId}  interrupted`);

      await mirroredWrites(db.pool, table, 2);
      const resumed = await runCli(['resume', '--url', db.url, '--run', String(run!.runId), '--yes']);
      expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
      expect(resumed.stdout).toContain(`Run ${run!.runId} succeeded`);
      await mirroredWrites(db.pool, table, 3);

      expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = $1::regclass`, [table])).toEqual([
        { relkind: 'v' },
      ]);
      await expectMirrored(db, table);
      expect(await leavesWithoutAutovacuum(table)).toBe(0);
      // The primary key is kept unique across the table (the plan's default):
      // an id taken under another key is refused, which only its registry sees.
      await expect(
        db.query(
          `INSERT INTO ${table} (id, customer_id, payload, amount) SELECT id, 99999, 'taken', 0 FROM ${table} LIMIT 1`,
        ),
      ).rejects.toMatchObject({ code: '23505' });
      // Every index of the original is on the new table, valid.
      const indexes = await db.query<{ relation: string; valid: boolean }>(
        `SELECT indrelid::regclass::text AS relation, bool_and(indisvalid) AS valid, count(*)::int AS n FROM pg_index
          WHERE indrelid IN ($1::regclass, $2::regclass) GROUP BY 1 ORDER BY 1`,
        [`${table}_backup`, `${table}_partitioned`],
      );
      expect(indexes).toHaveLength(2);
      expect(indexes[1]).toEqual({ ...indexes[0], relation: `${table}_partitioned`, valid: true });
      const leaves = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table}_partitioned GROUP BY tableoid`,
      );
      for (const leaf of leaves) expect(leaf.n).toBeLessThanOrEqual(700);
      if (shared) {
        // The small keys and those first seen since are pooled, the large ones have their partition.
        const [placement] = await db.query<{ pooled: number; own: number; pool: number }>(
          `SELECT count(*) FILTER (WHERE t.in_pool)::int AS pooled, count(*) FILTER (WHERE NOT t.in_pool)::int AS own,
                  (SELECT count(*)::int FROM partwise.key_pool p WHERE p.config_id = c.config_id) AS pool
             FROM partwise.partition_config c JOIN partwise.partition_tracker t USING (config_id)
            WHERE c.table_name = $1 GROUP BY c.config_id`,
          [table],
        );
        expect(placement).toEqual({ pooled: 60 + 3, own: 3, pool: 1 });
        const [check] = await db.query<{ kinds: string[] }>(
          `SELECT coalesce(array_agg(kind) FILTER (WHERE kind <> 'created_ahead'), '{}') AS kinds
             FROM partwise.maintain_pool((SELECT config_id FROM partwise.partition_config WHERE table_name = $1))`,
          [table],
        );
        expect(check!.kinds).toEqual([]);
      }
    });
  }
});
