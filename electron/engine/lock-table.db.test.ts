// Thousands of partitions against a small lock table: a query that does not
// prune locks every partition and fails with "out of shared memory", so
// everything Partwise does across all partitions (provisioning, copying,
// indexing, verifying, exploring, maintaining) must work in transactions that
// each lock only a few. This file runs its own server with a lock table of
// 800 entries (max_locks_per_transaction 40 x max_connections 20). Spare
// shared memory lets it grow several times that (about 4,000 here): the
// tree's 2,401 partitions fit in one transaction (the swap needs that), the
// partitions with their 6,400 indexes do not.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { inject } from 'vitest';
import { isSupportedMajor } from '../embedded/binaries.js';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { startTemporaryCluster } from '../embedded/temporary-cluster.js';
import { migrate, planMigration, verifyRun } from './index.js';
import { leafSizes, listManagedTables, partitionTree, sizesReport, trackerRows } from './explorer.js';
import { maintainTable } from './maintain.js';

let cluster: RunningCluster;
let pool: pg.Pool;

beforeAll(async () => {
  const major = inject('pgMajor');
  if (!isSupportedMajor(major)) throw new Error(`unsupported major ${major}`);
  cluster = await startTemporaryCluster(major, 'locks', {
    ...THROWAWAY_SETTINGS,
    max_locks_per_transaction: 40,
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

describe('a table with more partitions than the lock table holds', () => {
  it('migrates, verifies, explores and maintains it; an unfiltered query would not fit', async () => {
    const keys = 800;
    await pool.query(`CREATE TABLE wide (id bigserial PRIMARY KEY, tenant int NOT NULL, body text)`);
    for (const column of ['body', 'tenant', 'body, tenant']) await pool.query(`CREATE INDEX ON wide (${column})`);
    await pool.query(`INSERT INTO wide (tenant, body) SELECT 1 + g % $1, 'b' FROM generate_series(1, $1 * 2) g`, [
      keys,
    ]);
    // The plan says the swap needs all 2,401 partitions locked at once, more
    // than the 800 PostgreSQL guarantees, and which setting to raise.
    const client = await pool.connect();
    const plan = await planMigration(
      client,
      { schema: 'public', table: 'wide', keyColumn: 'tenant', bucketLimit: 1 },
      {
        exact: true,
      },
    ).finally(() => client.release());
    const warning = plan.issues.find((i) => i.code === 'lock_table_too_small');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toContain('2,401 partitions');
    expect(warning!.fix).toMatch(/max_locks_per_transaction = \d+/);
    const outcome = await migrate(pool, [{ schema: 'public', table: 'wide', keyColumn: 'tenant', bucketLimit: 1 }], {
      workers: 2,
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    // 800 level-1 partitions and 1,600 leaves, each leaf with four indexes.
    await expect(pool.query(`SELECT count(*) FROM wide`)).rejects.toThrow(/out of shared memory/);
    // Queries on one key prune to its partitions.
    expect(await pool.query(`SELECT count(*)::int AS n FROM wide WHERE tenant = 7`).then((r) => r.rows)).toEqual([
      { n: 2 },
    ]);

    expect((await verifyRun(pool, outcome.runId)).status).toBe('succeeded');
    const [managed] = await listManagedTables(pool, 'partwise');
    const tree = await partitionTree(pool, 'partwise', managed!.configId, true);
    expect(tree.totals).toMatchObject({ levelOne: keys, leaves: keys * 2, rows: keys * 2 });
    expect((await sizesReport(pool, 'partwise', managed!.configId)).fillBands.at(-2)!.buckets).toBe(keys * 2);
    const sizes = await leafSizes(pool, 'partwise', managed!.configId);
    expect(Object.keys(sizes.bytes)).toHaveLength(keys * 2);
    expect(Object.values(sizes.bytes).every((bytes) => bytes > 0)).toBe(true);
    // Routed inserts give every key a ticket sequence: reading them all must fit too.
    // (Like any statement, an insert locks every partition it writes to: a
    // hundred keys at a time.)
    for (let first = 1; first <= keys; first += 100) {
      await pool.query(`INSERT INTO wide (tenant, body) SELECT g, 'routed' FROM generate_series($1::int, $1 + 99) g`, [
        first,
      ]);
    }
    const tracker = await trackerRows(pool, 'partwise', managed!.configId);
    expect(tracker.every((t) => t.rowsAssigned === 3)).toBe(true);
    const report = await maintainTable(pool, managed!.configId, { installSchema: 'partwise', ahead: null });
    expect(report.keysChecked).toBe(keys);
    expect(report.findings).toEqual([]);
  });
});
