// partwise key isolate / share (sql/functions/18_key_isolate.sql): a pooled
// key moved into a partition of its own and back while an application role
// (its grants only) writes to that key and to other pooled keys, each write
// mirrored in a ledger in the same transaction; the switch reads only the
// pool leaves that may hold the key; bad input changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { expectSameRows } from '../../testing/same-rows.js';
import { startKeyWriter } from '../../testing/key-writer.js';
import { createRoutedTable, installPartwise, leafCounts, type RoutedTable } from '../../testing/fixtures.js';
import { createTablespace, revokeTablespace } from '../../testing/tablespace.js';
import { formatBytes } from '../../../shared/text.js';
import { planKeyActionFor, runKeyAction } from './run.js';
import type { KeyActionKind, KeyActionOptions } from '../../../shared/keys.js';

const db = useTestDatabase('key_isolate');
const run = { installSchema: 'partwise' };
let app: TestRole;
let cold = '';

async function act(t: RoutedTable, key: string, action: KeyActionKind, options: KeyActionOptions = {}) {
  return runKeyAction(db.pool, { schema: t.schema, name: t.table }, key, action, options, run);
}

function plan(t: RoutedTable, key: string, action: KeyActionKind, options: KeyActionOptions = {}) {
  return planKeyActionFor(db.pool, 'partwise', { schema: t.schema, name: t.table }, key, action, options);
}

/**
 * Key 1 with a partition of its own (30 rows), then the pool (bucket limit
 * 25), then 300 rows of keys 2 to 11 pooled: 12 pool buckets, key 2's rows in
 * every one of them. The application role may insert and read the table and
 * its ledger, nothing else.
 */
async function sharedTable(name: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table: name, bucketLimit: 25 });
  await db.query(`CREATE TABLE ${name}_ledger (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await db.query(`GRANT INSERT, SELECT ON ${t.view}, ${name}_ledger TO ${app.sql}`);
  await db.query(`GRANT USAGE ON SEQUENCE ${name}_partitioned_id_seq TO ${app.sql}`);
  await write(t, `SELECT 1, 'own ' || g FROM generate_series(1, 30) g`);
  await db.query('SELECT partwise.share_small_keys($1, 100)', [t.configId]);
  await write(t, `SELECT 2 + g % 10, 'pooled ' || g FROM generate_series(1, 300) g`);
  return t;
}

async function write(t: RoutedTable, select: string): Promise<void> {
  await db.query(
    `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) ${select} RETURNING id, customer_id, payload)
     INSERT INTO ${t.table}_ledger SELECT * FROM r`,
  );
}

/** Waits until each key's ledger has grown by n rows. */
async function whileWriting(t: RoutedTable, keys: number[], n: number): Promise<void> {
  const count = () =>
    db.query<{ key: number; c: number }>(
      `SELECT customer_id AS key, count(*)::int AS c FROM ${t.table}_ledger GROUP BY 1`,
    );
  const base = new Map((await count()).map((r) => [r.key, r.c]));
  for (;;) {
    const now = await count();
    if (keys.every((k) => (now.find((r) => r.key === k)?.c ?? 0) >= (base.get(k) ?? 0) + n)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectSame(left: string, right: string): Promise<void> {
  return expectSameRows(db, left, right, 'id, customer_id, payload');
}

async function tracker(t: RoutedTable, key: string) {
  const [row] = await db.query<{ in_pool: boolean; level_one: string; state: string }>(
    `SELECT in_pool, level_one_partition::text AS level_one, state FROM partwise.partition_tracker
      WHERE config_id = $1 AND key_value = $2`,
    [t.configId, key],
  );
  return row;
}

/** Rows per pool leaf, and the leaves' capacity. */
async function poolLeaves(t: RoutedTable): Promise<Array<{ leaf: string; rows: number; capacity: number }>> {
  const buckets = await db.query<{ leaf: string; capacity: string }>(
    `SELECT leaf_partition::text AS leaf, capacity FROM partwise.pool_bucket WHERE config_id = $1 ORDER BY bucket_id`,
    [t.configId],
  );
  const out = [];
  for (const b of buckets) {
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${b.leaf}`);
    out.push({ leaf: b.leaf, rows: row!.n, capacity: Number(b.capacity) });
  }
  return out;
}

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('isolate_app');
  cold = await createTablespace(db, 'cold', true);
});

afterAll(async () => {
  await revokeTablespace(db, cold);
});

describe('isolate and share under concurrent writes', () => {
  it('isolates a pooled key while the application writes to it and to other pooled keys, then shares it back, losing nothing', async () => {
    const t = await sharedTable('i_writers');
    // Key 12's rows in the last buckets only: the closed buckets before are proved free of it.
    await write(t, `SELECT 12, 'late ' || g FROM generate_series(1, 30) g`);
    const writers = await Promise.all([12, 12, 3, 4, 1].map((k) => startKeyWriter(() => app.connect(), t, k)));
    await whileWriting(t, [1, 12, 3, 4], 10);
    const isolated = await act(t, '12', 'isolate');
    expect(isolated).toMatchObject({ action: 'isolate', changed: true, state: 'active' });
    expect(isolated.message).toMatch(
      /^Key 12 of public\.i_writers isolated: [\d,]+ rows moved out of the pool into i_writers_customer_id_12 \(\d+ buckets?\); the pool and its leaves were locked for [\d.]+ ms, \d+ pool (leaf|leaves) read \(\d+ closed buckets? proved free of the key, not read\)\.$/,
    );
    expect(await tracker(t, '12')).toEqual({ in_pool: false, level_one: 'i_writers_customer_id_12', state: 'active' });
    await whileWriting(t, [1, 12, 3, 4], 10);
    const shared = await act(t, '12', 'share');
    expect(shared).toMatchObject({ action: 'share', changed: true });
    await whileWriting(t, [1, 12, 3, 4], 10);
    const done = await Promise.all(writers.map((w) => w.stop()));
    // The writers waited for the switches; none failed.
    for (const w of done) expect(w.errors).toEqual([]);
    await expectSame(`${t.table}_ledger`, t.view);
    expect(await tracker(t, '2')).toEqual({
      in_pool: true,
      level_one: 'i_writers_customer_id_shared',
      state: 'active',
    });
    // No leaf over its limit, the pool's included.
    for (const leaf of [...(await leafCounts(db, t.configId)), ...(await poolLeaves(t))])
      expect(leaf.rows).toBeLessThanOrEqual(leaf.capacity);
  });

  it('gives the key buckets no fuller than the limit, its rows in them, and routes its new rows there', async () => {
    const t = await sharedTable('i_buckets');
    // Key 3's 30 rows are in every pool bucket but the last: 30 rows more of key 5 fill two buckets free of key 3.
    await write(t, `SELECT 5, 'late ' || g FROM generate_series(1, 30) g`);
    await act(t, '3', 'isolate');
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'partwise_not_key_' || left(md5('3'), 16)`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(await tracker(t, '3')).toEqual({ in_pool: false, level_one: 'i_buckets_customer_id_3', state: 'active' });
    // 30 rows of key 3: buckets 0 (25 rows) and 1 (5, current).
    await write(t, `SELECT 3, 'after ' || g FROM generate_series(1, 25) g`);
    const counts = (await leafCounts(db, t.configId)).filter((c) => c.key_value === '3');
    expect(counts.map((c) => [c.bucket_id, c.rows])).toEqual([
      [0, 25],
      [1, 25],
      [2, 5],
    ]);
    await expectSame(`(SELECT * FROM i_buckets_ledger WHERE customer_id = 3) l`, 'public.i_buckets_customer_id_3');
    expect(await db.query(`SELECT count(*)::int AS n FROM i_buckets_customer_id_shared WHERE customer_id = 3`)).toEqual(
      [{ n: 0 }],
    );
    await expectSame(`${t.table}_ledger`, t.view);
  });
});

describe('the lock of the switch on the routing view', () => {
  it('locks the view alone: waits for a routed insert under way, holds new ones until it commits, locks no other key', async () => {
    const t = await sharedTable('i_view_lock');
    const inserting = await app.connect();
    const switching = await db.connect();
    const later = await app.connect();
    try {
      // A routed insert of a new pooled key, its transaction open: the switch waits for it.
      await inserting.query('BEGIN');
      await inserting.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (12, 'under way')`);
      await switching.query('BEGIN');
      await switching.query(`SET LOCAL lock_timeout = '300ms'`);
      await expect(
        switching.query(`SELECT * FROM partwise.key_isolate_switch($1, '12')`, [t.configId]),
      ).rejects.toMatchObject({ code: '55P03' });
      await switching.query('ROLLBACK');
      await inserting.query('COMMIT');

      await switching.query('BEGIN');
      await switching.query(`SELECT * FROM partwise.key_isolate_switch($1, '12')`, [t.configId]);
      // The switch's transaction holds no lock on the partition of key 1 (LOCK
      // TABLE on the view would lock every partition below it).
      const { rows: own } = await switching.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'
            AND relation IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'i_view_lock_customer_id_1'::regclass
                             UNION ALL SELECT 'i_view_lock_customer_id_1'::regclass)`,
      );
      expect(own).toEqual([{ n: 0 }]);
      // A new routed insert of the key waits for the switch, then reads the key as it left it.
      const { rows: pids } = await later.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const waiting = later.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (12, 'after')`);
      for (;;) {
        // pg_locks, not pg_stat_activity: the owner does not see another role's wait events.
        const blocked = await db.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted`, [pids[0]!.pid]);
        if (blocked.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await switching.query('COMMIT');
      await waiting;
      expect(await db.query(`SELECT payload FROM i_view_lock_customer_id_12 ORDER BY payload`)).toEqual([
        { payload: 'after' },
        { payload: 'under way' },
      ]);
    } finally {
      await Promise.all([inserting.end(), switching.end(), later.end()]);
    }
  });
});

describe('the lock window of isolate', () => {
  /** The pool leaves PostgreSQL scans while the switch attaches the key's partition (its DEBUG1 messages). */
  async function switchScans(t: RoutedTable, key: string): Promise<{ verified: string[]; implied: string[] }> {
    const client = await db.connect();
    const verified: string[] = [];
    const implied: string[] = [];
    client.on('notice', (n) => {
      const v = /^verifying table "(.*_shared_.*)"$/.exec(n.message ?? '');
      if (v) verified.push(v[1]!);
      const i = /^updated partition constraint for default partition "(.*)" is implied by existing constraints$/.exec(
        n.message ?? '',
      );
      if (i) implied.push(i[1]!);
    });
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL client_min_messages = debug1');
      await client.query('SELECT * FROM partwise.key_isolate_switch($1, $2)', [t.configId, key]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    return { verified: verified.sort(), implied: implied.sort() };
  }

  it('with the closed buckets proved free of the key, PostgreSQL scans only the open bucket and the one that holds it', async () => {
    const t = await sharedTable('i_window');
    // Pool tickets 1-300 filled buckets 0 to 11; key 12's rows take tickets
    // 301-310 (bucket 12), key 5's 311-330 (buckets 12 and 13, the open one).
    await write(t, `SELECT 12, 'late ' || g FROM generate_series(1, 10) g`);
    await write(t, `SELECT 5, 'more ' || g FROM generate_series(1, 20) g`);
    const plan = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'i_window' }, '12', 'isolate');
    expect(plan.steps[1]).toMatch(/^prove each of the 13 closed pool buckets that holds no row of key 12 free of it/);
    // The engine's preparation (then the switch, observed below): each closed
    // bucket without a row of key 12 gets CHECK (customer_id <> 12), validated.
    const closed = await db.query<{ bucket_id: number }>(
      `SELECT bucket_id FROM partwise.pool_bucket b JOIN partwise.key_pool p USING (config_id)
        WHERE b.config_id = $1 AND b.bucket_id < p.current_bucket_id ORDER BY 1`,
      [t.configId],
    );
    const proved = [];
    for (const { bucket_id } of closed) {
      const [row] = await db.query<{ added: boolean }>('SELECT partwise.pool_bucket_exclude_key($1, $2, $3) AS added', [
        t.configId,
        bucket_id,
        '12',
      ]);
      if (!row!.added) continue;
      await db.query('SELECT partwise.pool_bucket_validate_exclusion($1, $2, $3)', [t.configId, bucket_id, '12']);
      proved.push(bucket_id);
    }
    expect(proved).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const leaves = (await poolLeaves(t)).map((l) => l.leaf);
    expect(leaves).toHaveLength(14);
    const scans = await switchScans(t, '12');
    // Bucket 12 (closed, held key 12) and bucket 13 (open): read; the 12 others proved free of key 12.
    expect(scans.verified).toEqual([leaves[12], leaves[13]]);
    expect(scans.implied).toEqual(leaves.slice(0, 12).sort());
    await expectSame(`${t.table}_ledger`, t.view);
    // The action run again finds the key isolated and drops the constraints, which the planner
    // would otherwise weigh for every query on the pool.
    expect(await act(t, '12', 'isolate')).toMatchObject({ changed: false });
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE conname LIKE 'partwise_not_key_%'`),
    ).toEqual([{ n: 0 }]);
  });

  it('the action proves the closed buckets without a row of the key, and its switch reads only the others', async () => {
    const t = await sharedTable('i_action');
    await write(t, `SELECT 12, 'late ' || g FROM generate_series(1, 10) g`);
    await write(t, `SELECT 5, 'more ' || g FROM generate_series(1, 20) g`);
    const result = await act(t, '12', 'isolate');
    expect(result.message).toMatch(/, 2 pool leaves read \(12 closed buckets proved free of the key, not read\)\.$/);
    const [journal] = await db.query<{ detail: Record<string, unknown> }>(
      `SELECT detail FROM partwise.key_action WHERE table_name = 'i_action'`,
    );
    expect(journal!.detail).toMatchObject({
      closedBuckets: 13,
      buckets: 1,
      poolLeavesRead: 2,
      bucketsProved: 12,
      rows: 10,
    });
    await expectSame(`${t.table}_ledger`, t.view);
  });

  it('without the proofs (the naive switch), PostgreSQL scans every pool leaf', async () => {
    const t = await sharedTable('i_naive');
    const scans = await switchScans(t, '5');
    expect(scans.verified).toEqual((await poolLeaves(t)).map((l) => l.leaf).sort());
    expect(scans.implied).toEqual([]);
  });
});

describe('detach and drop of a pooled key', () => {
  it('isolate it first, in one action journaled step by step, then detach or drop its new partition', async () => {
    const t = await sharedTable('i_offboard');
    const plan = await planKeyActionFor(db.pool, 'partwise', { schema: 'public', name: 'i_offboard' }, '6', 'detach');
    expect(plan.steps[0]).toMatch(/^isolate: wait for the inserts under way/);
    expect(plan.steps.at(-1)).toMatch(/^mark key 6 detached/);
    const detached = await act(t, '6', 'detach');
    expect(detached).toMatchObject({ state: 'detached', changed: true });
    expect(detached.message).toMatch(
      /^Key 6 of public\.i_offboard detached \(isolated from the pool first\): i_offboard_customer_id_6 is a standalone table/,
    );
    await expectSame(`(SELECT * FROM i_offboard_ledger WHERE customer_id = 6) l`, 'public.i_offboard_customer_id_6');
    await expectSame(`(SELECT * FROM i_offboard_ledger WHERE customer_id <> 6) l`, t.view);
    await expect(db.query(`INSERT INTO ${t.view} (customer_id) VALUES (6)`)).rejects.toThrow(
      /key 6 of public\.i_offboard is detached/,
    );
    const dropped = await act(t, '7', 'drop');
    expect(dropped).toMatchObject({ state: 'retired', changed: true, rows: 30 });
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 7`)).toEqual([{ n: 0 }]);
    await expectSame(`(SELECT * FROM i_offboard_ledger WHERE customer_id NOT IN (6, 7)) l`, t.view);
    const steps = await db.query<{ action: string; step: string; status: string }>(
      `SELECT action, step, status FROM partwise.key_action WHERE table_name = 'i_offboard' ORDER BY action_id`,
    );
    expect(steps).toEqual([
      { action: 'detach', step: 'detached', status: 'succeeded' },
      { action: 'drop', step: 'detached', status: 'succeeded' },
    ]);
  });
});

describe('bad input changes nothing', () => {
  it('isolating a key with a partition of its own, sharing a pooled key: nothing to do', async () => {
    const t = await sharedTable('i_noop');
    const own = await act(t, '1', 'isolate');
    expect(own).toMatchObject({
      changed: false,
      message: 'Key 1 of public.i_noop has a partition of its own already; nothing done.',
    });
    const pooled = await act(t, '4', 'share');
    expect(pooled).toMatchObject({
      changed: false,
      message: 'Key 4 of public.i_noop is in the pool already; nothing done.',
    });
    expect(await tracker(t, '1')).toMatchObject({ in_pool: false });
    expect(await tracker(t, '4')).toMatchObject({ in_pool: true });
    await expectSame(`${t.table}_ledger`, t.view);
  });

  it('refuses an unknown key, a table without a pool, and a compaction of a pooled key (naming isolate)', async () => {
    const t = await sharedTable('i_bad');
    await expect(act(t, '99', 'isolate')).rejects.toThrow('public.i_bad has no key 99');
    const plain = await createRoutedTable(db, { table: 'i_plain', bucketLimit: 10 });
    await db.query(`INSERT INTO ${plain.view} (customer_id) VALUES (1)`);
    await expect(act(plain, '1', 'share')).rejects.toThrow(
      'public.i_plain has no pool of small keys (its keys each have a partition); share moves a key into the pool',
    );
    await expect(act(plain, '1', 'isolate')).resolves.toMatchObject({ changed: false });
    await expect(db.query('SELECT partwise.key_isolate_switch($1, $2)', [plain.configId, '1'])).rejects.toThrow(
      /public\.i_plain has no pool of small keys/,
    );
    // Key 5's 30 rows are in 12 pool buckets: compacting the pool would move every small key's rows.
    await expect(act(t, '5', 'compact')).rejects.toMatchObject({
      kind: 'conflict',
      message:
        "key 5 of public.i_bad shares the pool i_bad_customer_id_shared with the table's other small keys: its 30 rows sit in 12 pool buckets that other keys fill too, so it has no bucket of its own to merge, and compacting the pool would move every small key's rows",
      hint: "To pack this key's rows into buckets of its own, give it a partition: partwise key isolate --table public.i_bad --value 5 (isolation fills each new bucket to the limit).",
    });
    expect(await tracker(t, '5')).toMatchObject({ in_pool: true, state: 'active' });
    // Each was refused by its plan, before the journal recorded an action.
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE table_name = 'i_bad'`)).toEqual([
      { n: 0 },
    ]);
    await expectSame(`${t.table}_ledger`, t.view);
  });
});

describe('move, limit and attach of a pooled key', () => {
  /** Each relation of a key's partition (partitioned or leaf, with their indexes) and its tablespace. */
  async function placesOf(levelOne: string): Promise<Array<{ name: string; spc: string }>> {
    return db.query(
      `WITH tree AS (SELECT relid FROM pg_partition_tree($1::regclass))
       SELECT c.relname AS name, coalesce(ts.spcname, 'default') AS spc FROM pg_class c
         LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
        WHERE c.oid IN (SELECT relid FROM tree)
           OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT relid FROM tree))
        ORDER BY 1`,
      [levelOne],
    );
  }

  it('move plans the isolation, then the move of the partition it creates, and runs both as one action under concurrent writes', async () => {
    const t = await sharedTable('i_move');
    const planned = await plan(t, '6', 'move', { tablespace: cold });
    // The isolation's steps, then the move of the partition it makes: 30 rows in 2 buckets of 25.
    expect(planned.steps[0]).toMatch(/^isolate: wait for the inserts under way/);
    expect(planned.steps.at(-2)).toBe(
      `set the tablespace of <the new partition of key 6> and its partitioned indexes to ${cold}: buckets opened from now on are created there`,
    );
    expect(planned.steps.at(-1)).toBe(
      `move 2 leaves of key 6 and their indexes to ${cold} (${formatBytes(planned.bytes)}), one leaf per transaction`,
    );
    expect(planned.ddl.slice(-6)).toEqual([
      `ALTER TABLE <the new partition of key 6> SET TABLESPACE "${cold}"`,
      `ALTER INDEX <its index of i_move_partitioned_pkey> SET TABLESPACE "${cold}"`,
      `ALTER TABLE <its leaf of bucket 0> SET TABLESPACE "${cold}"`,
      `ALTER INDEX <its leaf 0's index of i_move_partitioned_pkey> SET TABLESPACE "${cold}"`,
      `ALTER TABLE <its leaf of bucket 1> SET TABLESPACE "${cold}"`,
      `ALTER INDEX <its leaf 1's index of i_move_partitioned_pkey> SET TABLESPACE "${cold}"`,
    ]);
    expect(planned.locks.map((l) => l.relation)).toEqual([
      'each closed pool leaf free of the key, in turn',
      '"public"."i_move" (the routing view)',
      '"public"."i_move_partitioned"',
      'the pool of small keys and each of its leaves',
      '<the new partition of key 6>',
      'each leaf in turn, with its indexes',
    ]);
    expect(planned.tablespaces).toContain(cold);
    expect(planned.notes[0]).toMatch(
      /^Key 6 shares the pool of small keys: it is isolated first .*, then moved, in one action/,
    );
    const writers = await Promise.all([6, 6, 3, 1].map((k) => startKeyWriter(() => app.connect(), t, k)));
    await whileWriting(t, [6, 3, 1], 5);
    const moved = await act(t, '6', 'move', { tablespace: cold });
    expect(moved).toMatchObject({ action: 'move', changed: true, state: 'active' });
    expect(moved.message).toMatch(
      new RegExp(
        `^Key 6 of public\\.i_move moved to tablespace ${cold} \\(isolated from the pool first\\): \\d+ leaves`,
      ),
    );
    await whileWriting(t, [6, 3, 1], 5);
    for (const w of await Promise.all(writers.map((w) => w.stop()))) expect(w.errors).toEqual([]);
    expect(await tracker(t, '6')).toEqual({ in_pool: false, level_one: 'i_move_customer_id_6', state: 'active' });
    // Every relation of the key's partition is there, buckets opened while the writers ran included.
    const places = await placesOf('i_move_customer_id_6');
    expect(places.length).toBeGreaterThanOrEqual(6);
    expect(places.filter((p) => p.spc !== cold)).toEqual([]);
    await expectSame(`${t.table}_ledger`, t.view);
    const journal = await db.query<{ action: string; status: string; detail: Record<string, unknown> }>(
      `SELECT action, status, detail FROM partwise.key_action WHERE table_name = 'i_move'`,
    );
    expect(journal).toEqual([
      {
        action: 'move',
        status: 'succeeded',
        detail: expect.objectContaining({ isolatedFirst: true, tablespace: cold, closedBuckets: expect.any(Number) }),
      },
    ]);
    for (const leaf of [...(await leafCounts(db, t.configId)), ...(await poolLeaves(t))])
      expect(leaf.rows).toBeLessThanOrEqual(leaf.capacity);
  });

  it('move to where the pool leaves holding the key are already: nothing to do, the key stays pooled', async () => {
    const t = await sharedTable('i_move_noop');
    const planned = await plan(t, '4', 'move', { tablespace: 'pg_default' });
    expect(planned.steps).toEqual([]);
    expect(planned.notes).toEqual([
      'key 4 is in tablespace pg_default already: the pool leaves that hold its rows, and their indexes, are there; it stays in the pool',
    ]);
    expect(await act(t, '4', 'move', { tablespace: 'pg_default' })).toMatchObject({
      changed: false,
      message: 'Key 4 of public.i_move_noop is in tablespace pg_default already; nothing done.',
    });
    expect(await tracker(t, '4')).toMatchObject({ in_pool: true });
  });

  it('move when the partitioned table is in the tablespace: isolation creates the partition there, the plan says what is left', async () => {
    const t = await sharedTable('i_move_there');
    await db.query(`ALTER TABLE ${t.root} SET TABLESPACE "${cold}"`);
    const planned = await plan(t, '8', 'move', { tablespace: cold });
    expect(planned.steps[0]).toMatch(/^isolate: /);
    // The indexes go where the partitioned index is (the database's default): they are what the move rewrites.
    expect(planned.ddl.filter((d) => !d.includes('partwise_not_key_') && d.startsWith('ALTER '))).toEqual([
      `ALTER INDEX <its index of i_move_there_partitioned_pkey> SET TABLESPACE "${cold}"`,
      `ALTER INDEX <its leaf 0's index of i_move_there_partitioned_pkey> SET TABLESPACE "${cold}"`,
      `ALTER INDEX <its leaf 1's index of i_move_there_partitioned_pkey> SET TABLESPACE "${cold}"`,
    ]);
    const moved = await act(t, '8', 'move', { tablespace: cold });
    expect(moved).toMatchObject({ changed: true });
    expect((await placesOf('i_move_there_customer_id_8')).filter((p) => p.spc !== cold)).toEqual([]);
    // With the partitioned index there too, isolation alone puts the key there.
    await db.query(`ALTER INDEX i_move_there_partitioned_pkey SET TABLESPACE "${cold}"`);
    const alone = await plan(t, '9', 'move', { tablespace: cold });
    expect(alone.steps.every((step) => step.startsWith('isolate: '))).toBe(true);
    expect(alone.notes.at(-1)).toBe(
      `the partition isolation creates is in tablespace ${cold} already (the partitioned table's), its indexes too: nothing to rewrite after it`,
    );
    expect(await act(t, '9', 'move', { tablespace: cold })).toMatchObject({ changed: true });
    expect(await tracker(t, '9')).toMatchObject({ in_pool: false });
    expect((await placesOf('i_move_there_customer_id_9')).filter((p) => p.spc !== cold)).toEqual([]);
    await expectSame(`${t.table}_ledger`, t.view);
  });

  it('limit isolates the key, then gives it its bucket limit for the buckets it opens, under concurrent writes', async () => {
    const t = await sharedTable('i_limit');
    const planned = await plan(t, '7', 'limit', { bucketLimit: 10 });
    expect(planned.steps[0]).toMatch(/^isolate: wait for the inserts under way/);
    expect(planned.steps.at(-1)).toBe(
      'key 7 gets a bucket limit of 10 for buckets opened from now on; its existing buckets keep their capacity',
    );
    const writers = await Promise.all([7, 3].map((k) => startKeyWriter(() => app.connect(), t, k)));
    await whileWriting(t, [7, 3], 5);
    const limited = await act(t, '7', 'limit', { bucketLimit: 10 });
    expect(limited.message).toBe(
      'Key 7 of public.i_limit has a bucket limit of 10 for buckets opened from now on (isolated from the pool first).',
    );
    await whileWriting(t, [7, 3], 5);
    for (const w of await Promise.all(writers.map((w) => w.stop()))) expect(w.errors).toEqual([]);
    expect(await tracker(t, '7')).toMatchObject({ in_pool: false, level_one: 'i_limit_customer_id_7' });
    const [row] = await db.query<{ bucket_limit: string }>(
      `SELECT bucket_limit FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '7'`,
      [t.configId],
    );
    expect(row!.bucket_limit).toBe('10');
    // Rows enough to open the key's next buckets: those take the key's limit.
    await write(t, `SELECT 7, 'after ' || g FROM generate_series(1, 60) g`);
    const buckets = (await leafCounts(db, t.configId)).filter((c) => c.key_value === '7');
    const opened = buckets.filter((b) => b.capacity === 10);
    expect(opened.length).toBeGreaterThanOrEqual(1);
    for (const b of buckets) expect(b.rows).toBeLessThanOrEqual(b.capacity);
    await expectSame(`${t.table}_ledger`, t.view);
  });

  it('attach of a pooled key: it is in the tree, nothing done; nor for a limit of none when it has no limit', async () => {
    const t = await sharedTable('i_attach');
    expect((await plan(t, '5', 'limit', { bucketLimit: null })).notes).toEqual([
      "key 5 uses the table's bucket limit already; it stays in the pool",
    ]);
    expect(await act(t, '5', 'limit', { bucketLimit: null })).toMatchObject({
      changed: false,
      message: "Key 5 of public.i_attach uses the table's bucket limit already; nothing done.",
    });
    expect((await plan(t, '5', 'attach')).notes).toEqual(['key 5 is already attached']);
    expect(await act(t, '5', 'attach')).toMatchObject({
      changed: false,
      message: 'Key 5 of public.i_attach is already active; nothing done.',
    });
    expect(await tracker(t, '5')).toMatchObject({ in_pool: true, state: 'active' });
  });
});

describe('isolate without the TEMP privilege', () => {
  it('is refused before anything changes, naming the privilege; isolate, share and a detach that isolates first', async () => {
    const t = await sharedTable('i_temp');
    await db.query(`SELECT partwise.key_isolate_switch($1, '3')`, [t.configId]);
    await db.admin.query(`REVOKE TEMP ON DATABASE ${db.name} FROM PUBLIC, ${db.owner}`);
    try {
      for (const [key, action] of [
        ['5', 'isolate'],
        ['3', 'share'],
        ['6', 'detach'],
        ['7', 'move'],
      ] as const) {
        await expect(act(t, key, action, action === 'move' ? { tablespace: cold } : {}), action).rejects.toMatchObject({
          kind: 'privilege',
          message: expect.stringMatching(
            new RegExp(`^role ${db.owner} has no TEMP privilege on database ${db.name}: ${action} .*temporary table`),
          ),
          hint: `GRANT TEMP ON DATABASE "${db.name}" TO "${db.owner}";`,
        });
      }
    } finally {
      await db.admin.query(`GRANT TEMP ON DATABASE ${db.name} TO PUBLIC, ${db.owner}`);
    }
    expect(await tracker(t, '5')).toMatchObject({ in_pool: true, state: 'active' });
    expect(await tracker(t, '6')).toMatchObject({ in_pool: true, state: 'active' });
    expect(await tracker(t, '3')).toMatchObject({ in_pool: false, state: 'active' });
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE conname LIKE 'partwise_not_key_%'`),
    ).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE table_name = 'i_temp'`)).toEqual([
      { n: 0 },
    ]);
    await expectSame(`${t.table}_ledger`, t.view);
    // With TEMP again, it works.
    expect(await act(t, '5', 'isolate')).toMatchObject({ changed: true });
  });
});
