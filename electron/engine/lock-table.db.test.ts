// Thousands of partitions against a small lock table: a query that does not
// prune locks every partition and index and fails with "out of shared
// memory", so everything Partwise does across all partitions (provisioning,
// copying, indexing, the swap, verifying, rolling back, exploring,
// maintaining) must work in transactions that each lock only a few, a unique
// registry's row trigger included (placed a group of partitions per
// transaction): such a tree is migrated, with a registry or without, and
// rolled back. This file runs
// its own server with a lock table sized for 2,020 locks
// (max_locks_per_transaction 101 x max_connections 20): a tree of 2,001
// partitions fits, the same partitions with the 11,200 indexes of their
// leaves do not. (Beyond its size the lock table takes what spare shared
// memory allows, measured with advisory locks on an idle server at 3.9 to 5.3
// times the size: 9,030 of 2,600 on PostgreSQL 13, 11,768 of 2,600 on 18.)
// huge-tree.db.test.ts migrates 20,000 leaves with the default lock table.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { inject } from 'vitest';
import { isSupportedMajor } from '../embedded/binaries.js';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { startTemporaryCluster } from '../embedded/temporary-cluster.js';
import type { MigrationPlan } from '../../shared/plan.js';
import type { RunEvent } from '../../shared/progress.js';
import { migrate, planMigration, rollback, verifyRun } from './index.js';
import { leafSizes, listManagedTables, partitionTree, sizesReport, trackerRows } from './explorer.js';
import { maintainTable } from './maintain.js';

let cluster: RunningCluster;
let pool: pg.Pool;

/**
 * Rows and keys of a table too large for the lock table to scan whole: a
 * query per group of keys, given as a parameter so that it prunes while planned.
 */
async function rowsByKey(table: string, keys: number): Promise<{ rows: number; keys: number }> {
  let rows = 0;
  let seen = 0;
  for (let first = 1; first <= keys; first += 50) {
    const group = Array.from({ length: 50 }, (_, i) => first + i);
    const { rows: counted } = await pool.query<{ rows: number; keys: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT tenant)::int AS keys FROM ${table} WHERE tenant = ANY ($1::int[])`,
      [group],
    );
    rows += counted[0]!.rows;
    seen += counted[0]!.keys;
  }
  return { rows, keys: seen };
}

async function planOf(
  table: string,
  bucketLimit: number,
  uniqueness?: Record<string, 'table' | 'bucket'>,
): Promise<MigrationPlan> {
  const client = await pool.connect();
  try {
    return await planMigration(
      client,
      { schema: 'public', table, keyColumn: 'tenant', bucketLimit, uniqueness },
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

  it('plans 2,001 partitions with a registry as a warning about unfiltered queries, with the setting to raise, and migrates', async () => {
    await pool.query(`CREATE TABLE wide (id bigserial PRIMARY KEY, tenant int NOT NULL, body text)`);
    for (const columns of ['body', 'tenant', 'body, tenant', 'tenant, body', 'id, body', 'body, id'])
      await pool.query(`CREATE INDEX ON wide (${columns})`);
    await pool.query(
      `INSERT INTO wide (tenant, body) SELECT 1 + g % $1::int, 'b' FROM generate_series(1, $1::int * 4) g`,
      [keys],
    );
    // More than half of the lock table: queries that do not filter by the
    // key may fail. The primary key's registry adds nothing to that: its row
    // trigger is placed a group of partitions per transaction.
    const plan = await planOf('wide', 1);
    expect(plan.uniqueness).toContainEqual(expect.objectContaining({ name: 'wide_pkey', enforcement: 'table' }));
    const warning = plan.issues.find((i) => i.code === 'partition_tree_too_large');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toContain('The tree would have 2,001 partitions: more than half of the lock table');
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

  it('copies in a few block ranges per group of keys, still in 20 steps, every row once, rows changed meanwhile replayed', async () => {
    // 400 keys of one bucket: 800 partitions, each with a TOAST table and its
    // index (3 relations), against three quarters of a share of 336: 84
    // partitions, 42 keys, per transaction (10 groups). About 30 MB: counted
    // in 20 chunks, copied in 2 ranges, each read once per group (20 units:
    // progress keeps its 5% steps).
    await pool.query(`CREATE TABLE ranged (id bigserial PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
    await pool.query(
      `INSERT INTO ranged (tenant, body) SELECT 1 + g % 400, repeat('x', 200) FROM generate_series(1, 120000) g`,
    );
    const events: RunEvent[] = [];
    const outcome = await migrate(
      pool,
      [
        {
          schema: 'public',
          table: 'ranged',
          keyColumn: 'tenant',
          bucketLimit: 1000,
          uniqueness: { ranged_pkey: 'bucket' },
        },
      ],
      {
        workers: 2,
        // Logged before the count: the copy leaves them to the catch-up.
        beforePhase: async (phase) => {
          if (phase === 'provision') await pool.query(`UPDATE ranged SET body = 'changed' WHERE id % 101 = 0`);
        },
        onEvent: (event) => events.push(event),
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    const logged = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
    expect(logged).toContainEqual(
      expect.stringMatching(/^118,812 rows in 400 keys, in 20 chunks of up to \d+ blocks$/),
    );
    expect(logged).toContainEqual(
      "copying 2 block ranges in 10 groups of keys each, to keep each transaction's locks within the lock table",
    );
    expect(await rowsByKey('ranged', 400)).toEqual({ rows: 120_000, keys: 400 });
    const { rows } = await pool.query<{ changed: number; leaves: number }>(
      `SELECT count(*) FILTER (WHERE body = 'changed')::int AS changed, count(DISTINCT tableoid)::int AS leaves
         FROM ranged_partitioned WHERE tenant = ANY ($1::int[])`,
      [Array.from({ length: 100 }, (_, i) => i + 1)],
    );
    expect(rows).toEqual([{ changed: expect.any(Number), leaves: 100 }]);
    expect(rows[0]!.changed).toBeGreaterThan(0);
  });

  it('migrates a tree larger than the lock table with a unique registry, its row trigger placed a group of partitions per transaction, enforced, and rolls it back', async () => {
    // 300 keys of 8 rows at one row per bucket: 2,701 partitions for 2,020
    // locks. Refused until this version: the registry's row trigger was made
    // on the partitioned table, every partition locked at once.
    await tableWithKeys('wider', 300, 8);
    const plan = await planOf('wider', 1);
    expect(plan.exact).toBe(true);
    expect(plan.uniqueness).toContainEqual(expect.objectContaining({ name: 'wider_pkey', enforcement: 'table' }));
    expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    const warning = plan.issues.find((i) => i.code === 'partition_tree_too_large');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toContain('The tree would have 2,701 partitions: more than the lock table holds');
    expect(warning!.message).toContain('Recommended: max_locks_per_transaction = 271');
    const outcome = await migrate(pool, [{ schema: 'public', table: 'wider', keyColumn: 'tenant', bucketLimit: 1 }], {
      workers: 2,
      // Changes to every key for the catch-up and the registry's log.
      beforePhase: async (phase) => {
        if (phase === 'catch_up') await pool.query(`UPDATE wider SET id = id + 100000 WHERE id % 2 = 0`);
      },
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await rowsByKey('wider', 300)).toEqual({ rows: 2400, keys: 300 });

    // The row trigger on each level-1 partition (its leaves hold the clones),
    // none on the partitioned table.
    const { rows: placed } = await pool.query<{ parent: number; levelOne: number }>(
      `SELECT count(*) FILTER (WHERE t.tgrelid = 'wider_partitioned'::regclass)::int AS parent,
              count(*) FILTER (WHERE t.tgparentid = 0 AND i.inhparent = 'wider_partitioned'::regclass)::int AS "levelOne"
         FROM pg_trigger t LEFT JOIN pg_inherits i ON i.inhrelid = t.tgrelid
        WHERE t.tgname = 'partwise_unique'`,
    );
    expect(placed).toEqual([{ parent: 0, levelOne: 300 }]);
    // Enforced across the table: an id of key 1 refused in key 2, with the original constraint's name.
    const [{ id }] = (await pool.query<{ id: string }>(`SELECT min(id)::text AS id FROM wider WHERE tenant = 1`))
      .rows as [{ id: string }];
    await expect(pool.query(`INSERT INTO wider (id, tenant) VALUES ($1, 2)`, [id])).rejects.toMatchObject({
      code: '23505',
      constraint: 'wider_pkey',
    });

    const undone = await rollback(pool, outcome.runId);
    expect(undone.status, undone.message).toBe('rolled_back');
    expect((await pool.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'wider'::regclass`)).rows).toEqual(
      [{ kind: 'r' }],
    );
    expect((await pool.query(`SELECT count(*)::int AS n FROM wider`)).rows).toEqual([{ n: 2400 }]);
    expect(
      (
        await pool.query(
          `SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname = 'partwise_unique' AND c.relname LIKE 'wider%'`,
        )
      ).rows,
    ).toEqual([{ n: 0 }]);
  });

  it('migrates a tree larger than the lock table without a registry, warns about unfiltered queries, and rolls it back', async () => {
    // 300 keys of 8 rows at one row per bucket: 2,701 partitions (and their
    // 8,104 indexes) for 2,020 locks.
    await tableWithKeys('widest', 300, 8);
    const uniqueness = { widest_pkey: 'bucket' as const };
    const plan = await planOf('widest', 1, uniqueness);
    expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    const warning = plan.issues.find((i) => i.code === 'partition_tree_too_large');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toContain('The tree would have 2,701 partitions: more than the lock table holds');
    expect(warning!.message).toContain(
      'every query that does not filter by tenant locks every partition and fails with "out of shared memory"',
    );
    expect(warning!.fix).toContain(
      'Filter every query by tenant, or: ALTER SYSTEM SET max_locks_per_transaction = 271;',
    );
    const outcome = await migrate(
      pool,
      [{ schema: 'public', table: 'widest', keyColumn: 'tenant', bucketLimit: 1, uniqueness }],
      {
        workers: 2,
        // Changes to every key for the catch-up, applied a few keys per batch.
        beforePhase: async (phase) => {
          if (phase === 'catch_up') await pool.query(`UPDATE widest SET tenant = tenant WHERE id % 2 = 0`);
        },
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await rowsByKey('widest', 300)).toEqual({ rows: 2400, keys: 300 });

    // Written through the view after the swap, on keys old and new: a
    // rollback carries them back to the original table.
    await pool.query(`INSERT INTO widest (tenant) SELECT g FROM generate_series(299, 302) g`);
    await pool.query(`DELETE FROM widest WHERE tenant = 1`);
    await pool.query(`UPDATE widest SET id = -id WHERE tenant = 2`);
    const undone = await rollback(pool, outcome.runId);
    expect(undone.status, undone.message).toBe('rolled_back');
    expect(
      (await pool.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'widest'::regclass`)).rows,
    ).toEqual([{ kind: 'r' }]);
    expect((await pool.query(`SELECT to_regclass('widest_partitioned') AS t`)).rows).toEqual([{ t: null }]);
    const { rows } = await pool.query<{ rows: number; keys: number; negative: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT tenant)::int AS keys, count(*) FILTER (WHERE id < 0)::int AS negative FROM widest`,
    );
    expect(rows).toEqual([{ rows: 2400 + 4 - 8, keys: 302 - 1, negative: 8 }]);
  });

  it('says when one key alone has more buckets than a transaction may lock, what still locks them all, and the limit and the setting that fit', async () => {
    // One key of 200 rows at one row per bucket: 201 partitions with their
    // primary key's indexes, 402 relations, against a share of 2,020 / (2 x 3) = 336.
    await pool.query(`CREATE TABLE onekey (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
    await pool.query(
      `INSERT INTO onekey (tenant) SELECT CASE WHEN g <= 200 THEN 1 ELSE g END FROM generate_series(1, 220) g`,
    );
    const plan = await planOf('onekey', 1, { onekey_pkey: 'bucket' });
    const warning = plan.issues.find((i) => i.code === 'key_exceeds_lock_share');
    expect(warning).toMatchObject({ severity: 'info' });
    expect(warning!.message).toContain(
      "tenant 1 alone would have 200 buckets, with their indexes 402 relations: more than a transaction's share of the lock table (336 of 2,020 with 2 workers)",
    );
    expect(warning!.message).toContain(
      'provisions, copies, indexes and verifies it a range of buckets per transaction',
    );
    expect(warning!.message).toContain("replaying that key's changes made during the migration");
    // 167 buckets of that key fit the share: 200 rows need 2 per bucket.
    expect(warning!.fix).toBe(
      'A bucket limit of at least 2 rows keeps that key within the share. Or: ALTER SYSTEM SET max_locks_per_transaction = 121;  -- then restart PostgreSQL',
    );
    expect((await planOf('onekey', 2, { onekey_pkey: 'bucket' })).issues.map((i) => i.code)).not.toContain(
      'key_exceeds_lock_share',
    );
  });

  it("counts a key's TOAST tables and their indexes, as the replay does", async () => {
    // 120 buckets of one row: 121 partitions with their primary key's indexes
    // are 242 relations, within the share of 336; each leaf's TOAST table and
    // its index (a text column) make 482, beyond it.
    await pool.query(`CREATE TABLE toastkey (id bigserial PRIMARY KEY, tenant int NOT NULL, note text)`);
    await pool.query(
      `INSERT INTO toastkey (tenant, note) SELECT CASE WHEN g <= 120 THEN 1 ELSE g END, 'n' FROM generate_series(1, 130) g`,
    );
    const plan = await planOf('toastkey', 1, { toastkey_pkey: 'bucket' });
    const warning = plan.issues.find((i) => i.code === 'key_exceeds_lock_share');
    expect(warning).toMatchObject({ severity: 'info' });
    expect(warning!.message).toContain(
      "tenant 1 alone would have 120 buckets, with their indexes and TOAST tables 482 relations: more than a transaction's share of the lock table (336 of 2,020 with 2 workers)",
    );
    // 83 buckets fit: (336 - 2) / (2 + 2).
    expect(warning!.fix).toMatch(/^A bucket limit of at least 2 rows keeps that key within the share\. /);
  });
});

describe('a key with several shares of buckets on a small lock table', () => {
  // One key of 1,000 rows at one row per bucket: 1,001 partitions with their
  // primary key's indexes, about 2,000 relations, against a share of
  // 2,020 / (2 x 3) = 336 per transaction; and 50 small keys beside it.
  // Migrated, verified and rolled back, one step per test (each with its own
  // time limit), while another session takes locks and every other backend's
  // locks are sampled.
  const share = 336;
  let runId = 0;
  let running = true;
  let queries = 0;
  const failures: string[] = [];
  let most = 0;
  let mostAt = '';
  let watching: Promise<unknown> = Promise.resolve();
  let clients: pg.Client[] = [];

  beforeAll(async () => {
    await pool.query(`CREATE TABLE bigkey (id bigserial PRIMARY KEY, tenant int NOT NULL, body text)`);
    await pool.query(
      `INSERT INTO bigkey (tenant, body) SELECT CASE WHEN g <= 1000 THEN 1 ELSE 2 + g % 50 END, 'b' FROM generate_series(1, 1100) g`,
    );
    // Another session's query that locks 101 relations, over and over while
    // Partwise works: it must never meet a full lock table.
    await pool.query(`CREATE TABLE bystander (id int NOT NULL, part int NOT NULL) PARTITION BY LIST (part)`);
    for (let part = 0; part < 100; part++)
      await pool.query(`CREATE TABLE bystander_${part} PARTITION OF bystander FOR VALUES IN (${part})`);
    // Connections of their own: the run takes up to 2 + 3 of the pool's 6.
    const bystander = new pg.Client({ connectionString: cluster.url() });
    const sampler = new pg.Client({ connectionString: cluster.url() });
    clients = [bystander, sampler];
    await Promise.all(clients.map((c) => c.connect()));
    const bystanderPid = (await bystander.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const bystanding = (async () => {
      while (running) {
        try {
          await bystander.query('BEGIN');
          await bystander.query('SELECT count(*) FROM bystander');
          await bystander.query('COMMIT');
          queries++;
        } catch (error) {
          failures.push((error as Error).message);
          await bystander.query('ROLLBACK').catch(() => undefined);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // The most relations any other backend (Partwise's) held locked at once,
    // sampled every 50 ms: a relation locked in two modes takes one entry of
    // the lock table, as pg_locks shows it in two rows.
    const sampling = (async () => {
      while (running) {
        const { rows } = await sampler.query<{ n: number; query: string | null }>(
          `SELECT l.n, a.query FROM (
             SELECT pid, count(DISTINCT relation)::int AS n FROM pg_locks
              WHERE locktype = 'relation' AND pid NOT IN (pg_backend_pid(), $1) GROUP BY pid) l
             LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            ORDER BY l.n DESC LIMIT 1`,
          [bystanderPid],
        );
        if (rows[0] && rows[0].n > most) {
          most = rows[0].n;
          mostAt = rows[0].query ?? '';
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    watching = Promise.all([bystanding, sampling]);
  }, 120_000);

  afterAll(async () => {
    running = false;
    await watching;
    await Promise.all(clients.map((c) => c.end()));
  });

  it('says the key exceeds the share and what still locks all of it, and migrates it', async () => {
    const uniqueness = { bigkey_pkey: 'bucket' as const };
    const plan = await planOf('bigkey', 1, uniqueness);
    const note = plan.issues.find((i) => i.code === 'key_exceeds_lock_share');
    expect(note).toMatchObject({ severity: 'info' });
    expect(note!.message).toContain('tenant 1 alone would have 1,000 buckets');
    const outcome = await migrate(
      pool,
      [{ schema: 'public', table: 'bigkey', keyColumn: 'tenant', bucketLimit: 1, uniqueness }],
      {
        workers: 2,
        // Changes to the small keys for the catch-up.
        beforePhase: async (phase) => {
          if (phase === 'catch_up') await pool.query(`UPDATE bigkey SET body = 'changed' WHERE tenant > 1`);
        },
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    runId = outcome.runId;
    const { rows: buckets } = await pool.query<{ leaves: number }>(
      `SELECT count(*)::int AS leaves FROM pg_inherits
        WHERE inhparent = (SELECT t.level_one_partition FROM partwise.partition_tracker t
                            JOIN partwise.partition_config c USING (config_id)
                           WHERE c.table_name = 'bigkey' AND t.key_value = '1')`,
    );
    expect(buckets).toEqual([{ leaves: 1000 }]);
  });

  it('verifies it', async () => {
    expect(runId).toBeGreaterThan(0);
    expect((await verifyRun(pool, runId)).status).toBe('succeeded');
  });

  it('rolls it back with a row written since the swap; no transaction locked more than its share, and the other session never failed', async () => {
    expect(runId).toBeGreaterThan(0);
    await pool.query(`INSERT INTO bigkey (tenant, body) VALUES (3, 'after the swap')`);
    const undone = await rollback(pool, runId);
    expect(undone.status, undone.message).toBe('rolled_back');
    running = false;
    await watching;
    const { rows } = await pool.query<{ rows: number; big: number; after: number }>(
      `SELECT count(*)::int AS rows, count(*) FILTER (WHERE tenant = 1)::int AS big,
              count(*) FILTER (WHERE body = 'after the swap')::int AS after FROM bigkey`,
    );
    expect(rows).toEqual([{ rows: 1101, big: 1000, after: 1 }]);
    expect(failures).toEqual([]);
    expect(queries).toBeGreaterThan(0);
    expect(most, `held by: ${mostAt}`).toBeLessThanOrEqual(share);
  });
});
