// A table whose small keys share a pool (partwise.share_small_keys), through
// the dispatcher the app uses: the Explorer's tree, sizes and tracker show the
// pool as one level-1 partition with its buckets and each pooled key where it
// lives; a key action on a pooled key is planned for its rows in the pool
// (detach after isolating it), or refused when it acts on a key's own
// partitions, naming isolate. Outputs are checked against
// the contract by the dispatcher itself.
import { beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher } from './dispatch.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import type { ServiceContext } from './context.js';
import type { PartitionTree, TrackerRow } from '../../shared/explorer.js';
import type { KeyPlan } from '../../shared/keys.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../testing/fixtures.js';
import { resultOf } from '../testing/envelope.js';
import { testPools } from '../testing/pools.js';

const db = useTestDatabase('services_pool');
let dispatch: ReturnType<typeof createDispatcher>;
let t: RoutedTable;

async function call<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await dispatch(command, input));
}

beforeAll(async () => {
  const context: ServiceContext = {
    pools: testPools(db),
    emit: () => undefined,
    onShutdown: () => undefined,
    installSchema: 'partwise',
  };
  dispatch = createDispatcher(createHandlers(context, {} as ConnectionHandlers));
  await installPartwise(db);
  t = await createRoutedTable(db, { table: 'tenants', bucketLimit: 5 });
  // Key 1 has its own partition (2 buckets), then keys 2-4 share the pool: 3 + 4 + 5 rows, 3 pool buckets.
  await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 7)`);
  await db.query('SELECT partwise.share_small_keys($1, 100)', [t.configId]);
  await db.query(
    `INSERT INTO ${t.view} (customer_id) SELECT 2 + (g > 3)::int + (g > 7)::int FROM generate_series(1, 12) g`,
  );
});

describe('the Explorer of a table with a pool of small keys', () => {
  it('shows the pool as one level-1 partition with its buckets, and the pooled keys with their rows', async () => {
    const tree = await call<PartitionTree>('explorer.tree', {
      connectionId: 'main',
      configId: t.configId,
      exactCounts: true,
    });
    expect(tree.pool).toMatchObject({
      partition: 'tenants_customer_id_shared',
      keys: 3,
      rows: 12,
      currentBucketId: 2,
    });
    expect(tree.pool!.buckets.map((b) => [b.bucketId, b.leaf, b.assigned, b.rows, b.capacity])).toEqual([
      [0, 'tenants_customer_id_shared_bucket_id_0', 5, 5, 5],
      [1, 'tenants_customer_id_shared_bucket_id_1', 5, 5, 5],
      [2, 'tenants_customer_id_shared_bucket_id_2', 2, 2, 5],
    ]);
    expect(tree.levelOne.map((l) => [l.keyValue, l.partition, l.pooled, l.rows, l.buckets.length])).toEqual([
      ['1', 'tenants_customer_id_1', false, 7, 2],
      ['2', 'tenants_customer_id_shared', true, 3, 0],
      ['3', 'tenants_customer_id_shared', true, 4, 0],
      ['4', 'tenants_customer_id_shared', true, 5, 0],
    ]);
    // Two level-1 partitions (key 1's and the pool), five leaves, every row once.
    expect(tree.totals).toMatchObject({ rows: 19, leaves: 5, levelOne: 2 });
    // Without exact counts, pooled keys' rows are not read (0); the pool's are estimates.
    const quick = await call<PartitionTree>('explorer.tree', {
      connectionId: 'main',
      configId: t.configId,
      exactCounts: false,
    });
    expect(quick.levelOne.filter((l) => l.pooled).map((l) => l.rows)).toEqual([0, 0, 0]);
    expect(quick.pool!.buckets.map((b) => b.assigned)).toEqual([5, 5, 2]);

    const managed = await call<Array<{ configId: number; keys: number; leaves: number }>>('managed.list', {
      connectionId: 'main',
    });
    expect(managed.find((m) => m.configId === t.configId)).toMatchObject({ keys: 4, leaves: 5 });
  });

  it('measures the pool leaves with the others', async () => {
    const leafSizes = await call<{ bytes: Record<string, number>; totalBytes: number }>('explorer.leafSizes', {
      connectionId: 'main',
      configId: t.configId,
    });
    const onDisk = await db.query<{ leaf: string; bytes: string }>(
      `SELECT relname AS leaf, pg_total_relation_size(oid) AS bytes FROM pg_class
        WHERE relname LIKE 'tenants_customer_id_%_bucket_id_%' AND relkind = 'r'`,
    );
    expect(leafSizes.bytes).toEqual(Object.fromEntries(onDisk.map((r) => [r.leaf, Number(r.bytes)])));
    const sizes = await call<{
      fillBands: { buckets: number }[];
      tableBytes: number;
      indexBytes: number;
      toastBytes: number;
    }>('explorer.sizes', { connectionId: 'main', configId: t.configId });
    expect(sizes.fillBands.reduce((sum, b) => sum + b.buckets, 0)).toBe(5);
    expect(sizes.tableBytes + sizes.indexBytes + sizes.toastBytes).toBe(leafSizes.totalBytes);
  });

  it('lists a pooled key in the tracker with the pool and the pool bucket its next row goes to', async () => {
    const tracker = await call<{ rows: TrackerRow[] }>('tracker.list', { connectionId: 'main', configId: t.configId });
    expect(tracker.rows.find((r) => r.keyValue === '3')).toMatchObject({
      levelOnePartition: 'tenants_customer_id_shared',
      currentBucketId: 2,
      currentLeaf: 'tenants_customer_id_shared_bucket_id_2',
      currentCapacity: 5,
      currentAssigned: 2,
      rowsAssigned: 0,
    });
    expect(tracker.rows.find((r) => r.keyValue === '1')).toMatchObject({ currentBucketId: 1, rowsAssigned: 7 });
  });
});

describe('key actions on a pooled key through the dispatcher', () => {
  it('plans an export of its rows in the pool, a detach after isolating it, and refuses a compaction naming isolate', async () => {
    const [plan] = await call<KeyPlan[]>('keys.plan', {
      connectionId: 'main',
      configId: t.configId,
      action: 'export',
      keyValues: ['4'],
      options: {},
    });
    expect(plan).toMatchObject({ levelOne: 'tenants_customer_id_shared', rows: 5 });
    const [detach] = await call<KeyPlan[]>('keys.plan', {
      connectionId: 'main',
      configId: t.configId,
      action: 'detach',
      keyValues: ['4'],
      options: {},
    });
    expect(detach!.steps[0]).toMatch(/^isolate: wait for the inserts under way through public\.tenants to end$/);
    expect(detach!.notes[0]).toMatch(/^Key 4 shares the pool of small keys: it is isolated first/);
    const refused = await dispatch('keys.plan', {
      connectionId: 'main',
      configId: t.configId,
      action: 'compact',
      keyValues: ['4'],
      options: {},
    });
    expect(refused).toMatchObject({
      ok: false,
      error: {
        kind: 'conflict',
        message: expect.stringMatching(
          /^key 4 of public\.tenants shares the pool tenants_customer_id_shared with the table's other small keys: its 5 rows sit in \d+ pool buckets? that other keys fill too, so it has no bucket of its own to merge/,
        ),
        hint: expect.stringContaining('partwise key isolate --table public.tenants --value 4'),
      },
    });
  });
});

describe('maintenance of a table with a pool of small keys, through the dispatcher', () => {
  it('checks the pool as one and creates its next bucket ahead, reported without a key; names keys that outgrew it', async () => {
    // Key 4 holds 5 rows: at a threshold of 5 it has outgrown the pool.
    await db.query('SELECT partwise.share_small_keys($1, 5)', [t.configId]);
    const report = await call<{
      keysChecked: number;
      findings: Array<{ keyValue: string | null; kind: string; bucketId: number | null }>;
    }>('maintenance.run', { connectionId: 'main', configId: t.configId, ahead: 0.4 });
    // Bucket 2 of the pool holds 2 of 5 tickets, and bucket 1 of key 1 too: at 0.4 the next ones are made.
    expect(report.findings.map((f) => [f.keyValue, f.kind, f.bucketId])).toEqual([
      [null, 'created_ahead', 3],
      ['4', 'outgrown', null],
      ['1', 'created_ahead', 2],
    ]);
    expect(report.keysChecked).toBe(4);
    expect(
      await db.query(`SELECT bucket_id FROM partwise.pool_bucket WHERE config_id = $1 ORDER BY bucket_id`, [
        t.configId,
      ]),
    ).toEqual([{ bucket_id: 0 }, { bucket_id: 1 }, { bucket_id: 2 }, { bucket_id: 3 }]);
  });
});
