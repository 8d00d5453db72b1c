// Actions on one key of a routed table, against real PostgreSQL, as the
// non-superuser owner: what each does to the tree, the metadata, routing and
// the journal, and that bad input changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { useTestDatabase } from '../../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../../testing/fixtures.js';
import { runKeyAction, planKeyActionFor } from './run.js';
import { migrate } from '../index.js';
import type { KeyActionKind, KeyActionOptions } from '../../../shared/keys.js';

const db = useTestDatabase('keys');
const run = { installSchema: 'partwise' };

async function act(t: RoutedTable, key: string, action: KeyActionKind, options: KeyActionOptions = {}) {
  return runKeyAction(db.pool, { schema: t.schema, name: t.table }, key, action, options, run);
}

async function seeded(table: string, limit = 10): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table, bucketLimit: limit });
  await db.query(
    `INSERT INTO ${t.view} (customer_id, payload) SELECT 1 + g % 3, 'row ' || g FROM generate_series(1, 60) g`,
  );
  return t;
}

async function state(t: RoutedTable, key: string): Promise<string | undefined> {
  const rows = await db.query<{ state: string }>(
    'SELECT state FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = $2',
    [t.configId, key],
  );
  return rows[0]?.state;
}

beforeAll(async () => {
  await installPartwise(db);
});

describe('detach and attach', () => {
  it('detaches a key into a standalone table, refuses its rows with an error naming table and key, and attaches it back', async () => {
    const t = await seeded('k_detach');
    // 21 rows: the key's current bucket has room, so a refused row is refused
    // on routing's fast path, not only where it opens a bucket.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'one more')`);
    const result = await act(t, '2', 'detach');
    expect(result).toMatchObject({ action: 'detach', state: 'detached', changed: true, rows: 21 });
    expect(await state(t, '2')).toBe('detached');
    // The rows left the tree with their partition, which is a table of its own.
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 2`)).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM public.k_detach_customer_id_2`)).toEqual([{ n: 21 }]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = 'public.k_detach_customer_id_2'::regclass`,
      ),
    ).toEqual([{ n: 0 }]);
    await expect(db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'refused')`)).rejects.toThrow(
      'partwise: key 2 of public.k_detach is detached (its rows are in table public.k_detach_customer_id_2); new rows of this key are refused',
    );
    // Other keys route as before.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'still routed'), (7, 'new key')`);

    const again = await act(t, '2', 'detach');
    expect(again).toMatchObject({ changed: false, state: 'detached' });
    expect(again.message).toContain('already detached; nothing done');

    const attached = await act(t, '2', 'attach');
    expect(attached).toMatchObject({ state: 'active', changed: true });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'back')`);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 2`)).toEqual([{ n: 22 }]);

    const journal = await db.query<{ action: string; status: string; step: string }>(
      `SELECT action, status, step FROM partwise.key_action WHERE config_id = $1 ORDER BY action_id`,
      [t.configId],
    );
    expect(journal).toEqual([
      { action: 'detach', status: 'succeeded', step: 'detached' },
      { action: 'detach', status: 'succeeded', step: 'start' },
      { action: 'attach', status: 'succeeded', step: 'attaching' },
    ]);
  });

  it('refuses to attach a detached table holding a row of another key, and changes nothing', async () => {
    const t = await seeded('k_bad_attach');
    await act(t, '3', 'detach');
    // DETACH ... CONCURRENTLY (14+) leaves a CHECK constraint of the key on the table, which would refuse the stray row.
    await db.query(
      `ALTER TABLE public.k_bad_attach_customer_id_3 DROP CONSTRAINT IF EXISTS k_bad_attach_customer_id_3_customer_id_check`,
    );
    await db.query(
      `INSERT INTO public.k_bad_attach_customer_id_3 (customer_id, payload, bucket_id) VALUES (9, 'stray', 0)`,
    );
    await expect(act(t, '3', 'attach')).rejects.toThrow(/partition constraint is violated|violat/);
    expect(await state(t, '3')).toBe('attaching');
    await expect(db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (3, 'x')`)).rejects.toThrow(
      'key 3 of public.k_bad_attach is being attached',
    );
    await db.query(`DELETE FROM public.k_bad_attach_customer_id_3 WHERE customer_id = 9`);
    expect(await act(t, '3', 'attach')).toMatchObject({ state: 'active' });
  });
});

describe('a detach that gave up', () => {
  it('leaves the key refusing rows and is finished by running it again (DETACH ... FINALIZE on 14+); attach also finishes it', async () => {
    const t = await seeded('k_gave_up');
    const pending = async (key: string) =>
      db.query(
        `SELECT ${db.major >= 14 ? 'inhdetachpending' : 'false'} AS pending FROM pg_inherits WHERE inhrelid = $1::regclass`,
        [`public.k_gave_up_customer_id_${key}`],
      );
    const giveUp = async (key: string): Promise<void> => {
      // A reader of the table keeps the detach waiting past its lock_timeout, with no retry.
      const reader = await db.connect();
      await reader.query(`BEGIN; SELECT count(*) FROM ${t.view}`);
      await expect(
        runKeyAction(
          db.pool,
          { schema: 'public', name: 'k_gave_up' },
          key,
          'detach',
          {},
          {
            ...run,
            lock: { lockTimeoutMs: 100, attempts: 1 },
          },
        ),
      ).rejects.toThrow(/lock/);
      await reader.query('COMMIT');
      await reader.end();
      expect(await state(t, key)).toBe('detaching');
      // From 14 the detach's first transaction committed: the partition is half detached.
      expect(await pending(key)).toEqual([{ pending: db.major >= 14 }]);
      await expect(
        db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, 'x')`, [Number(key)]),
      ).rejects.toThrow(`key ${key} of public.k_gave_up is detached`);
    };
    await giveUp('1');
    if (db.major >= 14) {
      // One pending detach per table: another key's detach is refused before it changes anything.
      await expect(act(t, '2', 'drop')).rejects.toThrow(
        'the detach of key 1 of public.k_gave_up did not finish, and PostgreSQL detaches one partition of a table at a time',
      );
      expect(await state(t, '2')).toBe('active');
    }
    expect(await act(t, '1', 'detach')).toMatchObject({ state: 'detached', changed: true });
    expect(await pending('1')).toEqual([]);

    await giveUp('2');
    expect(await act(t, '2', 'attach')).toMatchObject({ state: 'active', changed: true });
    expect(await pending('2')).toEqual([{ pending: false }]);
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'back')`);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 2`)).toEqual([{ n: 21 }]);
    const journal = await db.query<{ action: string; status: string }>(
      `SELECT action, status FROM partwise.key_action WHERE config_id = $1 ORDER BY action_id`,
      [t.configId],
    );
    expect(journal.map((j) => `${j.action}:${j.status}`)).toEqual([
      'detach:failed',
      ...(db.major >= 14 ? ['drop:failed'] : []),
      'detach:succeeded',
      'detach:failed',
      'attach:succeeded',
    ]);
  });
});

describe('drop', () => {
  it('drops a key with its partitions and metadata, then refuses its rows until readmitted', async () => {
    const t = await seeded('k_drop');
    const plan = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'k_drop' }, '1', 'drop');
    expect(plan).toMatchObject({ rows: 20, rowsExact: true, state: 'active' });
    expect(plan.bytes).toBeGreaterThan(0);
    expect(plan.ddl.at(-1)).toBe('DROP TABLE k_drop_customer_id_1');

    const result = await act(t, '1', 'drop');
    expect(result).toMatchObject({ state: 'retired', rows: 20 });
    expect(result.bytes).toBe(plan.bytes);
    expect(await db.query(`SELECT to_regclass('public.k_drop_customer_id_1') AS r`)).toEqual([{ r: null }]);
    expect(await state(t, '1')).toBeUndefined();
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM partwise.partition_bucket WHERE config_id = $1 AND key_value = '1'`,
        [t.configId],
      ),
    ).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view}`)).toEqual([{ n: 40 }]);
    await expect(db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'after')`)).rejects.toThrow(
      'partwise: key 1 of public.k_drop was dropped; new rows of this key are refused',
    );
    await expect(act(t, '1', 'detach')).rejects.toThrow('key 1 of public.k_drop was dropped');

    await act(t, '1', 'readmit');
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'after')`);
    expect(await state(t, '1')).toBe('active');
  });

  it('drops a key that a later row recreates when the drop said so', async () => {
    const t = await seeded('k_drop_recreate');
    await act(t, '2', 'drop', { onInsert: 'recreate' });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'new life')`);
    expect(await db.query(`SELECT payload FROM ${t.view} WHERE customer_id = 2`)).toEqual([{ payload: 'new life' }]);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.retired_key WHERE config_id = $1`, [t.configId]),
    ).toEqual([{ n: 0 }]);
  });

  it('drops a detached key', async () => {
    const t = await seeded('k_drop_detached');
    await act(t, '3', 'detach');
    expect(await act(t, '3', 'drop')).toMatchObject({ rows: 20, state: 'retired' });
    expect(await db.query(`SELECT to_regclass('public.k_drop_detached_customer_id_3') AS r`)).toEqual([{ r: null }]);
  });
});

describe('drop and the unique registries of a migrated table', () => {
  it('frees the values of the dropped rows and keeps enforcing the others', async () => {
    await db.query(`CREATE TABLE k_unique (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
    await db.query(`INSERT INTO k_unique SELECT g, 1 + g % 3, 'p' FROM generate_series(1, 300) g`);
    const outcome = await migrate(
      db.pool,
      [{ schema: 'public', table: 'k_unique', keyColumn: 'customer_id', bucketLimit: 40 }],
      {
        workers: 1,
      },
    );
    expect(outcome.status).toBe('succeeded');
    const registries = await db.query(`SELECT registry_table FROM partwise.unique_registry WHERE enforced`);
    expect(registries).toHaveLength(1);
    const result = await runKeyAction(
      db.pool,
      { schema: 'public', name: 'k_unique' },
      '2',
      'drop',
      { onInsert: 'recreate' },
      run,
    );
    expect(result).toMatchObject({ rows: 100 });
    // id 1 was a row of key 2 (1 % 3 = 1): free again, under any key; id 3 (key 1) is still taken across the table.
    await db.query(`INSERT INTO k_unique (id, customer_id, payload) VALUES (1, 3, 'reused')`);
    await expect(db.query(`INSERT INTO k_unique (id, customer_id, payload) VALUES (3, 2, 'dup')`)).rejects.toThrow(
      /duplicate key/,
    );
    const [left] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM partwise.${(registries[0] as { registry_table: string }).registry_table}`,
    );
    expect(left!.n).toBe(201);
  });
});

describe('bad input changes nothing', () => {
  it('names an unknown key and an unmanaged table', async () => {
    const t = await seeded('k_bad');
    await db.query('CREATE TABLE k_plain (customer_id int)');
    await expect(act(t, '42', 'drop')).rejects.toThrow(
      'public.k_bad has no key 42 (customer_id = 42 has no partition)',
    );
    await expect(runKeyAction(db.pool, { schema: 'public', name: 'k_plain' }, '1', 'detach', {}, run)).rejects.toThrow(
      'public.k_plain is not managed by Partwise',
    );
    await expect(act(t, '1', 'readmit')).rejects.toThrow('key 1 of public.k_bad was not dropped');
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE table_name = 'k_bad'`)).toEqual([
      { n: 0 },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view}`)).toEqual([{ n: 60 }]);
  });
});

describe('per-key limit, vacuum, analyze, export', () => {
  it('opens the buckets of a key with its own limit from then on', async () => {
    const t = await seeded('k_limit'); // 20 rows per key, limit 10: buckets 0 and 1 full
    await act(t, '1', 'limit', { bucketLimit: 3 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'more' FROM generate_series(1, 7)`);
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 2, 'more' FROM generate_series(1, 7)`);
    const buckets = await db.query<{ key_value: string; bucket_id: number; capacity: string }>(
      `SELECT key_value, bucket_id, capacity FROM partwise.partition_bucket WHERE config_id = $1 AND key_value IN ('1', '2')
        ORDER BY 1, 2`,
      [t.configId],
    );
    expect(buckets.map((b) => `${b.key_value}/${b.bucket_id}:${b.capacity}`)).toEqual([
      '1/0:10',
      '1/1:10',
      '1/2:3',
      '1/3:3',
      '1/4:3',
      '2/0:10',
      '2/1:10',
      '2/2:10',
    ]);
    await act(t, '1', 'limit', { bucketLimit: null });
    expect(
      await db.query(`SELECT bucket_limit FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '1'`, [
        t.configId,
      ]),
    ).toEqual([{ bucket_limit: null }]);
  });

  it('analyzes and vacuums the leaves of one key only', async () => {
    const t = await seeded('k_maint');
    const leaves = async () =>
      db.query<{ key: string; bucket: number; tuples: number; bytes: number }>(
        `SELECT b.key_value AS key, b.bucket_id AS bucket, c.reltuples::int AS tuples,
                pg_relation_size(b.leaf_partition)::int AS bytes
           FROM partwise.partition_bucket b JOIN pg_class c ON c.oid = b.leaf_partition
          WHERE b.config_id = $1 ORDER BY 1, 2`,
        [t.configId],
      );
    await act(t, '2', 'analyze');
    const analyzed = await leaves();
    expect(analyzed.filter((l) => l.key === '2').map((l) => l.tuples)).toEqual([10, 10]);
    expect(analyzed.filter((l) => l.key === '1').every((l) => l.tuples <= 0)).toBe(true);
    // VACUUM (ANALYZE) of key 1 only: its leaves are analyzed again after the
    // delete (bucket 0 now holds no live row), key 3's leaves are not touched.
    // (Whether VACUUM could remove the dead rows depends on the oldest snapshot
    // in the database, an autovacuum's included: not asserted.)
    await db.query(`DELETE FROM ${t.root} WHERE customer_id IN (1, 3) AND bucket_id = 0`);
    await act(t, '1', 'vacuum');
    const vacuumed = await leaves();
    expect(vacuumed.filter((l) => l.key === '1').map((l) => `${l.bucket}:${l.tuples}`)).toEqual(['0:0', '1:10']);
    // Never analyzed: -1 from 14 on, 0 before; the deleted rows still occupy their page.
    expect(vacuumed.filter((l) => l.key === '3').map((l) => `${l.bucket}:${Math.max(l.tuples, 0)}:${l.bytes}`)).toEqual(
      ['0:0:8192', '1:0:8192'],
    );
  });

  it('exports the rows of a key as CSV with a header, attached or detached', async () => {
    const t = await seeded('k_export');
    const collect = async (): Promise<string> => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const result = await runKeyAction(
        db.pool,
        { schema: 'public', name: 'k_export' },
        '3',
        'export',
        { format: 'csv' },
        {
          ...run,
          output: out,
        },
      );
      expect(result).toMatchObject({ rows: 20 });
      return Buffer.concat(chunks).toString();
    };
    const csv = await collect();
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('id,customer_id,payload');
    expect(lines).toHaveLength(21);
    expect(lines.slice(1).every((l) => /^\d+,3,row \d+$/.test(l))).toBe(true);
    await act(t, '3', 'detach');
    expect(await collect()).toBe(csv);
  });
});
