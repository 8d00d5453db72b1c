// A key's identity follows its type's equality, not its text: 1, 1.0 and
// 1.00 are one numeric key, 'ABC' and 'abc' one citext key, and so on, in
// every path that turns a key value into text (routing, the copy's counting
// and numbering, exact plan counts, verification, change replay,
// provisioning, maintenance). Types whose equality was not tested are
// refused, with the reason.
import { describe, expect, it, beforeAll } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise } from '../testing/fixtures.js';
import { maintainTable, migrate, planMigration } from '../engine/index.js';
import type { MigrationPlan, MigrationTarget } from '../../shared/plan.js';
import { keyTextSql, keyTypeVerdict, tableKeyTypeFacts, type KeyKind } from '../engine/key-types.js';

const db = useTestDatabase('keys');

beforeAll(async () => {
  await installPartwise(db);
  // citext is a trusted extension: the database's owner may create it.
  await db.query('CREATE EXTENSION IF NOT EXISTS citext');
  await db.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
  await db.query('CREATE DOMAIN positive_amount AS numeric CHECK (VALUE > 0)');
});

async function plan(target: MigrationTarget, exact: boolean): Promise<MigrationPlan> {
  const client = await db.pool.connect();
  try {
    return await planMigration(client, target, { counting: exact ? 'exact' : 'estimate' });
  } finally {
    client.release();
  }
}

/** Keys in the tracker, with the rows stored in each key's partitions. */
async function keysOf(configId: number): Promise<{ key: string; rows: number }[]> {
  const trackers = await db.query<{ key_value: string; level_one: string }>(
    `SELECT key_value, level_one_partition::text AS level_one FROM partwise.partition_tracker WHERE config_id = $1 ORDER BY 1`,
    [configId],
  );
  const result = [];
  for (const t of trackers) {
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.level_one}`);
    result.push({ key: t.key_value, rows: row!.n });
  }
  return result;
}

// Each case: a key type, several spellings of one value, and another value.
const equalValues: { type: string; same: string[]; canonical: string; other: string }[] = [
  { type: 'numeric', same: ['1', '1.0', '1.00', '01.000', '+1'], canonical: '1', other: '2.5' },
  { type: 'numeric(10,2)', same: ['3', '3.0', '3.00'], canonical: '3', other: '3.01' },
  { type: 'numeric', same: ['NaN', 'nan'], canonical: 'NaN', other: '-0.000' },
  { type: 'positive_amount', same: ['4', '4.000'], canonical: '4', other: '40' },
  { type: 'bigint', same: ['7', '007', '+7'], canonical: '7', other: '-7' },
  { type: 'citext', same: ['Abc', 'ABC', 'abc'], canonical: 'abc', other: 'abd' },
  { type: 'character(5)', same: ['ab', 'ab ', 'ab   '], canonical: 'ab', other: ' ab' },
  {
    type: 'uuid',
    same: [
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
      '{a0eebc999c0b4ef8bb6d6bb9bd380a11}',
    ],
    canonical: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    other: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
  },
  { type: 'boolean', same: ['t', 'true', 'yes', 'on', '1', 'TRUE'], canonical: 'true', other: 'false' },
  { type: 'mood', same: ['ok'], canonical: 'ok', other: 'happy' },
  { type: 'text', same: ['Ünïcødé'], canonical: 'Ünïcødé', other: 'ünïcødé' },
];

describe('key identity', () => {
  it('routes every spelling of one value to one key and one partition, for every accepted type', async () => {
    for (const [i, c] of equalValues.entries()) {
      const t = await createRoutedTable(db, {
        table: `spelled_${i}`,
        keyColumn: 'k',
        keyType: c.type,
        bucketLimit: 100,
      });
      for (const value of [...c.same, c.other, ...c.same]) {
        await db.query(`INSERT INTO ${t.view} (k, payload) VALUES ($1, 'x')`, [value]);
      }
      const keys = await keysOf(t.configId);
      expect(keys, c.type).toHaveLength(2);
      expect(
        keys.find((k) => k.key === c.canonical),
        `${c.type}: ${JSON.stringify(keys)}`,
      ).toEqual({
        key: c.canonical,
        rows: c.same.length * 2,
      });
      // Every spelling finds all of its rows.
      for (const value of c.same) {
        const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.view} WHERE k = $1`, [value]);
        expect(row!.n, `${c.type} ${value}`).toBe(c.same.length * 2);
      }
      // Provisioning a spelling of an existing key adds nothing.
      await db.query(`SELECT partwise.provision_key($1, $2, 10)`, [t.configId, c.same.at(-1)]);
      expect(await keysOf(t.configId), c.type).toHaveLength(2);
    }
  });

  it('migrates a table holding 1, 1.0 and 1.00 into one partition, through plan, copy, replay, verify and maintenance', async () => {
    await db.query(`CREATE TABLE amounts (id bigserial PRIMARY KEY, k numeric NOT NULL, note text)`);
    await db.query(`INSERT INTO amounts (k, note) VALUES (1, 'a'), (1.0, 'b'), (1.00, 'c'), (2, 'd'), (2.0, 'e')`);
    await db.query('ANALYZE amounts');

    const target = { schema: 'public', table: 'amounts', keyColumn: 'k', bucketLimit: 2 };
    const exact = await plan(target, true);
    expect(exact.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    expect(exact.key.distinctKeys).toBe(2);
    expect(exact.key.largest).toEqual([
      { keyValue: '1', rows: 3 },
      { keyValue: '2', rows: 2 },
    ]);
    expect(exact.ddl).toContain(
      `CREATE TABLE "public"."amounts_k_1" PARTITION OF "public"."amounts_partitioned" FOR VALUES IN ('1') PARTITION BY LIST ("bucket_id");`,
    );
    const estimate = await plan(target, false);
    expect(estimate.key.largest.map((k) => k.keyValue).sort()).toEqual(['1', '2']);

    // Rows written during the copy, in other spellings, are replayed into
    // the same keys by the catch-up.
    const outcome = await migrate(db.pool, [target], {
      beforePhase: async (phase) => {
        if (phase === 'indexes') {
          await db.query(`INSERT INTO amounts (k, note) VALUES (1.000, 'during'), (3.0, 'new key'), (3, 'again')`);
          await db.query(`UPDATE amounts SET note = 'changed' WHERE k = 2.00 AND note = 'd'`);
        }
      },
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    const configId = (
      await db.query<{ config_id: number }>(
        `SELECT config_id FROM partwise.partition_config WHERE table_name = 'amounts'`,
      )
    )[0]!.config_id;
    expect(await keysOf(configId)).toEqual([
      { key: '1', rows: 4 },
      { key: '2', rows: 2 },
      { key: '3', rows: 2 },
    ]);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'amounts_partitioned'::regclass`),
    ).toEqual([{ n: 3 }]);

    // Later inserts of any spelling join their key; its buckets fill in order.
    await db.query(`INSERT INTO amounts (k, note) VALUES (1.0000, 'after'), (2.00, 'after'), (3.000, 'after')`);
    expect(await keysOf(configId)).toEqual([
      { key: '1', rows: 5 },
      { key: '2', rows: 3 },
      { key: '3', rows: 3 },
    ]);
    const over = await db.query(
      `SELECT tableoid::regclass::text AS leaf, count(*)::int AS n FROM amounts_partitioned GROUP BY 1 HAVING count(*) > 2`,
    );
    expect(over).toEqual([]);
    const report = await maintainTable(db.pool, configId, { installSchema: 'partwise', ahead: null });
    expect(report.findings).toEqual([]);
  });

  it('refuses key types whose equality was not tested, with the true reason, in the plan and in SQL', async () => {
    await db.query(
      `CREATE COLLATION IF NOT EXISTS case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
    );
    await db.query(`CREATE TYPE pair AS (a int, b numeric)`);
    await db.query(`CREATE TABLE kinds (
      id int PRIMARY KEY, f8 float8, f4 real, d date, ts timestamptz, iv interval, m money, b bytea, j jsonb,
      arr int[], comp pair, ci text COLLATE case_insensitive, r int4range,
      i2 smallint, i4 int, i8 bigint, n numeric(8,3), t text, vc varchar(20), bp char(3), nm name, ct citext,
      u uuid, bo boolean, e mood, dom positive_amount, c_text text COLLATE "C",
      g int GENERATED ALWAYS AS (i4 + 1) STORED)`);
    const facts = await tableKeyTypeFacts(db.pool, 'public.kinds');
    const verdicts = Object.fromEntries([...facts].map(([name, f]) => [name, keyTypeVerdict(f)]));
    const kinds: Record<string, KeyKind> = {
      id: 'integer',
      i2: 'integer',
      i4: 'integer',
      i8: 'integer',
      n: 'numeric',
      dom: 'numeric',
      t: 'text',
      vc: 'text',
      bp: 'text',
      nm: 'text',
      c_text: 'text',
      ct: 'citext',
      u: 'uuid',
      bo: 'boolean',
      e: 'enum',
    };
    const reasons: Record<string, RegExp> = {
      f8: /0 and -0 are equal but print differently.*extra_float_digits/,
      f4: /extra_float_digits/,
      d: /DateStyle/,
      ts: /TimeZone/,
      iv: /IntervalStyle/,
      m: /lc_monetary/,
      b: /bytea_output/,
      j: /1\.0 and 1/,
      arr: /arrays compare element by element/,
      comp: /composite values compare field by field/,
      ci: /nondeterministic collation case_insensitive/,
      r: /not among the key types/,
      g: /generated column/,
    };
    for (const [column, kind] of Object.entries(kinds))
      expect(verdicts[column], column).toEqual({ usable: true, kind });
    for (const [column, reason] of Object.entries(reasons)) {
      expect(verdicts[column]!.usable, column).toBe(false);
      expect((verdicts[column] as { reason: string }).reason, column).toMatch(reason);
    }
    // The SQL side decides the same for every column but the generated one
    // (the plan refuses those before the type matters).
    const sql = await db.query<{ attname: string; kind: string | null; reason: string | null }>(
      `SELECT a.attname, v.kind, v.reason FROM pg_attribute a, partwise.key_type_verdict(a.atttypid, a.attcollation) v
        WHERE a.attrelid = 'public.kinds'::regclass AND a.attnum > 0 AND a.attname <> 'g'`,
    );
    for (const row of sql) {
      const verdict = verdicts[row.attname]!;
      expect(row.kind, row.attname).toBe(verdict.usable ? verdict.kind : null);
      if (!verdict.usable) expect(row.reason, row.attname).toBe(verdict.reason);
    }
    // And both write the same canonical text expression.
    for (const kind of new Set(Object.values(kinds))) {
      const [row] = await db.query<{ sql: string }>(`SELECT partwise.key_text_sql($1, 'x.k') AS sql`, [kind]);
      expect(row!.sql, kind).toBe(keyTextSql(kind, 'x.k'));
    }

    // The plan blocks a migration by such a key, with the reason.
    const refused = await plan({ schema: 'public', table: 'kinds', keyColumn: 'f8', bucketLimit: 10 }, false);
    expect(refused.issues.find((i) => i.code === 'key_type_unsupported')).toMatchObject({
      severity: 'blocker',
      message: expect.stringMatching(/^f8 cannot be a partition key: double precision: 0 and -0 are equal/),
    });
    // SQL refuses to manage a table partitioned by one.
    await db.query(`CREATE TABLE floats_p (k float8 NOT NULL, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (k)`);
    await expect(
      db.query(`SELECT partwise.configure_table('public', 'floats', 'floats_p', 'k', 10)`),
    ).rejects.toMatchObject({
      code: '0A000',
      message: expect.stringContaining(
        'partwise: k of public.floats_p cannot be a partition key: double precision: 0 and -0',
      ),
    });
  });
});
