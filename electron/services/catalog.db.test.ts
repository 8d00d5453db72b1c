// The Tables screen's figures through the dispatcher the app uses, against a
// real migration: a managed table shows its partition tree's rows, bytes,
// leaves and keys (not the 0 rows and 0 B of its routing view), its
// partitioned table and backup say whose parts they are, and every size is
// pg_total_relation_size summed over a tree's leaves, indexes and TOAST
// included, the same figure the Explorer and the Sizes screen show.
import { beforeAll, describe, expect, it } from 'vitest';
import type { TableDetail, TableSummary } from '../../shared/catalog.js';
import type { LeafSizes, ManagedTable, PartitionTree, SizesReport } from '../../shared/explorer.js';
import type { RunEvent } from '../../shared/progress.js';
import { listTables } from '../engine/tables.js';
import { useTestDatabase } from '../testing/database.js';
import type { ServiceContext } from './context.js';
import { createDispatcher } from './dispatch.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import { resultOf } from '../testing/envelope.js';
import { testPools } from '../testing/pools.js';

const db = useTestDatabase('catalog');
const events: RunEvent[] = [];
let dispatch: ReturnType<typeof createDispatcher>;

async function call<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await dispatch(command, input));
}

async function finished(runId: number): Promise<RunEvent> {
  for (let i = 0; i < 600; i++) {
    const event = events.find((e) => e.type === 'finished' && e.runId === runId);
    if (event) return event;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

/** PostgreSQL's own figures for a partition tree: what every screen must show. */
async function treeOnDisk(root: string): Promise<{ bytes: number; rows: number; leaves: number; heap: number }> {
  const [row] = await db.query<{ bytes: string; rows: string; leaves: number; heap: string }>(
    `SELECT sum(pg_total_relation_size(t.relid)) AS bytes, sum(greatest(c.reltuples, 0)) AS rows,
            count(*)::int AS leaves, sum(pg_relation_size(t.relid)) AS heap
       FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf`,
    [root],
  );
  return { bytes: Number(row!.bytes), rows: Number(row!.rows), leaves: row!.leaves, heap: Number(row!.heap) };
}

async function totalSize(table: string): Promise<number> {
  const [row] = await db.query<{ bytes: string }>(`SELECT pg_total_relation_size($1::regclass) AS bytes`, [table]);
  return Number(row!.bytes);
}

const byName = (tables: TableSummary[], name: string) => {
  const found = tables.find((t) => t.schema === 'public' && t.name === name);
  if (!found) throw new Error(`${name} is not listed: ${tables.map((t) => t.name).join(', ')}`);
  return found;
};

beforeAll(async () => {
  const context: ServiceContext = {
    pools: testPools(db),
    emit: (event, payload) => {
      if (event === 'run.event') events.push(payload as RunEvent);
    },
    onShutdown: () => undefined,
    installSchema: 'partwise',
  };
  dispatch = createDispatcher(createHandlers(context, {} as ConnectionHandlers));
  // Documents whose bodies go to TOAST (8,000 characters of hex each), with
  // an index besides the primary key. No autovacuum: the figures compared
  // below must not change between two reads (storage parameters are kept on
  // every leaf by the migration).
  await db.query(
    `CREATE TABLE docs (id bigserial PRIMARY KEY, tenant_id int NOT NULL, title text NOT NULL, body text NOT NULL)
       WITH (autovacuum_enabled = false)`,
  );
  await db.query(
    `INSERT INTO docs (tenant_id, title, body)
     SELECT 1 + g % 5, 'title ' || g, (SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 250) i)
       FROM generate_series(1, 1200) g`,
  );
  await db.query(`CREATE INDEX docs_title_idx ON docs (title)`);
  await db.query(`ANALYZE docs`);
  // A partitioned table Partwise does not manage, with indexes and TOAST too.
  await db.query(`CREATE TABLE events (id bigint NOT NULL, kind int NOT NULL, body text) PARTITION BY LIST (kind)`);
  for (const kind of [1, 2, 3]) {
    await db.query(
      `CREATE TABLE events_${kind} PARTITION OF events FOR VALUES IN (${kind}) WITH (autovacuum_enabled = false)`,
    );
  }
  await db.query(`CREATE INDEX events_id_idx ON events (id)`);
  await db.query(
    `INSERT INTO events SELECT g, 1 + g % 3, (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 250) i)
       FROM generate_series(1, 600) g`,
  );
  await db.query(`ANALYZE events`);
});

describe('the figures of Tables', () => {
  it('measures a partitioned table over its leaves, indexes and TOAST included', async () => {
    const tables = await call<TableSummary[]>('tables.list', { connectionId: 'main' });
    const events = byName(tables, 'events');
    const disk = await treeOnDisk('events');
    // Heap pages alone (what the list used to count) leave most of it out.
    expect(disk.bytes).toBeGreaterThan(disk.heap * 2);
    expect(events).toMatchObject({
      kind: 'partitioned',
      totalBytes: disk.bytes,
      rowEstimate: 600,
      leaves: 3,
      managedTable: null,
      partOf: null,
    });
    const detail = await call<TableDetail>('tables.detail', {
      connectionId: 'main',
      schema: 'public',
      table: 'events',
    });
    expect(detail.rowEstimate).toBe(600);
    expect(detail.columns.find((c) => c.name === 'kind')!.distinctEstimate).toBe(3);
    const docs = byName(tables, 'docs');
    expect(docs).toMatchObject({ kind: 'table', rowEstimate: 1200, totalBytes: await totalSize('docs'), leaves: null });
  });

  it('shows a migrated table with its tree, and its partitioned table and backup as its parts', async () => {
    const target = { schema: 'public', table: 'docs', keyColumn: 'tenant_id', bucketLimit: 100 };
    const { runId } = await call<{ runId: number }>('runs.start', { connectionId: 'main', targets: [target] });
    const outcome = await finished(runId);
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'succeeded' });
    await db.query(`ANALYZE docs_partitioned`);

    const tables = await call<TableSummary[]>('tables.list', { connectionId: 'main' });
    const [managed] = await call<ManagedTable[]>('managed.list', { connectionId: 'main' });
    const disk = await treeOnDisk('docs_partitioned');
    expect(disk).toMatchObject({ rows: 1200, leaves: 15 });
    expect(disk.bytes).toBeGreaterThan(disk.heap * 2);

    const view = byName(tables, 'docs');
    expect(view).toEqual({
      schema: 'public',
      name: 'docs',
      kind: 'view',
      rowEstimate: 1200,
      totalBytes: disk.bytes,
      leaves: 15,
      managedTable: {
        configId: managed!.configId,
        partitionedTable: 'docs_partitioned',
        backupTable: 'docs_backup',
        keyColumn: 'tenant_id',
        bucketLimit: 100,
        keys: 5,
        mode: 'routing',
      },
      partOf: null,
    });
    expect(byName(tables, 'docs_partitioned')).toMatchObject({
      kind: 'partitioned',
      rowEstimate: 1200,
      totalBytes: disk.bytes,
      leaves: 15,
      managedTable: null,
      partOf: { table: 'docs', role: 'partitioned' },
    });
    expect(byName(tables, 'docs_backup')).toMatchObject({
      kind: 'table',
      rowEstimate: 1200,
      totalBytes: await totalSize('docs_backup'),
      partOf: { table: 'docs', role: 'backup' },
    });

    // One figure on every screen: the Explorer's and the Sizes screen's totals are the same bytes.
    const leafSizes = await call<LeafSizes>('explorer.leafSizes', {
      connectionId: 'main',
      configId: managed!.configId,
    });
    expect(leafSizes.totalBytes).toBe(disk.bytes);
    const sizes = await call<SizesReport>('explorer.sizes', { connectionId: 'main', configId: managed!.configId });
    expect(sizes.tableBytes + sizes.indexBytes + sizes.toastBytes).toBe(disk.bytes);
    expect(sizes.toastBytes).toBeGreaterThan(0);
    expect(sizes.backup).toEqual({ table: 'docs_backup', bytes: await totalSize('docs_backup') });
  });

  it('counts a detached key apart: the tree, its sizes and the Tables list show what the partitioned table holds', async () => {
    const [managed] = await call<ManagedTable[]>('managed.list', { connectionId: 'main' });
    const configId = managed!.configId;
    const [counted] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM docs WHERE tenant_id = 1`);
    const keyRows = counted!.n;
    const keyLeaves = (
      await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId, exactCounts: true })
    ).levelOne.find((l) => l.keyValue === '1')!.buckets.length;
    await call('keys.run', { connectionId: 'main', configId, action: 'detach', keyValues: ['1'], options: {} });
    await db.query(`ANALYZE docs_partitioned`);

    const disk = await treeOnDisk('docs_partitioned');
    expect(disk).toMatchObject({ rows: 1200 - keyRows, leaves: 15 - keyLeaves });
    const tree = await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId, exactCounts: true });
    expect(tree.totals).toEqual({
      rows: 1200 - keyRows,
      leaves: 15 - keyLeaves,
      levelOne: 4,
      detached: { keys: 1, rows: keyRows, leaves: keyLeaves },
    });
    // The detached key stays listed (it can be attached back) with its rows.
    expect(tree.levelOne.find((l) => l.keyValue === '1')).toMatchObject({ state: 'detached', rows: keyRows });
    const leafSizes = await call<LeafSizes>('explorer.leafSizes', { connectionId: 'main', configId });
    expect(leafSizes.totalBytes).toBe(disk.bytes);
    const sizes = await call<SizesReport>('explorer.sizes', { connectionId: 'main', configId });
    expect(sizes.tableBytes + sizes.indexBytes + sizes.toastBytes).toBe(disk.bytes);
    expect(sizes.largestLevelOne.map((l) => l.keyValue)).not.toContain('1');
    const tables = await call<TableSummary[]>('tables.list', { connectionId: 'main' });
    expect(byName(tables, 'docs')).toMatchObject({
      rowEstimate: 1200 - keyRows,
      totalBytes: disk.bytes,
      leaves: disk.leaves,
    });
  });

  it('walks and measures partition trees without holding a lock per partition', async () => {
    await db.query(`CREATE TABLE wide (id int NOT NULL, k int NOT NULL) PARTITION BY LIST (k)`);
    await db.query(`CREATE INDEX ON wide (id)`);
    await db.query(
      `DO $$ BEGIN FOR k IN 1..300 LOOP
         EXECUTE format('CREATE TABLE wide_%s PARTITION OF wide FOR VALUES IN (%s)', k, k);
       END LOOP; END $$`,
    );
    // In one transaction, as a statement would: pg_partition_tree would hold 301 locks until it ends.
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const tables = await listTables(client, 'partwise', 'public');
      expect(byName(tables, 'wide')).toMatchObject({ kind: 'partitioned', leaves: 300 });
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
          WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'wide%'`,
      );
      expect(rows[0]!.n).toBeLessThan(10);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
  });
});
