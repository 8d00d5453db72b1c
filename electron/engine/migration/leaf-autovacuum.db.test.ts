// The leaves a migration fills hold autovacuum off until after the swap
// (sql/functions/14_leaf_autovacuum.sql), then get the original's setting
// back (none, or the one the original table had, on leaves with and without
// a TOAST table, in a key's own partitions and in the pool of small keys)
// and are analyzed.
// (preserve.db.test.ts checks the same with other storage parameters beside
// it, crash-resume.db.test.ts that a run killed after the swap gives it back
// on resume.)
import { describe, expect, it, beforeAll } from 'vitest';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('leaf_autovacuum');

beforeAll(async () => {
  await installPartwise(db);
  // As on most production servers (the test cluster preloads it).
  await db.admin.query('CREATE EXTENSION pg_stat_statements');
});

interface LeafOptions {
  leaves: number;
  options: (string[] | null)[];
  toast: (string[] | null)[];
}

/** The distinct storage parameters of the table's leaves and of their TOAST tables (none without one). */
async function leafOptions(partitioned: string): Promise<LeafOptions> {
  const [row] = await db.query<LeafOptions>(
    `SELECT count(*)::int AS leaves,
            array_agg(DISTINCT array_to_string(c.reloptions, ',')) AS options,
            coalesce(array_agg(DISTINCT array_to_string(toast.reloptions, ',')) FILTER (WHERE toast.oid IS NOT NULL), '{}') AS toast
       FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid
       LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
      WHERE t.isleaf`,
    [partitioned],
  );
  return row!;
}

describe('autovacuum on the leaves a migration fills', () => {
  /** Migrates `table` by k, small keys sharing the pool; returns its leaves' options before the index phase and before verify. */
  async function migrated(table: string): Promise<Map<string, LeafOptions>> {
    const seen = new Map<string, LeafOptions>();
    const run = await migrate(db.pool, [{ schema: 'public', table, keyColumn: 'k', bucketLimit: 40, shareBelow: 30 }], {
      // After the copy, and after the swap.
      beforePhase: async (phase) => {
        if (phase === 'indexes' || phase === 'verify') seen.set(phase, await leafOptions(`${table}_partitioned`));
      },
    });
    expect(run.status, run.message).toBe('succeeded');
    return seen;
  }

  it('is held off while they are filled and reset after the swap, on a table that had no setting', async () => {
    // Keys 1-4 have 100 rows each (3 leaves of their own), keys 5-24 5 rows each (pooled).
    await db.query(`CREATE TABLE plain_rows (id bigint PRIMARY KEY, k int NOT NULL, note text)`);
    await db.query(`INSERT INTO plain_rows SELECT g, 1 + g % 4, 'n' || g FROM generate_series(1, 400) g`);
    await db.query(`INSERT INTO plain_rows SELECT 1000 + g, 5 + g % 20, 'p' || g FROM generate_series(1, 100) g`);
    const seen = await migrated('plain_rows');
    // Filled, indexed, caught up and swapped with autovacuum off.
    for (const phase of ['indexes', 'verify']) {
      expect(seen.get(phase), phase).toMatchObject({
        options: ['autovacuum_enabled=false'],
        toast: ['autovacuum_enabled=false'],
      });
    }
    const after = await leafOptions('plain_rows_partitioned');
    expect(after).toEqual({ leaves: seen.get('verify')!.leaves, options: [null], toast: [null] });
    expect(after.leaves).toBeGreaterThan(12);
    // No entry per leaf in pg_stat_statements for their ANALYZE: on a tree
    // of thousands they would evict the application's statements.
    expect(
      await db.admin.query(
        `SELECT query FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query ILIKE 'ANALYZE %plain_rows_k%'`,
      ),
    ).toEqual([]);
    // Each leaf that holds rows has planner statistics when the run ends
    // (autovacuum, given its setting back, would come round only later).
    expect(
      await db.query(
        `SELECT c.relname FROM pg_partition_tree('plain_rows_partitioned') t JOIN pg_class c ON c.oid = t.relid
          WHERE t.isleaf AND EXISTS (SELECT 1 FROM plain_rows_partitioned r WHERE r.tableoid = c.oid)
            AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'public' AND s.tablename = c.relname)`,
      ),
    ).toEqual([]);
  });

  it("gets the original's own setting back, on leaves without a TOAST table too", async () => {
    await db.query(
      `CREATE TABLE narrow_rows (id bigint PRIMARY KEY, k int NOT NULL) WITH (fillfactor = 90, autovacuum_enabled = off)`,
    );
    await db.query(`INSERT INTO narrow_rows SELECT g, 1 + g % 4 FROM generate_series(1, 400) g`);
    await db.query(`INSERT INTO narrow_rows SELECT 1000 + g, 5 + g % 20 FROM generate_series(1, 100) g`);
    const seen = await migrated('narrow_rows');
    expect(seen.get('indexes')).toMatchObject({
      options: expect.arrayContaining(['fillfactor=90,autovacuum_enabled=false']),
      toast: [],
    });
    expect(await leafOptions('narrow_rows_partitioned')).toEqual({
      leaves: seen.get('verify')!.leaves,
      options: ['fillfactor=90,autovacuum_enabled=off'],
      toast: [],
    });
  });
});
