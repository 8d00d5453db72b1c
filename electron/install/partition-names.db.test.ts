import { describe, expect, it, beforeAll } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise } from '../testing/fixtures.js';
import { migrate, planMigration } from '../engine/index.js';
import { keyTag, leafNameParts, levelOneNameParts, partitionNameCandidate } from '../engine/names.js';

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

  it('take the next free name when a relation or type of the schema holds the preferred one, at routed inserts and in maintenance', async () => {
    const t = await createRoutedTable(db, { table: 'squat', keyColumn: 'k', keyType: 'text', bucketLimit: 1 });
    await db.query(`CREATE TABLE public.squat_k_taken (x int)`);
    await db.query(`CREATE TYPE public.squat_k_typed AS ENUM ('x')`);
    // A leaf's preferred name, held by an unrelated table.
    await db.query(`CREATE TABLE public.squat_k_leafy_bucket_id_0 (x int)`);
    await db.query(`CREATE TABLE public.squat_k_leafy_bucket_id_2 (x int)`);
    for (const key of ['taken', 'typed', 'leafy', 'leafy']) {
      await db.query(`INSERT INTO ${t.view} (k) VALUES ($1)`, [key]);
    }
    // Maintenance creating the next bucket ahead meets the same rule.
    await db.query(`SELECT * FROM partwise.maintain_key($1, 'leafy', 0.5)`, [t.configId]);
    const rows = await db.query<{ key_value: string; bucket_id: number; l1: string; leaf: string }>(
      `SELECT b.key_value, b.bucket_id, c1.relname AS l1, c2.relname AS leaf
         FROM partwise.partition_bucket b JOIN partwise.partition_tracker t USING (config_id, key_value)
         JOIN pg_class c1 ON c1.oid = t.level_one_partition JOIN pg_class c2 ON c2.oid = b.leaf_partition
        WHERE b.config_id = $1 ORDER BY 1, 2`,
      [t.configId],
    );
    expect(rows).toEqual([
      { key_value: 'leafy', bucket_id: 0, l1: 'squat_k_leafy', leaf: 'squat_k_leafy_bucket_id_0_1' },
      { key_value: 'leafy', bucket_id: 1, l1: 'squat_k_leafy', leaf: 'squat_k_leafy_bucket_id_1' },
      { key_value: 'leafy', bucket_id: 2, l1: 'squat_k_leafy', leaf: 'squat_k_leafy_bucket_id_2_1' },
      { key_value: 'taken', bucket_id: 0, l1: 'squat_k_taken_1', leaf: 'squat_k_taken_1_bucket_id_0' },
      { key_value: 'typed', bucket_id: 0, l1: 'squat_k_typed_1', leaf: 'squat_k_typed_1_bucket_id_0' },
    ]);
    // The unrelated relations are untouched.
    expect(await db.query(`SELECT count(*)::int AS n FROM public.squat_k_taken`)).toEqual([{ n: 0 }]);
  });

  it('never collide across managed tables whose names run into each other, nor with a table created later', async () => {
    // Table a keyed by b_c and table a_b keyed by c both name key 2's partition a_b_c_2.
    await db.query(`CREATE TABLE a (id serial PRIMARY KEY, b_c int NOT NULL)`);
    await db.query(`CREATE TABLE a_b (id serial PRIMARY KEY, c int NOT NULL)`);
    await db.query(`INSERT INTO a (b_c) SELECT g % 3 FROM generate_series(1, 30) g`);
    await db.query(`INSERT INTO a_b (c) SELECT g % 4 FROM generate_series(1, 40) g`);
    await db.query(`ANALYZE a; ANALYZE a_b`);
    const first = await migrate(db.pool, [{ schema: 'public', table: 'a', keyColumn: 'b_c', bucketLimit: 5 }]);
    expect(first.status, first.message).toBe('succeeded');

    // The plan of the second table reads which names are taken and shows the ones it will use.
    const client = await db.pool.connect();
    let plan;
    try {
      plan = await planMigration(
        client,
        { schema: 'public', table: 'a_b', keyColumn: 'c', bucketLimit: 5 },
        { counting: 'exact' },
      );
    } finally {
      client.release();
    }
    expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    expect(plan.issues.find((i) => i.code === 'partition_names_taken')?.message).toContain(
      'a_b_c_2 is taken, so a_b_c_2_1',
    );
    expect(plan.ddl).toContain(
      `CREATE TABLE "public"."a_b_c_2_1" PARTITION OF "public"."a_b_partitioned" FOR VALUES IN ('2') PARTITION BY LIST ("bucket_id");`,
    );
    expect(plan.ddl).toContain(
      `CREATE TABLE "public"."a_b_c_3" PARTITION OF "public"."a_b_partitioned" FOR VALUES IN ('3') PARTITION BY LIST ("bucket_id");`,
    );
    const second = await migrate(db.pool, [{ schema: 'public', table: 'a_b', keyColumn: 'c', bucketLimit: 5 }]);
    expect(second.status, second.message).toBe('succeeded');
    const levelOnes = await db.query<{ parent: string; name: string }>(
      `SELECT inhparent::regclass::text AS parent, inhrelid::regclass::text AS name FROM pg_inherits
        WHERE inhparent IN ('a_partitioned'::regclass, 'a_b_partitioned'::regclass) ORDER BY 1, 2`,
    );
    // Every name the plan showed is the one the migration used.
    for (const { parent, name } of levelOnes.filter((l) => l.parent === 'a_b_partitioned')) {
      expect(
        plan.ddl.some((d) => d.startsWith(`CREATE TABLE "public"."${name}" PARTITION OF "public"."${parent}"`)),
      ).toBe(true);
    }
    expect(levelOnes).toEqual([
      { parent: 'a_b_partitioned', name: 'a_b_c_0_1' },
      { parent: 'a_b_partitioned', name: 'a_b_c_1_1' },
      { parent: 'a_b_partitioned', name: 'a_b_c_2_1' },
      { parent: 'a_b_partitioned', name: 'a_b_c_3' },
      { parent: 'a_partitioned', name: 'a_b_c_0' },
      { parent: 'a_partitioned', name: 'a_b_c_1' },
      { parent: 'a_partitioned', name: 'a_b_c_2' },
    ]);

    // An unrelated table created later under the name a new key would take.
    await db.query(`CREATE TABLE a_b_c_7 (x int)`);
    await db.query(`INSERT INTO a (b_c) VALUES (7)`);
    await db.query(`INSERT INTO a_b (c) VALUES (7)`);
    expect(await db.query(`SELECT count(*)::int AS n FROM a WHERE b_c = 7`)).toEqual([{ n: 1 }]);
    const sevens = await db.query<{ name: string }>(
      `SELECT c.relname AS name FROM partwise.partition_tracker t JOIN pg_class c ON c.oid = t.level_one_partition
        WHERE t.key_value = '7' ORDER BY 1`,
    );
    expect(sevens).toEqual([{ name: 'a_b_c_7_1' }, { name: 'a_b_c_7_2' }]);
  });

  it('are computed the same way by the plan (TypeScript) and by the database', async () => {
    const bases = [...awkwardKeys, 'NaN', '1.5', '-0', 'a'.repeat(70)];
    for (const key of bases) {
      const [row] = await db.query<{ tag: string; l1: string; leaf: string; third: string }>(
        `SELECT partwise.key_tag($1) AS tag, partwise.level_one_name('stem_col', $1) AS l1,
                partwise.leaf_name(partwise.level_one_name('stem_col', $1), 'bucket_id', 12) AS leaf,
                partwise.partition_name_candidate('stem_col_' || partwise.key_tag($1), '', 3) AS third`,
        [key],
      );
      const [base, suffix] = levelOneNameParts('stem_col', key);
      expect(row, JSON.stringify(key)).toEqual({
        tag: keyTag(key),
        l1: partitionNameCandidate(base, suffix, 0),
        leaf: partitionNameCandidate(...leafNameParts(partitionNameCandidate(base, suffix, 0), 'bucket_id', 12), 0),
        third: partitionNameCandidate(base, suffix, 3),
      });
    }
  });
});
