// plan.create through the dispatcher the app uses, against a real database:
// the figures a DBA reads before pressing Start, on a skewed table whose
// statistics undercount its keys, and a tree the lock table cannot hold.
import { describe, expect, it, beforeAll } from 'vitest';
import type { ResponseEnvelope } from '../../shared/contract.js';
import type { MigrationPlan } from '../../shared/plan.js';
import { createDispatcher } from './dispatch.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import type { ServiceContext } from './context.js';
import { useTestDatabase } from '../testing/database.js';
import { planMigration } from '../engine/plan.js';
import { testPools } from '../testing/pools.js';

const db = useTestDatabase('plan_handlers');
let dispatch: ReturnType<typeof createDispatcher>;

async function plan(table: string, bucketLimit: number, exact = false): Promise<MigrationPlan> {
  const response: ResponseEnvelope = await dispatch('plan.create', {
    connectionId: 'main',
    targets: [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit }],
    exact,
  });
  if (!response.ok) throw new Error(response.error.message);
  return (response.result as MigrationPlan[])[0]!;
}

/** What a scan says: keys and leaves at a bucket limit. */
async function counted(table: string, bucketLimit: number): Promise<{ keys: number; leaves: number }> {
  const [row] = await db.query<{ keys: number; leaves: number }>(
    `SELECT count(*)::int AS keys, sum(ceil(n / $1::numeric))::int AS leaves
       FROM (SELECT count(*) AS n FROM ${table} GROUP BY customer_id) k`,
    [bucketLimit],
  );
  return row!;
}

beforeAll(async () => {
  const context: ServiceContext = {
    pools: testPools(db),
    emit: () => undefined,
    onShutdown: () => undefined,
    installSchema: 'partwise',
  };
  dispatch = createDispatcher(createHandlers(context, {} as ConnectionHandlers));
  // The Sandbox's shape: 200 customers, the customer of rank r with
  // 20,000 e^(-(r-1)/4) rows plus 1 to 5, so most customers have a handful.
  await db.query(`CREATE TABLE skewed (id bigserial PRIMARY KEY, customer_id int NOT NULL, body text)`);
  await db.query(
    `INSERT INTO skewed (customer_id, body)
     SELECT 1000 + r, 'b' FROM generate_series(1, 200) r,
            generate_series(1, floor(20000 * exp(-(r - 1) / 4.0))::int + 1 + r % 5) g`,
  );
  // Statistics that undercount the keys as the Sandbox's did (82 of 200),
  // set rather than left to ANALYZE's random sample so that every run sees
  // the same figure; the sample (3,000 rows) is small, as the default one is
  // on a table ten times the size.
  await db.query(`ALTER TABLE skewed ALTER COLUMN customer_id SET STATISTICS 10`);
  await db.query(`ALTER TABLE skewed ALTER COLUMN customer_id SET (n_distinct = 82)`);
  await db.query(`ANALYZE skewed`);
});

describe('plan.create', () => {
  it('counts a table exactly by default when that is cheap, where statistics undercount a skewed key', async () => {
    const [stats] = await db.query<{ n_distinct: number }>(
      `SELECT n_distinct FROM pg_stats WHERE tablename = 'skewed' AND attname = 'customer_id'`,
    );
    // What a plan from statistics would have said.
    expect(stats!.n_distinct).toBe(82);
    const truth = await counted('skewed', 1000);
    expect(truth.keys).toBe(200);

    const result = await plan('skewed', 1000);
    expect(result.exact).toBe(true);
    expect(result.counting.method).toBe('scanned');
    expect(result.counting.note).toMatch(
      /^Counted exactly by scanning the table \(\d[\d.]* (kB|MB), \d+ ms\): tables up to 1 GB are counted by default\.$/,
    );
    expect(result.key.distinctKeys).toBe(200);
    expect(result.partitions).toMatchObject({
      levelOne: 200,
      leaves: truth.leaves,
      maxLevelOne: 200,
      maxLeaves: truth.leaves,
      // Partitions and their indexes (one, the primary key) for a query that does not prune.
      lockedByFullScan: (1 + 200 + truth.leaves) * 2,
    });
    // The DDL count is the tree's: the partitioned table, every partition,
    // its index, the rename and the view.
    expect(result.ddlStatements).toBe(1 + 200 + truth.leaves + 1 + 2);
    expect(result.maxDdlStatements).toBe(result.ddlStatements);
    // The statements listed, and those the closing comment counts, make the tree.
    const listed = result.ddl.filter((s) => s.includes(' PARTITION OF ')).length;
    const comment = result.ddl.find((s) => s.startsWith('-- ... and, alike,'));
    const more = /(\d[\d,]*) more level-1 partitions? with (\d[\d,]*) lea/.exec(comment ?? '');
    const unlisted = more ? Number(more[1]!.replace(/,/g, '')) + Number(more[2]!.replace(/,/g, '')) : 0;
    expect(listed + unlisted).toBe(200 + truth.leaves);
    // Past the listing limit, the comment counts the rest.
    const limited = await plan('skewed', 10);
    const limitedTruth = await counted('skewed', 10);
    const limitedListed = limited.ddl.filter((s) => s.includes(' PARTITION OF ')).length;
    const limitedMore = /(\d[\d,]*) more level-1 partitions? with (\d[\d,]*) lea/.exec(
      limited.ddl.find((s) => s.startsWith('-- ... and, alike,')) ?? '',
    );
    expect(limitedListed).toBeLessThanOrEqual(2000);
    expect(
      limitedListed + Number(limitedMore![1]!.replace(/,/g, '')) + Number(limitedMore![2]!.replace(/,/g, '')),
    ).toBe(200 + limitedTruth.leaves);
    expect(limited.ddlStatements).toBe(1 + 200 + limitedTruth.leaves + 1 + 2);
  });

  it('warns of a bucket limit whose tree the lock table cannot hold, with one recommendation, a unique registry or not', async () => {
    // One row per bucket: about 90,000 leaves against a lock table of 128 x 200 = 25,600.
    // The primary key keeps a registry (its row trigger is placed a group of
    // partitions per transaction): the tree costs the application's
    // unfiltered queries, not the run.
    const truth = await counted('skewed', 1);
    const result = await plan('skewed', 1);
    expect(result.uniqueness).toContainEqual(expect.objectContaining({ name: 'skewed_pkey', enforcement: 'table' }));
    expect(result.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    const warning = result.issues.find((i) => i.code === 'partition_tree_too_large')!;
    expect(warning.severity).toBe('warning');
    const partitions = 1 + 200 + truth.leaves;
    const recommended = Math.ceil((partitions * 2) / 200);
    expect(result.partitions.recommendedMaxLocks).toBe(recommended);
    expect(warning.message).toContain(
      `The tree would have ${partitions.toLocaleString('en-US')} partitions: more than the lock table holds`,
    );
    expect(warning.message).toContain(
      "PostgreSQL's lock table is sized for 25,600 locks (max_locks_per_transaction 128 x (max_connections 200 + max_prepared_transactions 0))",
    );
    // 200 keys need 401 partitions at least: a larger bucket limit does the job.
    expect(warning.fix).toMatch(
      new RegExp(
        `^Filter every query by customer_id, or: ALTER SYSTEM SET max_locks_per_transaction = ${recommended};  -- then restart PostgreSQL\\. Or: a bucket limit of at least \\d+ rows keeps the tree within half of the current lock table\\.$`,
      ),
    );
    // One value of max_locks_per_transaction on the whole plan.
    const values = new Set(
      result.issues.flatMap((i) =>
        [...`${i.message} ${i.fix ?? ''}`.matchAll(/max_locks_per_transaction = (\d+)/g)].map((m) => m[1]),
      ),
    );
    expect([...values]).toEqual([String(recommended)]);
    const suggested = Number(/at least (\d+) rows/.exec(warning.fix!)![1]);
    const fixed = await plan('skewed', suggested);
    expect(fixed.issues.filter((i) => i.code === 'partition_tree_too_large')).toEqual([]);
    expect(fixed.partitions.recommendedMaxLocks).toBeNull();
  });

  it('plans from statistics when asked, and says how uncertain they are', async () => {
    // The same rows without exact counting: what a table past the default
    // counting size gets. No index leads with the key: nothing bounds the
    // keys but the rows.
    const rows = (await counted('skewed', 1)).leaves;
    const client = await db.pool.connect();
    try {
      const estimated = await planMigration(
        client,
        { schema: 'public', table: 'skewed', keyColumn: 'customer_id', bucketLimit: 1000 },
        { counting: 'estimate' },
      );
      expect(estimated.exact).toBe(false);
      expect(estimated.counting.method).toBe('statistics');
      expect(estimated.counting.note).toContain('estimated from statistics, which sampled 3,000 rows of about');
      expect(estimated.counting.note).toContain('the checks assume up to one key per row');
      expect(estimated.key.distinctKeys).toBe(82);
      expect(estimated.partitions.maxLevelOne).toBe(rows);
      expect(estimated.partitions.maxLeaves).toBe(rows);
      // Nothing of the run depends on the tree's size (the run counts every
      // key before it creates a partition): an uncertain count refuses nothing.
      expect(estimated.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
      // The statement count agrees with the partitions estimated, and its bound with theirs.
      const p = estimated.partitions;
      expect(estimated.ddlStatements).toBe(1 + p.levelOne + p.leaves + 1 + 2);
      expect(estimated.maxDdlStatements).toBe(1 + p.maxLevelOne + p.maxLeaves + 1 + 2);

      // With an index on the key the keys are counted from it, exactly, and
      // the leaves bounded by them: the bound is tight enough to trust.
      await db.query(`CREATE INDEX skewed_customer_id_idx ON skewed (customer_id)`);
      const indexed = await planMigration(
        client,
        { schema: 'public', table: 'skewed', keyColumn: 'customer_id', bucketLimit: 1000 },
        { counting: 'estimate' },
      );
      const truth = await counted('skewed', 1000);
      expect(indexed.counting.method).toBe('index');
      expect(indexed.counting.note).toContain('keys counted exactly from index skewed_customer_id_idx');
      expect(indexed.key.distinctKeys).toBe(200);
      expect(indexed.partitions.maxLevelOne).toBe(200);
      expect(indexed.partitions.maxLeaves).toBeGreaterThanOrEqual(truth.leaves);
      expect(indexed.partitions.maxLeaves).toBeLessThanOrEqual(Math.ceil(rows / 1000) + 200);
      expect(indexed.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    } finally {
      client.release();
      await db.query(`DROP INDEX IF EXISTS skewed_customer_id_idx`);
    }
  });
});
