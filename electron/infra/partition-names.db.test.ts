import { describe, expect, it, beforeAll } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise } from '../testing/fixtures.js';

const db = useTestDatabase('names');

beforeAll(async () => {
  await installPartwise(db);
});

const awkwardKeys = [
  'plain',
  "O'Brien",
  'two words',
  'Ünïcødé – 日本語',
  '-42',
  '+42',
  '42',
  '',
  ' ',
  'x'.repeat(200),
  'x'.repeat(199) + 'y',
  "'; DROP TABLE students; --",
  'MiXeD',
  'mixed',
  'a_b',
  'a-b',
  'a b',
];

describe('partition names', () => {
  it('are deterministic, within 63 bytes and distinct for any key value', async () => {
    const t = await createRoutedTable(db, { table: 'names', keyColumn: 'tenant', keyType: 'text', bucketLimit: 1 });
    for (const key of awkwardKeys) {
      await db.query(`INSERT INTO ${t.view} (tenant, payload) VALUES ($1, 'a'), ($1, 'b')`, [key]);
    }
    const rows = await db.query<{ key_value: string; l1: string; leaf: string; bucket_id: number }>(
      `SELECT b.key_value, c1.relname AS l1, c2.relname AS leaf, b.bucket_id
         FROM partwise.partition_bucket b
         JOIN partwise.partition_tracker t USING (config_id, key_value)
         JOIN pg_class c1 ON c1.oid = t.level_one_partition
         JOIN pg_class c2 ON c2.oid = b.leaf_partition
        WHERE b.config_id = $1`,
      [t.configId],
    );
    expect(rows).toHaveLength(awkwardKeys.length * 2);
    const names = new Set<string>();
    for (const row of rows) {
      expect(Buffer.byteLength(row.leaf)).toBeLessThanOrEqual(63);
      expect(Buffer.byteLength(row.l1)).toBeLessThanOrEqual(63);
      names.add(row.leaf);
    }
    expect(names.size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.l1)).size).toBe(awkwardKeys.length);
    // Every row is in its own key's partition and can be read back by key.
    for (const key of awkwardKeys) {
      const found = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.view} WHERE tenant = $1`, [key]);
      expect(found, JSON.stringify(key)).toEqual([{ n: 2 }]);
    }
    // Plain values keep readable names; others are sanitized and tagged with a hash.
    const byKey = new Map(rows.filter((r) => r.bucket_id === 0).map((r) => [r.key_value, r]));
    expect(byKey.get('plain')!.l1).toBe('names_tenant_plain');
    expect(byKey.get('plain')!.leaf).toBe('names_tenant_plain_bucket_id_0');
    expect(byKey.get("O'Brien")!.l1).toMatch(/^names_tenant_o_brien_[0-9a-f]{12}$/);
    expect(byKey.get('')!.l1).toMatch(/^names_tenant__[0-9a-f]{12}$/);
    expect(byKey.get('MiXeD')!.l1).not.toBe(byKey.get('mixed')!.l1);
    // The same inputs always give the same names.
    const [again] = await db.query<{ name: string }>(`SELECT partwise.level_one_name('names_tenant', $1) AS name`, [
      "O'Brien",
    ]);
    expect(again!.name).toBe(byKey.get("O'Brien")!.l1);
  });

  it('shorten long table names with a hash instead of truncating them into collisions', async () => {
    const long = 'a_table_with_a_name_long_enough_to_hit_the_identifier_limit';
    const t1 = await createRoutedTable(db, { table: `${long}_1`, bucketLimit: 5 });
    const t2 = await createRoutedTable(db, { table: `${long}_2`, bucketLimit: 5 });
    await db.query(`INSERT INTO ${t1.view} (customer_id) VALUES (123456789)`);
    await db.query(`INSERT INTO ${t2.view} (customer_id) VALUES (123456789)`);
    const leaves = await db.query<{ leaf: string }>(
      `SELECT c.relname AS leaf FROM partwise.partition_bucket b JOIN pg_class c ON c.oid = b.leaf_partition
        WHERE b.config_id IN ($1, $2)`,
      [t1.configId, t2.configId],
    );
    expect(leaves).toHaveLength(2);
    expect(leaves[0]!.leaf).not.toBe(leaves[1]!.leaf);
    for (const { leaf } of leaves) {
      expect(Buffer.byteLength(leaf)).toBeLessThanOrEqual(63);
      expect(leaf).toMatch(/_[0-9a-f]{8}_bucket_id_0$/);
    }
  });

  it('picks a longer hash when an unrelated table already has the name', async () => {
    const t = await createRoutedTable(db, { table: 'squat', keyColumn: 'k', keyType: 'text', bucketLimit: 5 });
    const [{ name }] = (await db.query<{ name: string }>(
      `SELECT partwise.level_one_name('squat_k', 'Taken') AS name`,
    )) as [{ name: string }];
    await db.query(`CREATE TABLE public.${name} (x int)`);
    await db.query(`INSERT INTO ${t.view} (k) VALUES ('Taken')`);
    const [row] = await db.query<{ l1: string }>(
      `SELECT c.relname AS l1 FROM partwise.partition_tracker t JOIN pg_class c ON c.oid = t.level_one_partition WHERE t.config_id = $1`,
      [t.configId],
    );
    expect(row!.l1).not.toBe(name);
    expect(row!.l1).toMatch(/^squat_k_taken_[0-9a-f]{16}$/);
  });
});
