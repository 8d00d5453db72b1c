// Thousands of partitions against a small lock table: a query that does not
// prune locks every partition and index and fails with "out of shared
// memory", so everything Partwise does across all partitions (provisioning,
// copying, indexing, verifying, exploring, maintaining) must work in
// transactions that each lock only a few. The one exception is the swap,
// which locks every partition at once: the plan refuses a tree larger than
// the lock table, and so does the run once it has counted every key. This
// file runs its own server with a lock table sized for 2,020 locks
// (max_locks_per_transaction 101 x max_connections 20): a tree of 2,001
// partitions fits, the same partitions with the 11,200 indexes of their
// leaves do not. (Beyond its size the lock table takes what spare shared
// memory allows, measured with advisory locks on an idle server at 3.9 to 5.3
// times the size: 9,030 of 2,600 on PostgreSQL 13, 11,768 of 2,600 on 18.)
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { inject } from 'vitest';
import { isSupportedMajor } from '../embedded/binaries.js';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { startTemporaryCluster } from '../embedded/temporary-cluster.js';
import type { MigrationPlan } from '../../shared/plan.js';
import type { RunEvent } from '../../shared/progress.js';
import { migrate, planMigration, verifyRun } from './index.js';
import { leafSizes, listManagedTables, partitionTree, sizesReport, trackerRows } from './explorer.js';
import { maintainTable } from './maintain.js';

let cluster: RunningCluster;
let pool: pg.Pool;

async function planOf(table: string, bucketLimit: number): Promise<MigrationPlan> {
  const client = await pool.connect();
  try {
    return await planMigration(
      client,
      { schema: 'public', table, keyColumn: 'tenant', bucketLimit },
      { counting: 'auto' },
    );
  } finally {
    client.release();
  }
}

async function tableWithKeys(table: string, keys: number, rowsPerKey: number): Promise<void> {
  await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
  await pool.query(
    `INSERT INTO ${table} (tenant) SELECT 1 + g % $1::int FROM generate_series(1, $1::int * $2::int) g`,
    [keys, rowsPerKey],
  );
}

beforeAll(async () => {
  const major = inject('pgMajor');
  if (!isSupportedMajor(major)) throw new Error(`unsupported major ${major}`);
  cluster = await startTemporaryCluster(major, 'locks', {
    ...THROWAWAY_SETTINGS,
    max_locks_per_transaction: 101,
    max_connections: 20,
  });
  pool = new pg.Pool({ connectionString: cluster.url(), max: 6 });
  // pool.end() resolves before its connections have closed: the server's
  // shutdown may still reach one of them, which is expected here.
  pool.on('error', () => undefined);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await cluster?.stop();
});

describe('a tree of thousands of partitions on a small lock table', () => {
  // One migrated tree, then one step per test (each with its own time limit).
  const keys = 400;
  let runId = 0;
  let configId = 0;

  it('plans the swap of 2,001 partitions as a warning, with the setting to raise, and migrates', async () => {
    await pool.query(`CREATE TABLE wide (id bigserial PRIMARY KEY, tenant int NOT NULL, body text)`);
    for (const columns of ['body', 'tenant', 'body, tenant', 'tenant, body', 'id, body', 'body, id'])
      await pool.query(`CREATE INDEX ON wide (${columns})`);
    await pool.query(
      `INSERT INTO wide (tenant, body) SELECT 1 + g % $1::int, 'b' FROM generate_series(1, $1::int * 4) g`,
      [keys],
    );
    // The swap needs all 2,001 partitions locked at once, more than half of
    // the lock table.
    const plan = await planOf('wide', 1);
    const warning = plan.issues.find((i) => i.code === 'lock_table_too_small');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toContain('2,001 partitions');
    expect(warning!.fix).toContain('ALTER SYSTEM SET max_locks_per_transaction = 201;');
    expect(plan.partitions.recommendedMaxLocks).toBe(201);
    expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    const outcome = await migrate(pool, [{ schema: 'public', table: 'wide', keyColumn: 'tenant', bucketLimit: 1 }], {
      workers: 2,
      // Changes across many keys for the catch-up, whose replay plans only the
      // partitions of each batch's keys here (the whole tree does not fit the
      // lock table); verification then compares every key.
      beforePhase: async (phase) => {
        if (phase !== 'catch_up') return;
        await pool.query(`UPDATE wide SET body = 'changed' WHERE id % 3 = 0`);
      },
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    runId = outcome.runId;
    const [managed] = await listManagedTables(pool, 'partwise');
    configId = managed!.configId;
  });

  it('fails a query that does not filter by the key, and answers one that does, right after', async () => {
    expect(runId).toBeGreaterThan(0);
    // 400 level-1 partitions and 1,600 leaves, each with seven indexes: an
    // unfiltered query fails. On a connection of its own: the test goes on
    // once that backend has aborted and let go of the locks it took (a pool
    // drops a connection whose query failed and hands out another at once,
    // while the failed backend may still hold thousands of locks: the
    // "out of shared memory" a pruned query once met here on PostgreSQL 17).
    const unfiltered = await pool.connect();
    try {
      await expect(unfiltered.query(`SELECT count(*) FROM wide`)).rejects.toThrow(/out of shared memory/);
      await unfiltered.query('SELECT 1');
    } finally {
      unfiltered.release();
    }
    // A query on one key prunes while it is planned: it locks that key's
    // partitions and their indexes, nothing else.
    const pruned = await pool.connect();
    try {
      await pruned.query('BEGIN');
      expect((await pruned.query(`SELECT count(*)::int AS n FROM wide WHERE tenant = 7`)).rows).toEqual([{ n: 4 }]);
      // Tables locked, each with its indexes: the view, the partitioned
      // table, the key's partition and its four leaves; of 2,001 partitions.
      const { rows } = await pruned.query<{ tables: string[] }>(
        `SELECT array_agg(t ORDER BY t) AS tables FROM (
           SELECT DISTINCT coalesce(i.indrelid, l.relation)::regclass::text AS t
             FROM pg_locks l LEFT JOIN pg_index i ON i.indexrelid = l.relation
            WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.relation NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace)) locked`,
      );
      const leaves = await pruned.query<{ leaf: string }>(
        `SELECT DISTINCT tableoid::regclass::text AS leaf FROM wide_partitioned WHERE tenant = 7`,
      );
      expect(leaves.rows).toHaveLength(4);
      const levelOne = await pruned.query<{ parent: string }>(
        `SELECT inhparent::regclass::text AS parent FROM pg_inherits WHERE inhrelid = $1::regclass`,
        [leaves.rows[0]!.leaf],
      );
      expect(rows[0]!.tables).toEqual(
        ['wide', 'wide_partitioned', levelOne.rows[0]!.parent, ...leaves.rows.map((r) => r.leaf)].sort(),
      );
    } finally {
      await pruned.query('ROLLBACK');
      pruned.release();
    }
  });

  it('verifies it, a few partitions per transaction', async () => {
    expect(runId).toBeGreaterThan(0);
    expect((await verifyRun(pool, runId)).status).toBe('succeeded');
  });

  it('explores it: tree, fill levels and sizes', async () => {
    expect(configId).toBeGreaterThan(0);
    const tree = await partitionTree(pool, 'partwise', configId, true);
    expect(tree.totals).toMatchObject({ levelOne: keys, leaves: keys * 4, rows: keys * 4 });
    expect((await sizesReport(pool, 'partwise', configId)).fillBands.at(-2)!.buckets).toBe(keys * 4);
    const sizes = await leafSizes(pool, 'partwise', configId);
    expect(Object.keys(sizes.bytes)).toHaveLength(keys * 4);
    expect(Object.values(sizes.bytes).every((bytes) => bytes > 0)).toBe(true);
  });

  it('routes new rows into it and maintains it', async () => {
    expect(configId).toBeGreaterThan(0);
    // Routed inserts give every key a ticket sequence: reading them all must fit too.
    // (Like any statement, an insert locks every partition it writes to: a
    // hundred keys at a time.)
    for (let first = 1; first <= keys; first += 100) {
      await pool.query(`INSERT INTO wide (tenant, body) SELECT g, 'routed' FROM generate_series($1::int, $1 + 99) g`, [
        first,
      ]);
    }
    const tracker = await trackerRows(pool, 'partwise', configId);
    expect(tracker.every((t) => t.rowsAssigned === 5)).toBe(true);
    const report = await maintainTable(pool, configId, { installSchema: 'partwise', ahead: null });
    expect(report.keysChecked).toBe(keys);
    expect(report.findings).toEqual([]);
  });

  it('refuses a tree larger than the lock table, with the fix: in the plan, and in the run once it has counted', async () => {
    // 300 keys of 8 rows at one row per bucket: 2,701 partitions for 2,020 locks.
    await tableWithKeys('wider', 300, 8);
    const plan = await planOf('wider', 1);
    expect(plan.exact).toBe(true);
    const blocker = plan.issues.find((i) => i.code === 'partition_tree_too_large');
    expect(blocker).toMatchObject({ severity: 'blocker' });
    expect(blocker!.message).toContain('The tree would have 2,701 partitions');
    expect(blocker!.message).toContain('Recommended: max_locks_per_transaction = 271');
    expect(blocker!.fix).toBe(
      'ALTER SYSTEM SET max_locks_per_transaction = 271;  -- then restart PostgreSQL. Or: a bucket limit of at least 6 rows keeps the tree within half of the current lock table.',
    );
    // The limit it names is enough: no warning about the tree at all.
    const fixed = await planOf('wider', 6);
    expect(fixed.issues.filter((i) => /partition|lock_table_too_small/.test(i.code))).toEqual([]);
    await expect(
      migrate(pool, [{ schema: 'public', table: 'wider', keyColumn: 'tenant', bucketLimit: 1 }]),
    ).rejects.toMatchObject({
      kind: 'blocked',
      message: expect.stringContaining('public.wider cannot be migrated: The tree would have 2,701 partitions'),
    });
    expect((await pool.query(`SELECT to_regclass('wider_partitioned') AS t`)).rows).toEqual([{ t: null }]);

    // Keys that arrive after the plan: the run counts them and stops before creating a partition.
    await tableWithKeys('growing', 100, 1);
    expect((await planOf('growing', 1)).issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    const events: RunEvent[] = [];
    const grown = await migrate(pool, [{ schema: 'public', table: 'growing', keyColumn: 'tenant', bucketLimit: 1 }], {
      beforePhase: async (phase) => {
        if (phase === 'provision')
          await pool.query(`INSERT INTO growing (tenant) SELECT g FROM generate_series(1000, 2399) g`);
      },
      onEvent: (event) => events.push(event),
    });
    expect(grown.status).toBe('failed');
    expect(grown.message).toContain('public.growing cannot be migrated: The tree would have 3,001 partitions');
    expect(grown.message).toMatch(/rolled back, the table is as it was$/);
    expect(events.some((e) => e.type === 'progress' && e.unit === 'partitions' && e.done > 0)).toBe(false);
    expect((await pool.query(`SELECT count(*)::int AS n FROM growing`)).rows).toEqual([{ n: 1500 }]);
  });
});
