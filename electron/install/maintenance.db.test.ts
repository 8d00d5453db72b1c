import { describe, expect, it, beforeAll } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, leafCounts } from '../testing/fixtures.js';

const db = useTestDatabase('maintenance');

beforeAll(async () => {
  await installPartwise(db);
});

interface Finding {
  kind: string;
  bucket_id: number | null;
  row_count: string | null;
  capacity: string | null;
}

async function maintainKey(configId: number, key: string, ahead = 0.8): Promise<Finding[]> {
  return db.query<Finding>(
    'SELECT kind, bucket_id, row_count, capacity FROM partwise.maintain_key($1, $2, $3) ORDER BY kind, bucket_id',
    [configId, key, ahead],
  );
}

describe('provisioning', () => {
  it('pre-creates the hierarchy for a known distribution, one transaction per key', async () => {
    const t = await createRoutedTable(db, { table: 'provisioned', bucketLimit: 100 });
    await db.query(`CALL partwise.provision($1, ARRAY['1', '2', '3'], ARRAY[250, 100, 0]::bigint[])`, [t.configId]);
    const buckets = await db.query(
      'SELECT key_value, bucket_id, first_ticket, capacity FROM partwise.partition_bucket WHERE config_id = $1 ORDER BY 1, 2',
      [t.configId],
    );
    expect(buckets).toEqual([
      { key_value: '1', bucket_id: 0, first_ticket: '1', capacity: '100' },
      { key_value: '1', bucket_id: 1, first_ticket: '101', capacity: '100' },
      { key_value: '1', bucket_id: 2, first_ticket: '201', capacity: '100' },
      { key_value: '2', bucket_id: 0, first_ticket: '1', capacity: '100' },
      { key_value: '3', bucket_id: 0, first_ticket: '1', capacity: '100' },
    ]);
    // Inserts then use the pre-created buckets, in order.
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 150)`);
    expect((await leafCounts(db, t.configId)).filter((c) => c.key_value === '1').map((c) => c.rows)).toEqual([
      100, 50, 0,
    ]);
  });

  it('records bulk-loaded rows so that routing continues after them', async () => {
    const t = await createRoutedTable(db, { table: 'loaded', bucketLimit: 10 });
    await db.query('SELECT partwise.provision_key($1, $2, $3, true, true)', [t.configId, '4', 20]);
    const [tracker] = await db.query(
      'SELECT current_bucket_id, rows_assigned, current_first_ticket FROM partwise.partition_tracker WHERE config_id = $1',
      [t.configId],
    );
    expect(tracker).toEqual({ current_bucket_id: 1, rows_assigned: '20', current_first_ticket: '11' });
    // Exactly two full buckets: the next row opens the third.
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (4)`);
    expect(
      await db.query('SELECT current_bucket_id, rows_assigned FROM partwise.tracker_status WHERE config_id = $1', [
        t.configId,
      ]),
    ).toEqual([{ current_bucket_id: 2, rows_assigned: '21' }]);
  });

  it('rejects a negative expected row count', async () => {
    const t = await createRoutedTable(db, { table: 'negative', bucketLimit: 10 });
    await expect(db.query('SELECT partwise.provision_key($1, $2, $3)', [t.configId, '1', -5])).rejects.toMatchObject({
      message: 'partwise: expected row count must be zero or more, got -5',
    });
  });
});

describe('maintenance', () => {
  it('creates the next bucket ahead of need once the current one is filling up', async () => {
    const t = await createRoutedTable(db, { table: 'ahead', bucketLimit: 10 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 7)`);
    expect(await maintainKey(t.configId, '1')).toEqual([]);
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
    expect(await maintainKey(t.configId, '1')).toEqual([
      { kind: 'created_ahead', bucket_id: 1, row_count: '0', capacity: '10' },
    ]);
    // The insert that crosses into bucket 1 finds it ready and does no DDL.
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 3)`);
    expect((await leafCounts(db, t.configId)).map((c) => c.rows)).toEqual([10, 1]);
  });

  it('reports over-full, empty, missing and untracked buckets, and repairs ticket drift', async () => {
    const t = await createRoutedTable(db, { table: 'drift', bucketLimit: 5 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 12)`); // buckets 0, 1 full, 2 has 2
    const leaves = await leafCounts(db, t.configId);
    // Rows written around the view: bucket 0 over-full, bucket 2 beyond its tickets.
    await db.query(`INSERT INTO ${leaves[0]!.leaf} (customer_id, bucket_id) VALUES (1, 0)`);
    await db.query(`INSERT INTO ${leaves[2]!.leaf} (customer_id, bucket_id) SELECT 1, 2 FROM generate_series(1, 2)`);
    // Bucket 1 emptied by deletes.
    await db.query(`DELETE FROM ${leaves[1]!.leaf}`);
    // A partition someone attached by hand.
    await db.query(`CREATE TABLE drift_extra PARTITION OF drift_customer_id_1 FOR VALUES IN (99)`);
    const findings = await maintainKey(t.configId, '1', 0.95);
    expect(findings).toEqual([
      { kind: 'empty', bucket_id: 1, row_count: '0', capacity: '5' },
      { kind: 'over_full', bucket_id: 0, row_count: '6', capacity: '5' },
      { kind: 'tracker_drift', bucket_id: 2, row_count: '4', capacity: '5' },
      { kind: 'untracked_leaf', bucket_id: null, row_count: null, capacity: null },
    ]);
    // After the repair, bucket 2 takes exactly one more routed row before bucket 3 opens.
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 2)`);
    expect((await leafCounts(db, t.configId)).map((c) => [c.bucket_id, c.rows])).toEqual([
      [0, 6],
      [1, 0],
      [2, 5],
      [3, 1],
    ]);
    // A dropped leaf is reported as missing.
    await db.query(`DROP TABLE ${leaves[1]!.leaf}`);
    expect((await maintainKey(t.configId, '1', null as unknown as number)).map((f) => f.kind)).toContain(
      'missing_leaf',
    );
  });

  it('runs over every key from psql with CALL, recording findings', async () => {
    const t = await createRoutedTable(db, { table: 'called', bucketLimit: 4 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT g % 2 FROM generate_series(1, 8) g`);
    await db.query('CALL partwise.maintain($1, 0.75)', [t.configId]);
    const findings = await db.query(
      'SELECT key_value, kind, bucket_id FROM partwise.maintenance_finding WHERE config_id = $1 ORDER BY key_value',
      [t.configId],
    );
    expect(findings).toEqual([
      { key_value: '0', kind: 'created_ahead', bucket_id: 1 },
      { key_value: '1', kind: 'created_ahead', bucket_id: 1 },
    ]);
  });

  it('lets the bucket limit change for buckets opened from then on', async () => {
    const t = await createRoutedTable(db, { table: 'relimit', bucketLimit: 3 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 4)`);
    await db.query('SELECT partwise.set_bucket_limit($1, 5)', [t.configId]);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 1 FROM generate_series(1, 6)`);
    expect((await leafCounts(db, t.configId)).map((c) => [c.capacity, c.rows])).toEqual([
      [3, 3],
      [3, 3],
      [5, 4],
    ]);
    await expect(db.query('SELECT partwise.set_bucket_limit($1, 0)', [t.configId])).rejects.toMatchObject({
      message: 'partwise: bucket limit must be a positive integer, got 0',
    });
  });
});
