// Actions on keys of a table whose small keys share a pool (partwise.share_small_keys):
// export, vacuum and analyze act on a pooled key's rows in the pool; compact
// refuses a pooled key and changes nothing (detach, drop, move and limit
// isolate it first, attach finds it attached: isolate.db.test.ts); a key with a
// partition of its own is detached with the plain DETACH, since PostgreSQL
// refuses DETACH ... CONCURRENTLY while the pool (a default partition) exists.
import { beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { useTestDatabase } from '../../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../../testing/fixtures.js';
import { planKeyActionFor, runKeyAction } from './run.js';
import type { KeyActionKind, KeyActionOptions } from '../../../shared/keys.js';

const db = useTestDatabase('pooled_keys');
const run = { installSchema: 'partwise' };

async function act(t: RoutedTable, key: string, action: KeyActionKind, options: KeyActionOptions = {}) {
  return runKeyAction(db.pool, { schema: t.schema, name: t.table }, key, action, options, run);
}

/** Key 1 with a partition of its own (10 rows), then the pool, then keys 2 and 3 (6 and 3 rows) pooled. */
async function shared(table: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table, bucketLimit: 4 });
  await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'own ' || g FROM generate_series(1, 10) g`);
  await db.query('SELECT partwise.share_small_keys($1, 1000)', [t.configId]);
  await db.query(
    `INSERT INTO ${t.view} (customer_id, payload) SELECT 2 + g % 3 / 2, 'pooled ' || g FROM generate_series(1, 9) g`,
  );
  return t;
}

beforeAll(async () => {
  await installPartwise(db);
});

describe('a pooled key', () => {
  it('is exported from the pool: its rows only, in one snapshot', async () => {
    await shared('p_export');
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const result = await runKeyAction(
      db.pool,
      { schema: 'public', name: 'p_export' },
      '3',
      'export',
      { format: 'csv' },
      { ...run, output: out },
    );
    expect(result).toMatchObject({ rows: 3 });
    const lines = Buffer.concat(chunks).toString().trim().split('\n');
    expect(lines[0]).toBe('id,customer_id,payload');
    expect(lines.slice(1).map((l) => l.split(',')[1])).toEqual(['3', '3', '3']);
  });

  it('plans and runs analyze on the pool leaves that hold its rows, with its own row count', async () => {
    const t = await shared('p_analyze');
    const plan = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'p_analyze' }, '3', 'analyze');
    // Key 3's rows are tickets 2, 5, 8 of the pool: buckets 0 and 1 (limit 4), not bucket 2.
    expect(plan).toMatchObject({
      levelOne: 'p_analyze_customer_id_shared',
      leaves: ['p_analyze_customer_id_shared_bucket_id_0', 'p_analyze_customer_id_shared_bucket_id_1'],
      rows: 3,
    });
    await act(t, '3', 'analyze');
    const tuples = await db.query<{ leaf: string; tuples: number }>(
      `SELECT relname AS leaf, reltuples::int AS tuples FROM pg_class
        WHERE relname LIKE 'p_analyze_customer_id_shared_bucket_id_%' AND relkind = 'r' ORDER BY relname`,
    );
    expect(tuples.map((r) => `${r.leaf.slice(-1)}:${Math.max(r.tuples, 0)}`)).toEqual(['0:4', '1:4', '2:0']);
  });

  it('refuses compact, saying the pool is shared and naming isolate, and nothing changes', async () => {
    const t = await shared('p_refuse');
    const before = await db.query(`SELECT * FROM partwise.partition_tracker WHERE config_id = $1 ORDER BY key_value`, [
      t.configId,
    ]);
    await expect(act(t, '2', 'compact')).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(
        /^key 2 of public\.p_refuse shares the pool p_refuse_customer_id_shared with the table's other small keys: its 6 rows sit in 3 pool buckets that other keys fill too/,
      ),
      hint: expect.stringContaining('partwise key isolate --table public.p_refuse --value 2'),
    });
    expect(
      await db.query(`SELECT * FROM partwise.partition_tracker WHERE config_id = $1 ORDER BY key_value`, [t.configId]),
    ).toEqual(before);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE config_id = $1`, [t.configId]),
    ).toEqual([{ n: 0 }]);
    // The SQL refuses too, so that a direct call cannot detach the pool.
    await expect(db.query(`SELECT partwise.key_begin($1, '2', 'detach')`, [t.configId])).rejects.toThrow(
      /partwise: key 2 of public.p_refuse shares the pool p_refuse_customer_id_shared/,
    );
    await expect(db.query(`SELECT partwise.set_key_bucket_limit($1, '2', 5)`, [t.configId])).rejects.toThrow(
      /shares the pool/,
    );
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = 'p_refuse_customer_id_shared'::regclass`,
      ),
    ).toEqual([{ n: 1 }]);
  });
});

describe('a key with its own partition, beside the pool', () => {
  it('is detached with the plain DETACH (the plan says why) and attached back; pooled keys route meanwhile', async () => {
    const t = await shared('p_own');
    const plan = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'p_own' }, '1', 'detach');
    expect(plan.ddl).toEqual(['ALTER TABLE "public"."p_own_partitioned" DETACH PARTITION p_own_customer_id_1']);
    expect(plan.locks.map((l) => [l.relation, l.mode])).toContainEqual([
      '"public"."p_own_partitioned"',
      'ACCESS EXCLUSIVE',
    ]);
    if (db.major >= 14)
      expect(plan.notes.join(' ')).toMatch(/refuses DETACH \.\.\. CONCURRENTLY while a default partition exists/);
    expect(await act(t, '1', 'detach')).toMatchObject({ state: 'detached', changed: true, rows: 10 });
    expect(await db.query(`SELECT count(*)::int AS n FROM public.p_own_customer_id_1`)).toEqual([{ n: 10 }]);
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'meanwhile'), (9, 'new')`);
    const attach = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'p_own' }, '1', 'attach');
    expect(attach.locks.map((l) => l.relation)).toContain(
      'the pool of small keys (the DEFAULT partition) and each of its leaves',
    );
    expect(await act(t, '1', 'attach')).toMatchObject({ state: 'active', changed: true });
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 1`)).toEqual([{ n: 10 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view}`)).toEqual([{ n: 21 }]);
  });
});
