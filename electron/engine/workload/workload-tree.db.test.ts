// The live table's workload is read from the catalog: a tree of hundreds of
// leaves is listed without locking any of them, so a leaf that another
// session holds (an ALTER, a key action's detach) does not hold up the
// screen.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../testing/database.js';
import { workloadAfterMigration } from './index.js';

const db = useTestDatabase('workloadtree');
const KEYS = 40;
const BUCKETS = 5;

describe("the live table's workload", () => {
  it('lists the leaves of a large tree while another session holds one leaf in ACCESS EXCLUSIVE mode', async () => {
    await db.query(
      `CREATE TABLE events_partitioned (id bigint NOT NULL, tenant int NOT NULL, bucket_id int NOT NULL) PARTITION BY LIST (tenant)`,
    );
    for (let key = 1; key <= KEYS; key++) {
      await db.query(
        `CREATE TABLE events_k${key} PARTITION OF events_partitioned FOR VALUES IN (${key}) PARTITION BY LIST (bucket_id)`,
      );
      for (let bucket = 1; bucket <= BUCKETS; bucket++)
        await db.query(`CREATE TABLE events_k${key}_b${bucket} PARTITION OF events_k${key} FOR VALUES IN (${bucket})`);
    }
    await db.query(`CREATE VIEW events AS SELECT * FROM events_partitioned`);

    const holder = await db.connect();
    const reader = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events_k7_b3 IN ACCESS EXCLUSIVE MODE');
      // Fails fast where the read would queue behind the holder.
      await reader.query(`SET lock_timeout = '2s'`);
      const report = await workloadAfterMigration(reader, {
        schema: 'public',
        table: 'events',
        partitionedTable: 'events_partitioned',
        keyColumn: 'tenant',
      });
      expect(report).toMatchObject({ phase: 'after', table: 'events', keyColumn: 'tenant', leaves: KEYS * BUCKETS });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
      await reader.end();
    }
  });
});
