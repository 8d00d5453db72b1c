// partwise key move and compact against real PostgreSQL, as the non-superuser
// table owner: where the leaves end up, that no row is lost or over a limit,
// bad input refused with nothing changed, the lock choice of compaction
// (the application's UPDATE and DELETE of a row being moved do not fail), and
// both under the application's concurrent inserts, updates and deletes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../testing/database.js';
import { expectSameRows } from '../../testing/same-rows.js';
import { createRoutedTable, installPartwise, leafCounts, type RoutedTable } from '../../testing/fixtures.js';
import { createTablespace, revokeTablespace } from '../../testing/tablespace.js';
import { partitionTree } from '../explorer.js';
import { planKeyActionFor, runKeyAction } from './run.js';
import { migrate } from '../index.js';
import type { KeyActionKind, KeyActionOptions } from '../../../shared/keys.js';

const db = useTestDatabase('key_storage');
const run = { installSchema: 'partwise' };
let cold = '';
let forbidden = '';

async function act(t: RoutedTable, key: string, action: KeyActionKind, options: KeyActionOptions = {}, batch?: number) {
  return runKeyAction(db.pool, { schema: t.schema, name: t.table }, key, action, options, {
    ...run,
    compactBatchRows: batch,
  });
}

/** 100 rows of key 1 (buckets 0-9 of 10, bucket 9 current) and 20 of key 2, with a ledger. */
async function seeded(table: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table, bucketLimit: 10 });
  await db.query(`CREATE TABLE ${table}_ledger (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  for (const [key, n] of [
    [1, 100],
    [2, 20],
  ] as const)
    await db.query(
      `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) SELECT $1, 'seed ' || g FROM generate_series(1, $2) g
                  RETURNING id, customer_id, payload)
       INSERT INTO ${table}_ledger SELECT * FROM r`,
      [key, n],
    );
  return t;
}

/** Deletes 7 rows of every 10 of key 1 in its closed buckets (0-8), from the table and the ledger. */
async function thinOut(t: RoutedTable): Promise<void> {
  await db.query(
    `WITH d AS (DELETE FROM ${t.root} WHERE customer_id = 1 AND bucket_id < 9 AND id % 10 NOT IN (0, 5, 9) RETURNING id)
     DELETE FROM ${t.table}_ledger l USING d WHERE l.id = d.id`,
  );
}

async function placeOf(relation: string): Promise<string> {
  const rows = await db.query<{ spc: string }>(
    `SELECT coalesce(t.spcname, 'default') AS spc FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
      WHERE c.oid = $1::regclass`,
    [relation],
  );
  return rows[0]!.spc;
}

function expectSame(left: string, right: string): Promise<void> {
  return expectSameRows(db, left, right, 'id, customer_id, payload');
}

beforeAll(async () => {
  await installPartwise(db);
  cold = await createTablespace(db, 'cold', true);
  forbidden = await createTablespace(db, 'closed', false);
});

afterAll(async () => {
  await revokeTablespace(db, cold);
});

describe('move', () => {
  it("moves a key's leaves and indexes to a tablespace, leaf by leaf; buckets opened later land there too", async () => {
    const t = await seeded('m_move');
    const plan = await planKeyActionFor(db.pool, run.installSchema, { schema: 'public', name: 'm_move' }, '2', 'move', {
      tablespace: cold,
    });
    expect(plan.tablespaces).toContain(cold);
    expect(plan.tablespaces).not.toContain(forbidden);
    expect(plan.ddl).toEqual([
      `ALTER TABLE m_move_customer_id_2 SET TABLESPACE "${cold}"`,
      `ALTER INDEX m_move_customer_id_2_pkey SET TABLESPACE "${cold}"`,
      `ALTER TABLE m_move_customer_id_2_bucket_id_0 SET TABLESPACE "${cold}"`,
      `ALTER INDEX m_move_customer_id_2_bucket_id_0_pkey SET TABLESPACE "${cold}"`,
      `ALTER TABLE m_move_customer_id_2_bucket_id_1 SET TABLESPACE "${cold}"`,
      `ALTER INDEX m_move_customer_id_2_bucket_id_1_pkey SET TABLESPACE "${cold}"`,
    ]);
    expect(plan.locks.map((l) => l.mode)).toEqual(['ACCESS EXCLUSIVE', 'ACCESS EXCLUSIVE']);

    const result = await act(t, '2', 'move', { tablespace: cold });
    expect(result).toMatchObject({ action: 'move', changed: true, state: 'active' });
    expect(result.message).toContain(`moved to tablespace ${cold}: 2 leaves`);
    const leaves = await leafCounts(db, t.configId);
    for (const leaf of leaves.filter((l) => l.key_value === '2')) {
      expect(await placeOf(`public.${leaf.leaf}`)).toBe(cold);
      expect(await placeOf(`public.${leaf.leaf}_pkey`)).toBe(cold);
    }
    // Key 1 stays where it was.
    expect(await placeOf('public.m_move_customer_id_1_bucket_id_0')).toBe('default');
    await expectSame('m_move_ledger', t.view);

    // A bucket opened after the move (online: CREATE TABLE, then ATTACH) is in the tablespace, its index too.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 2, 'later' FROM generate_series(1, 10)`);
    expect(await placeOf('public.m_move_customer_id_2_bucket_id_2')).toBe(cold);
    expect(await placeOf('public.m_move_customer_id_2_bucket_id_2_pkey')).toBe(cold);

    const again = await act(t, '2', 'move', { tablespace: cold });
    expect(again).toMatchObject({ changed: false });
    expect(again.message).toContain(`is in tablespace ${cold} already; nothing done`);

    // And back to the database's default.
    await act(t, '2', 'move', { tablespace: 'pg_default' });
    expect(await placeOf('public.m_move_customer_id_2_bucket_id_2')).toBe('default');
    const journal = await db.query<{ status: string; detail: { leavesMoved?: number } }>(
      `SELECT status, detail FROM partwise.key_action WHERE config_id = $1 AND action = 'move' ORDER BY action_id`,
      [t.configId],
    );
    expect(journal.map((j) => [j.status, j.detail.leavesMoved])).toEqual([
      ['succeeded', 2],
      ['succeeded', 0],
      ['succeeded', 3],
    ]);
  });

  it('refuses a tablespace that does not exist, or that the role may not create in, and changes nothing', async () => {
    const t = await seeded('m_bad');
    await expect(act(t, '1', 'move', { tablespace: 'nowhere' })).rejects.toThrow('tablespace nowhere does not exist');
    await expect(act(t, '1', 'move', { tablespace: forbidden })).rejects.toThrow(
      `role ${db.owner} has no CREATE privilege on tablespace ${forbidden}`,
    );
    await expect(act(t, '1', 'move', {})).rejects.toThrow('a move needs a tablespace');
    await expect(act(t, '1', 'compact', { tablespace: cold })).rejects.toThrow('a tablespace goes with move only');
    expect(await placeOf('public.m_bad_customer_id_1')).toBe('default');
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE config_id = $1`, [t.configId]),
    ).toEqual([{ n: 0 }]);
  });
});

describe('compact', () => {
  it("merges a key's sparse closed buckets into as few as the limit allows and drops the emptied leaves", async () => {
    const t = await seeded('c_compact');
    await thinOut(t);
    const before = await leafCounts(db, t.configId);
    expect(before.filter((l) => l.key_value === '1').map((l) => l.rows)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 3, 10]);

    const plan = await planKeyActionFor(
      db.pool,
      run.installSchema,
      { schema: 'public', name: 'c_compact' },
      '1',
      'compact',
    );
    expect(plan.compaction).toMatchObject({ leavesBefore: 10, leavesAfter: 4, rowsMoved: 18 });
    expect(plan.steps.at(-1)).toBe('drop the 6 emptied leaves: key 1 goes from 10 leaves to 4');
    expect(plan.ddl[0]).toBe(
      `UPDATE "public"."c_compact_partitioned" SET "bucket_id" = 0 WHERE "customer_id" = '1' AND "bucket_id" = 3` +
        ' -- 3 rows, at most 1,000 per transaction, each after LOCK TABLE c_compact_customer_id_1_bucket_id_3 IN EXCLUSIVE MODE',
    );
    expect(plan.ddl.at(-1)).toBe(
      `DROP TABLE ${[3, 4, 5, 6, 7, 8].map((b) => `c_compact_customer_id_1_bucket_id_${b}`).join(', ')}`,
    );

    const result = await act(t, '1', 'compact', {}, 4);
    expect(result).toMatchObject({ action: 'compact', changed: true, rows: 18 });
    expect(result.message).toBe('Key 1 of public.c_compact compacted: 18 rows moved, 10 leaves before, 4 after.');
    const after = await leafCounts(db, t.configId);
    // 27 rows in buckets 0-2 (none over 10), 3-8 gone with their leaves, the current bucket (9) untouched.
    expect(after.filter((l) => l.key_value === '1').map((l) => [l.bucket_id, l.rows])).toEqual([
      [0, 10],
      [1, 10],
      [2, 7],
      [9, 10],
    ]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'public.c_compact_customer_id_1'::regclass`,
      ),
    ).toEqual([{ n: 4 }]);
    await expectSame('c_compact_ledger', t.view);
    // Routing carries on: the next rows go to bucket 10 and on.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'after' FROM generate_series(1, 12)`);
    const routed = await leafCounts(db, t.configId);
    expect(routed.filter((l) => l.key_value === '1').map((l) => [l.bucket_id, l.rows])).toEqual([
      [0, 10],
      [1, 10],
      [2, 7],
      [9, 10],
      [10, 10],
      [11, 2],
    ]);
    const tree = await partitionTree(db.pool, 'partwise', t.configId, true);
    expect(tree.levelOne.find((l) => l.keyValue === '1')).toMatchObject({ state: 'active', rows: 49 });

    const again = await act(t, '1', 'compact');
    expect(again).toMatchObject({ changed: false });
    expect(again.message).toContain('has no sparse bucket to merge; nothing done');
  });

  it('lets the application update and delete rows that a batch moves: they wait for the batch, then find the rows', async () => {
    const t = await seeded('c_locks');
    await thinOut(t);
    const moving = await db.query<{ id: string }>(
      `SELECT id FROM ${t.root} WHERE customer_id = 1 AND bucket_id = 8 ORDER BY id`,
    );
    expect(moving).toHaveLength(3);
    const compactor = await db.connect();
    const app = await db.connect();
    try {
      await compactor.query('BEGIN');
      const { rows } = await compactor.query<{ n: string }>(
        `SELECT partwise.key_compact_batch($1, '1', 8, 0, 10) AS n`,
        [t.configId],
      );
      expect(rows[0]!.n).toBe('3');
      const update = app.query(`UPDATE ${t.root} SET payload = 'changed' WHERE customer_id = 1 AND id = $1`, [
        moving[0]!.id,
      ]);
      await waitForLockWait(`UPDATE ${t.root}`);
      await compactor.query('COMMIT');
      expect((await update).rowCount).toBe(1);
      const removal = app.query(`DELETE FROM ${t.root} WHERE id = $1`, [moving[1]!.id]);
      // Nothing waits now: the rows are in bucket 0.
      expect((await removal).rowCount).toBe(1);
    } finally {
      await compactor.end();
      await app.end();
    }
    const left = await db.query<{ id: string; bucket_id: number; payload: string }>(
      `SELECT id, bucket_id, payload FROM ${t.root} WHERE id = ANY ($1::bigint[]) ORDER BY id`,
      [moving.map((m) => m.id)],
    );
    expect(left.map((r) => [r.id, r.bucket_id])).toEqual([
      [moving[0]!.id, 0],
      [moving[2]!.id, 0],
    ]);
    expect(left[0]!.payload).toBe('changed');
  });
});

interface Workload {
  /** Operations committed so far. */
  done(): number;
  stop(): Promise<{ committed: number; errors: string[] }>;
}

/**
 * The application at work on one key, one transaction per operation, each
 * mirrored in the ledger in the same transaction: inserts through the view,
 * updates of the given rows (round and round) or deletes of them (each once)
 * through the partitioned table (stop() waits for the last delete). An
 * update or delete that finds no row the ledger has is an error: a write the
 * compaction would have lost.
 */
async function startWorkload(
  t: RoutedTable,
  key: number,
  kind: 'insert' | 'update' | 'delete',
  ids: string[] = [],
): Promise<Workload> {
  const client = await db.connect();
  const ledger = `${t.table}_ledger`;
  let running = true;
  let committed = 0;
  const errors: string[] = [];
  const loop = (async () => {
    // Deletes: each row once, spread out so that they fall during the action,
    // and all of them even when stopped early (a test counts them).
    for (let i = 0; kind === 'delete' ? i < ids.length : running; i++) {
      if (kind === 'delete') await new Promise((r) => setTimeout(r, 25));
      try {
        await client.query('BEGIN');
        if (kind === 'insert') {
          const { rows } = await client.query<{ id: string }>(
            `INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, $2) RETURNING id`,
            [key, `app ${key} row ${i}`],
          );
          await client.query(`INSERT INTO ${ledger} (id, customer_id, payload) VALUES ($1, $2, $3)`, [
            rows[0]!.id,
            key,
            `app ${key} row ${i}`,
          ]);
        } else {
          const id = ids[i % ids.length]!;
          const inLedger = await client.query(`SELECT 1 FROM ${ledger} WHERE id = $1 FOR UPDATE`, [id]);
          const changed =
            kind === 'update'
              ? await client.query(`UPDATE ${t.root} SET payload = $3 WHERE customer_id = $1 AND id = $2`, [
                  key,
                  id,
                  `updated ${i}`,
                ])
              : await client.query(`DELETE FROM ${t.root} WHERE customer_id = $1 AND id = $2`, [key, id]);
          if (changed.rowCount !== inLedger.rowCount)
            throw new Error(
              `${kind} of row ${id} changed ${changed.rowCount} rows; the ledger has ${inLedger.rowCount}`,
            );
          if (kind === 'update')
            await client.query(`UPDATE ${ledger} SET payload = $2 WHERE id = $1`, [id, `updated ${i}`]);
          else await client.query(`DELETE FROM ${ledger} WHERE id = $1`, [id]);
        }
        await client.query('COMMIT');
        committed++;
      } catch (error) {
        errors.push((error as Error).message);
        await client.query('ROLLBACK');
      }
    }
  })();
  return {
    done: () => committed,
    async stop() {
      running = false;
      await loop;
      await client.end();
      return { committed, errors };
    },
  };
}

/** Until every workload has committed `n` more operations. */
async function whileWorking(workloads: Workload[], n: number): Promise<void> {
  const base = workloads.map((w) => w.done());
  while (workloads.some((w, i) => w.done() < base[i]! + n)) await new Promise((r) => setTimeout(r, 10));
}

describe('move and compact while the application writes', () => {
  it('compacts a key while the application inserts, updates and deletes its rows: nothing lost, no write fails', async () => {
    const t = await seeded('w_compact');
    await thinOut(t);
    const left = (
      await db.query<{ id: string }>(
        `SELECT id::text FROM ${t.root} WHERE customer_id = 1 AND bucket_id < 9 ORDER BY id`,
      )
    ).map((r) => r.id);
    expect(left).toHaveLength(27);
    // Updates and deletes of rows of the emptied and of the filled buckets alike.
    const workloads = await Promise.all([
      startWorkload(t, 1, 'insert'),
      startWorkload(t, 2, 'insert'),
      startWorkload(
        t,
        1,
        'update',
        left.filter((_, i) => i % 3 !== 2),
      ),
      startWorkload(
        t,
        1,
        'delete',
        left.filter((_, i) => i % 3 === 2),
      ),
    ]);
    await whileWorking(workloads.slice(0, 3), 5);
    // Two rows per batch: many short transactions among the application's.
    const result = await act(t, '1', 'compact', {}, 2);
    await whileWorking(workloads.slice(0, 3), 5);
    const done = await Promise.all(workloads.map((w) => w.stop()));
    for (const w of done) expect(w.errors).toEqual([]);
    expect(done[3]!.committed).toBe(9);
    expect(result.changed).toBe(true);
    await expectSame('w_compact_ledger', t.view);
    const leaves = await leafCounts(db, t.configId);
    for (const leaf of leaves) expect(leaf.rows).toBeLessThanOrEqual(leaf.capacity);
    const closed = leaves.filter((l) => l.key_value === '1' && l.bucket_id < 9);
    expect(closed.length).toBeLessThan(9);
  });

  it('moves a key while the application inserts, updates and deletes its rows: nothing lost, no write fails', async () => {
    const t = await seeded('w_move');
    const some = (
      await db.query<{ id: string }>(`SELECT id::text FROM ${t.root} WHERE customer_id = 1 ORDER BY id LIMIT 40`)
    ).map((r) => r.id);
    const workloads = await Promise.all([
      startWorkload(t, 1, 'insert'),
      startWorkload(t, 2, 'insert'),
      startWorkload(t, 1, 'update', some.slice(0, 30)),
      startWorkload(t, 1, 'delete', some.slice(30)),
    ]);
    await whileWorking(workloads.slice(0, 3), 5);
    const result = await act(t, '1', 'move', { tablespace: cold });
    await whileWorking(workloads.slice(0, 3), 5);
    const done = await Promise.all(workloads.map((w) => w.stop()));
    for (const w of done) expect(w.errors).toEqual([]);
    expect(result.changed).toBe(true);
    await expectSame('w_move_ledger', t.view);
    for (const leaf of (await leafCounts(db, t.configId)).filter((l) => l.key_value === '1'))
      expect(await placeOf(`public.${leaf.leaf}`)).toBe(cold);
  });
});

describe('compact and the unique registries of a migrated table', () => {
  it('keeps the moved rows unique across the table, and a later drop of the key frees their values', async () => {
    await db.query(`CREATE TABLE c_unique (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
    await db.query(`INSERT INTO c_unique SELECT g, 1 + g % 3, 'p' FROM generate_series(1, 300) g`);
    const outcome = await migrate(
      db.pool,
      [{ schema: 'public', table: 'c_unique', keyColumn: 'customer_id', bucketLimit: 40 }],
      { workers: 1 },
    );
    expect(outcome.status).toBe('succeeded');
    const [registry] = await db.query<{ registry_table: string }>(
      `SELECT registry_table FROM partwise.unique_registry r JOIN partwise.partition_config c USING (config_id)
        WHERE c.table_name = 'c_unique' AND r.enforced`,
    );
    // Key 2 (100 rows: buckets 0 and 1 of 40, 2 current) keeps 10 rows in each closed bucket.
    await db.query(
      `DELETE FROM c_unique_partitioned WHERE customer_id = 2 AND id IN (
         SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY bucket_id ORDER BY id) AS n
                           FROM c_unique_partitioned WHERE customer_id = 2 AND bucket_id < 2) r WHERE n > 10)`,
    );
    const compacted = await runKeyAction(db.pool, { schema: 'public', name: 'c_unique' }, '2', 'compact', {}, run);
    expect(compacted).toMatchObject({ changed: true, rows: 10 });
    const entries = async (): Promise<number> =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM partwise.${registry!.registry_table}`))[0]!.n;
    expect(await entries()).toBe(240);
    const moved = await db.query<{ id: string }>(
      `SELECT id FROM c_unique_partitioned WHERE customer_id = 2 AND bucket_id = 0 ORDER BY id DESC LIMIT 1`,
    );
    await expect(
      db.query(`INSERT INTO c_unique (id, customer_id, payload) VALUES ($1, 1, 'dup')`, [moved[0]!.id]),
    ).rejects.toThrow(/duplicate key/);
    await runKeyAction(db.pool, { schema: 'public', name: 'c_unique' }, '2', 'drop', { onInsert: 'recreate' }, run);
    expect(await entries()).toBe(200);
    await db.query(`INSERT INTO c_unique (id, customer_id, payload) VALUES ($1, 1, 'free again')`, [moved[0]!.id]);
  });
});

describe('compact and inserts in flight', () => {
  it('waits for an insert that took a ticket of a closed bucket before counting, so that no bucket goes over its limit', async () => {
    const t = await createRoutedTable(db, { table: 'c_inflight', bucketLimit: 10 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'first ' || g FROM generate_series(1, 9) g`);
    const app = await db.connect();
    try {
      // Ticket 10, bucket 0, not committed; then tickets 11-21 fill bucket 1 and open bucket 2.
      await app.query('BEGIN');
      await app.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'in flight')`);
      await db.query(
        `INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'next ' || g FROM generate_series(1, 11) g`,
      );
      // Buckets 0 and 1 hold 5 committed rows each: one bucket could take them all, but for the row in flight.
      await db.query(
        `DELETE FROM ${t.root} WHERE customer_id = 1 AND payload IN ('first 1', 'first 2', 'first 3', 'first 4')`,
      );
      await db.query(
        `DELETE FROM ${t.root} WHERE customer_id = 1 AND payload IN ('next 1', 'next 2', 'next 3', 'next 4', 'next 5')`,
      );
      let waiting!: () => void;
      const waits = new Promise<void>((resolve) => (waiting = resolve));
      const compaction = runKeyAction(
        db.pool,
        { schema: 'public', name: 'c_inflight' },
        '1',
        'compact',
        {},
        {
          ...run,
          onProgress: (p) => {
            if (p.step.startsWith('waiting for 1 transaction that insert')) waiting();
          },
        },
      );
      await waits;
      await app.query('COMMIT');
      const result = await compaction;
      // Counted after the commit: 6 and 5 rows do not fit in one bucket of 10.
      expect(result.changed).toBe(false);
    } finally {
      await app.end();
    }
    const leaves = await leafCounts(db, t.configId);
    expect(leaves.map((l) => [l.bucket_id, l.rows])).toEqual([
      [0, 6],
      [1, 5],
      [2, 1],
    ]);
  });
});

async function waitForLockWait(query: string): Promise<void> {
  for (;;) {
    const waiting = await db.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND query LIKE $1`,
      [`${query}%`],
    );
    if (waiting.length > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
