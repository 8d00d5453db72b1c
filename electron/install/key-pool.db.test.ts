// Small keys share (placement 'shared', sql/functions/17_key_pool.sql): the
// PostgreSQL facts the pool relies on, and routing of new keys into the pool's
// shared buckets.
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { ident } from '../db/sql.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../testing/fixtures.js';

const db = useTestDatabase('key_pool');

beforeAll(async () => {
  await installPartwise(db);
});

async function share(t: RoutedTable, threshold = 1000): Promise<void> {
  await db.query('SELECT partwise.share_small_keys($1, $2)', [t.configId, threshold]);
}

/** Rows per pool leaf, counted leaf by leaf. */
async function poolCounts(configId: number): Promise<Array<{ bucket_id: number; capacity: number; rows: number }>> {
  const buckets = await db.query<{ bucket_id: number; leaf: string; capacity: string }>(
    `SELECT bucket_id, leaf_partition::text AS leaf, capacity FROM partwise.pool_bucket WHERE config_id = $1 ORDER BY bucket_id`,
    [configId],
  );
  const out = [];
  for (const b of buckets) {
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${b.leaf}`);
    out.push({ bucket_id: b.bucket_id, capacity: Number(b.capacity), rows: row!.n });
  }
  return out;
}

async function relationCount(schema: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = $1::regnamespace`,
    [schema],
  );
  return row!.n;
}

async function locksHeld(client: pg.Client, pattern: string): Promise<string[]> {
  const { rows } = await client.query<{ lock: string }>(
    `SELECT relation::regclass::text || ' ' || mode AS lock FROM pg_locks
      WHERE locktype = 'relation' AND pid = pg_backend_pid() AND relation::regclass::text LIKE $1 ORDER BY 1`,
    [pattern],
  );
  return rows.map((r) => r.lock);
}

describe('PostgreSQL facts the pool relies on', () => {
  it('default partition: routing, pruning, the scan a new level-1 partition makes, and DETACH ... CONCURRENTLY', async () => {
    const t = await createRoutedTable(db, { table: 'facts', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
    await share(t);
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (5), (6)`);
    const [pool] = await db.query<{ pool: string }>(
      'SELECT pool_partition::text AS pool FROM partwise.key_pool WHERE config_id = $1',
      [t.configId],
    );
    expect(pool!.pool).toBe('facts_customer_id_shared');
    // key = k prunes to the pool for a pooled key, to its own partition otherwise.
    const plan = async (where: string) =>
      (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) SELECT * FROM ${t.root} WHERE ${where}`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    expect(await plan('customer_id = 5')).toMatch(/facts_customer_id_shared_bucket_id_0/);
    expect(await plan('customer_id = 5')).not.toMatch(/facts_customer_id_1_bucket/);
    expect(await plan('customer_id = 1')).not.toMatch(/shared/);
    // The key guard sits on each pool leaf (not on the pool, whose guard uninstall would drop with a clone on every leaf at once).
    expect(
      await db.query(
        `SELECT tgrelid::regclass::text AS leaf, tgparentid = 0 AS own FROM pg_trigger WHERE tgname = 'partwise_key_guard' AND tgrelid::regclass::text LIKE '%shared%' ORDER BY 1`,
      ),
    ).toEqual([{ leaf: 'facts_customer_id_shared_bucket_id_0', own: true }]);
    await expect(db.query(`UPDATE ${t.view} SET customer_id = 9 WHERE customer_id = 5`)).rejects.toMatchObject({
      code: '0A000',
    });

    const client = await db.connect();
    try {
      // A level-1 partition made while the pool exists locks every pool leaf
      // ACCESS EXCLUSIVE (PostgreSQL scans them for rows of the new key) ...
      await client.query('BEGIN');
      await client.query(`CREATE TABLE facts_seven (LIKE ${t.root}) PARTITION BY LIST (bucket_id)`);
      await client.query(`ALTER TABLE ${t.root} ATTACH PARTITION facts_seven FOR VALUES IN (7)`);
      expect(await locksHeld(client, 'facts_customer_id_shared%')).toEqual([
        'facts_customer_id_shared AccessExclusiveLock',
        'facts_customer_id_shared_bucket_id_0 AccessExclusiveLock',
      ]);
      await client.query('ROLLBACK');
      // ... and fails for a key that has rows in the pool.
      await client.query(`CREATE TABLE facts_five (LIKE ${t.root}) PARTITION BY LIST (bucket_id)`);
      await expect(client.query(`ALTER TABLE ${t.root} ATTACH PARTITION facts_five FOR VALUES IN (5)`)).rejects.toThrow(
        /updated partition constraint for default partition .* would be violated/,
      );
      if (db.major >= 14) {
        await expect(
          client.query(`ALTER TABLE ${t.root} DETACH PARTITION facts_customer_id_1 CONCURRENTLY`),
        ).rejects.toThrow('cannot detach partitions concurrently when a default partition exists');
      }
      // The plain detach locks the partitioned table and the pool (not its leaves).
      await client.query('BEGIN');
      await client.query(`ALTER TABLE ${t.root} DETACH PARTITION facts_customer_id_1`);
      const held = await locksHeld(client, 'facts%');
      expect(held).toContain('facts_partitioned AccessExclusiveLock');
      expect(held).toContain('facts_customer_id_shared AccessExclusiveLock');
      expect(held).not.toContain('facts_customer_id_shared_bucket_id_0 AccessExclusiveLock');
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
  });
});

describe('routing of small keys into the pool', () => {
  it('places a new key in the pool with no DDL, and keeps keys that have a partition where they are', async () => {
    const t = await createRoutedTable(db, { table: 'pooled', bucketLimit: 4 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'own')`);
    await share(t, 500);
    const [config] = await db.query(
      'SELECT placement, shared_threshold FROM partwise.partition_config WHERE config_id = $1',
      [t.configId],
    );
    expect(config).toEqual({ placement: 'shared', shared_threshold: '500' });

    const before = await relationCount('public');
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'new'), (3, 'new'), (1, 'own')`);
      // It holds no lock stronger than an insert's on the table's relations:
      // no partition was created or attached.
      const strong = await client.query(
        `SELECT relation::regclass::text AS rel, mode FROM pg_locks
          WHERE locktype = 'relation' AND pid = pg_backend_pid() AND granted
            AND mode NOT IN ('AccessShareLock', 'RowExclusiveLock') AND relation::regclass::text LIKE 'pooled%'`,
      );
      expect(strong.rows).toEqual([]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    expect(await relationCount('public')).toBe(before);

    const keys = await db.query(
      `SELECT key_value, in_pool, level_one_partition::text AS level_one, current_leaf::text AS leaf
         FROM partwise.partition_tracker WHERE config_id = $1 ORDER BY key_value`,
      [t.configId],
    );
    expect(keys).toEqual([
      { key_value: '1', in_pool: false, level_one: 'pooled_customer_id_1', leaf: 'pooled_customer_id_1_bucket_id_0' },
      { key_value: '2', in_pool: true, level_one: 'pooled_customer_id_shared', leaf: null },
      { key_value: '3', in_pool: true, level_one: 'pooled_customer_id_shared', leaf: null },
    ]);
    const rows = await db.query(
      `SELECT customer_id, payload, bucket_id, tableoid::regclass::text AS leaf FROM ${t.root} ORDER BY customer_id, id`,
    );
    expect(rows).toEqual([
      { customer_id: 1, payload: 'own', bucket_id: 0, leaf: 'pooled_customer_id_1_bucket_id_0' },
      { customer_id: 1, payload: 'own', bucket_id: 0, leaf: 'pooled_customer_id_1_bucket_id_0' },
      { customer_id: 2, payload: 'new', bucket_id: 0, leaf: 'pooled_customer_id_shared_bucket_id_0' },
      { customer_id: 3, payload: 'new', bucket_id: 0, leaf: 'pooled_customer_id_shared_bucket_id_0' },
    ]);
    // The application reads them through its table's name as before.
    expect(await db.query(`SELECT payload FROM ${t.view} WHERE customer_id = 3`)).toEqual([{ payload: 'new' }]);
  });

  it('fills the pool bucket by bucket, shared by all small keys, no leaf over the limit', async () => {
    const t = await createRoutedTable(db, { table: 'filling', bucketLimit: 5 });
    await share(t);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT g % 4 FROM generate_series(1, 12) g`);
    expect(await poolCounts(t.configId)).toEqual([
      { bucket_id: 0, capacity: 5, rows: 5 },
      { bucket_id: 1, capacity: 5, rows: 5 },
      { bucket_id: 2, capacity: 5, rows: 2 },
    ]);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.partition_bucket WHERE config_id = $1`, [t.configId]),
    ).toEqual([{ n: 0 }]);
  });

  it('never lets a pool leaf exceed the limit with many sessions inserting new and existing small keys at once', async () => {
    const t = await createRoutedTable(db, { table: 'crowd', bucketLimit: 25 });
    await share(t);
    const writers = 6;
    const perWriter = 100;
    const clients = await Promise.all(Array.from({ length: writers }, () => db.connect()));
    try {
      await Promise.all(
        clients.map(async (client, writer) => {
          for (let i = 0; i < perWriter; i++) {
            // Keys new to every writer, and keys all writers share.
            const key = i % 2 === 0 ? 1000 * (writer + 1) + i : i % 9;
            if (i % 10 === 0) {
              await client.query('BEGIN');
              await client.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, 'r'), ($1, 'r')`, [key]);
              await client.query(i % 20 === 0 ? 'ROLLBACK' : 'COMMIT');
            } else {
              await client.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, 'r')`, [key]);
            }
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const counts = await poolCounts(t.configId);
    for (const leaf of counts) expect(leaf.rows, `pool bucket ${leaf.bucket_id}`).toBeLessThanOrEqual(25);
    const [{ n }] = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.root}`)) as [{ n: number }];
    // 10 two-row transactions per writer: 5 committed (+1 row each), 5 rolled back (-1 each).
    expect(n).toBe(writers * perWriter);
    expect(counts.reduce((sum, c) => sum + c.rows, 0)).toBe(n);
    // One tracker row per key, every one pooled; no level-1 partition but the pool.
    const [keys] = await db.query<{ keys: number; pooled: number }>(
      `SELECT count(*)::int AS keys, count(*) FILTER (WHERE in_pool)::int AS pooled FROM partwise.partition_tracker WHERE config_id = $1`,
      [t.configId],
    );
    const [distinct] = await db.query<{ n: number }>(`SELECT count(DISTINCT customer_id)::int AS n FROM ${t.root}`);
    expect(keys!.keys).toBeGreaterThanOrEqual(distinct!.n);
    expect(keys!.pooled).toBe(keys!.keys);
    const levelOne = await db.query(`SELECT relid::text FROM pg_partition_tree($1::regclass) WHERE level = 1`, [
      t.root,
    ]);
    expect(levelOne).toEqual([{ relid: 'crowd_customer_id_shared' }]);
  });

  it('routes an application role that holds only its grants on the table', async () => {
    const t = await createRoutedTable(db, { table: 'granted', bucketLimit: 3 });
    await share(t);
    const app = await db.createRole('pool_app');
    await db.query(`GRANT INSERT, SELECT ON ${t.view} TO ${app.sql}`);
    await db.query(`GRANT USAGE ON SEQUENCE granted_partitioned_id_seq TO ${app.sql}`);
    await app.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g, 'app' FROM generate_series(1, 7) g`);
    expect(await app.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE payload = 'app'`)).toEqual([{ n: 7 }]);
    expect((await poolCounts(t.configId)).map((c) => c.rows)).toEqual([3, 3, 1]);
    // It was given nothing on Partwise's metadata or the pool's ticket counter.
    expect(
      await app.query(
        `SELECT has_table_privilege('partwise.key_pool', 'SELECT') AS pool,
                has_sequence_privilege('partwise.pool_ticket_${t.configId}', 'USAGE') AS tickets`,
      ),
    ).toEqual([{ pool: false, tickets: false }]);
  });

  it('routes new keys into a pool that a member of the owning role made, the pool owned by the owner, its counter granted to it', async () => {
    const t = await createRoutedTable(db, { table: 'member_made', bucketLimit: 3 });
    const member = await db.createRole('pool_member');
    await db.admin.query(`GRANT ${ident(db.owner)} TO ${member.sql}`);
    await member.query('SELECT partwise.share_small_keys($1, 1000)', [t.configId]);
    // The owner's routing takes the pool's tickets and makes its next buckets (seven rows, limit 3).
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g, 'owner' FROM generate_series(1, 7) g`);
    expect((await poolCounts(t.configId)).map((c) => c.rows)).toEqual([3, 3, 1]);
    expect(
      await db.query(
        `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c
          WHERE c.oid IN (SELECT pool_partition FROM partwise.key_pool WHERE config_id = $1
                          UNION ALL SELECT leaf_partition FROM partwise.pool_bucket WHERE config_id = $1)`,
        [t.configId],
      ),
    ).toEqual([{ owner: db.owner }]);
    // The counter stays in Partwise's schema, where the owner may not create: granted, not given.
    expect(
      await db.query(
        `SELECT has_sequence_privilege($2, ticket_sequence, 'USAGE, SELECT, UPDATE') AS granted
           FROM partwise.key_pool WHERE config_id = $1`,
        [t.configId, db.owner],
      ),
    ).toEqual([{ granted: true }]);
  });

  it('refuses to share before the table routes, a bad threshold, and changes only the threshold when run again', async () => {
    await db.query(
      `CREATE TABLE building (id bigint, customer_id int NOT NULL, bucket_id int NOT NULL) PARTITION BY LIST (customer_id)`,
    );
    const [building] = await db.query<{ id: number }>(
      `SELECT (partwise.configure_table('public', 'building_app', 'building', 'customer_id', 10)).config_id AS id`,
    );
    await expect(db.query('SELECT partwise.share_small_keys($1, 100)', [building!.id])).rejects.toMatchObject({
      code: '55000',
      message: 'partwise: public.building_app is not routing yet; small keys can share once its migration has swapped',
    });
    const t = await createRoutedTable(db, { table: 'again', bucketLimit: 3 });
    await expect(db.query('SELECT partwise.share_small_keys($1, 0)', [t.configId])).rejects.toMatchObject({
      code: '22023',
    });
    await share(t, 100);
    await share(t, 200);
    expect(
      await db.query(
        `SELECT c.shared_threshold, (SELECT count(*)::int FROM partwise.key_pool p WHERE p.config_id = c.config_id) AS pools
           FROM partwise.partition_config c WHERE config_id = $1`,
        [t.configId],
      ),
    ).toEqual([{ shared_threshold: '200', pools: 1 }]);
  });

  it('maintenance checks the pool and creates its next bucket ahead', async () => {
    const t = await createRoutedTable(db, { table: 'kept', bucketLimit: 10 });
    await share(t);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT g FROM generate_series(1, 9) g`);
    await db.query('CALL partwise.maintain($1)', [t.configId]);
    const findings = await db.query(
      `SELECT key_value, kind, bucket_id FROM partwise.maintenance_finding WHERE config_id = $1 ORDER BY finding_id`,
      [t.configId],
    );
    expect(findings).toEqual([{ key_value: null, kind: 'created_ahead', bucket_id: 1 }]);
    // The row that crosses into bucket 1 finds its leaf made.
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 50 FROM generate_series(1, 2)`);
    expect((await poolCounts(t.configId)).map((c) => c.rows)).toEqual([10, 1]);
  });

  it('maintenance names the pooled keys that reached the threshold', async () => {
    const t = await createRoutedTable(db, { table: 'grown', bucketLimit: 100 });
    await share(t, 3);
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (7), (7), (8), (7), (9), (9), (9)`);
    await db.query('CALL partwise.maintain($1)', [t.configId]);
    expect(
      await db.query(
        `SELECT key_value, kind, row_count::int AS rows, capacity::int AS threshold, detail
           FROM partwise.maintenance_finding WHERE config_id = $1 ORDER BY key_value`,
        [t.configId],
      ),
    ).toEqual([
      {
        key_value: '7',
        kind: 'outgrown',
        rows: 3,
        threshold: 3,
        detail:
          '3 rows in the pool, at or above the threshold of 3 rows: give it a partition of its own with partwise key isolate --table public.grown --value 7',
      },
      {
        key_value: '9',
        kind: 'outgrown',
        rows: 3,
        threshold: 3,
        detail:
          '3 rows in the pool, at or above the threshold of 3 rows: give it a partition of its own with partwise key isolate --table public.grown --value 9',
      },
    ]);
  });

  it('uninstall keeps every row, the pool included, and drops the pool ticket counter', async () => {
    const t = await createRoutedTable(db, { table: 'leaving', bucketLimit: 3 });
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
    await share(t);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT g FROM generate_series(2, 6) g`);
    await db.query('CALL partwise.uninstall($1)', [t.configId]);
    expect(await db.query(`SELECT count(*)::int AS n FROM public.leaving`)).toEqual([{ n: 6 }]);
    expect(await db.query(`SELECT to_regclass('partwise.pool_ticket_${t.configId}') IS NULL AS gone`)).toEqual([
      { gone: true },
    ]);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.key_pool WHERE config_id = $1`, [t.configId]),
    ).toEqual([{ n: 0 }]);
  });
});
