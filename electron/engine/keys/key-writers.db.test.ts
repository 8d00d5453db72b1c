// Key actions while the application writes to the same key and to others.
// Each write goes into the routed table and into a ledger in one transaction,
// so the ledger holds exactly what the application saw committed: after the
// action, every committed row of the key is in its detached table (or back in
// the tree after attach), every row of the other keys is in the tree, and the
// writers of the other keys never failed.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../testing/database.js';
import { expectSameRows } from '../../testing/same-rows.js';
import { startKeyWriter } from '../../testing/key-writer.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../../testing/fixtures.js';
import { runKeyAction } from './run.js';

const db = useTestDatabase('key_writers');

async function table(name: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table: name, bucketLimit: 25 });
  await db.query(`CREATE TABLE ${name}_ledger (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await db.query(
    `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) SELECT 1 + g % 3, 'seed ' || g FROM generate_series(1, 300) g
                RETURNING id, customer_id, payload)
     INSERT INTO ${name}_ledger SELECT * FROM r`,
  );
  return t;
}

/** Waits until each writer has committed at least `n` rows since `from`. */
async function whileWriting(t: RoutedTable, keys: number[], n: number): Promise<void> {
  const start = await db.query<{ key: number; c: number }>(
    `SELECT customer_id AS key, count(*)::int AS c FROM ${t.table}_ledger GROUP BY 1`,
  );
  const base = new Map(start.map((r) => [r.key, r.c]));
  for (;;) {
    const now = await db.query<{ key: number; c: number }>(
      `SELECT customer_id AS key, count(*)::int AS c FROM ${t.table}_ledger GROUP BY 1`,
    );
    if (keys.every((k) => (now.find((r) => r.key === k)?.c ?? 0) >= (base.get(k) ?? 0) + n)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectSame(left: string, right: string): Promise<void> {
  return expectSameRows(db, left, right, 'id, customer_id, payload');
}

const REFUSED = /partwise: key 1 of public\.\w+ is (detached|being dropped)|no partition of relation .* found for row/;

beforeAll(async () => {
  await installPartwise(db);
});

describe('key actions under concurrent writes', () => {
  it('detaches and attaches a key while the application writes to it and to other keys, losing nothing', async () => {
    const t = await table('w_detach');
    const writers = await Promise.all([1, 1, 2, 3].map((k) => startKeyWriter(() => db.connect(), t, k)));
    await whileWriting(t, [1, 2, 3], 20);
    await runKeyAction(
      db.pool,
      { schema: 'public', name: 'w_detach' },
      '1',
      'detach',
      {},
      { installSchema: 'partwise' },
    );
    await whileWriting(t, [2, 3], 20);
    const detached = await Promise.all(writers.map((w) => w.stop()));

    // Key 1's writers were refused from the detach on, with the error naming table and key.
    for (const w of detached.slice(0, 2)) {
      expect(w.errors.length).toBeGreaterThan(0);
      for (const e of w.errors) expect(e).toMatch(REFUSED);
    }
    for (const w of detached.slice(2)) expect(w.errors).toEqual([]);
    await expectSame(`(SELECT * FROM w_detach_ledger WHERE customer_id = 1) l`, 'public.w_detach_customer_id_1');
    await expectSame(`(SELECT * FROM w_detach_ledger WHERE customer_id <> 1) l`, t.view);

    const again = await Promise.all([1, 2].map((k) => startKeyWriter(() => db.connect(), t, k)));
    await runKeyAction(
      db.pool,
      { schema: 'public', name: 'w_detach' },
      '1',
      'attach',
      {},
      { installSchema: 'partwise' },
    );
    await whileWriting(t, [1, 2], 20);
    const attached = await Promise.all(again.map((w) => w.stop()));
    for (const e of attached[0]!.errors)
      expect(e).toMatch(/partwise: key 1 of public\.w_detach is (detached|being attached)/);
    expect(attached[1]!.errors).toEqual([]);
    await expectSame('w_detach_ledger', t.view);
  });

  it('drops a key while the application writes to it and to other keys; the other keys lose nothing', async () => {
    const t = await table('w_drop');
    const writers = await Promise.all([1, 2, 3].map((k) => startKeyWriter(() => db.connect(), t, k)));
    await whileWriting(t, [1, 2, 3], 20);
    await runKeyAction(db.pool, { schema: 'public', name: 'w_drop' }, '1', 'drop', {}, { installSchema: 'partwise' });
    await whileWriting(t, [2, 3], 20);
    const done = await Promise.all(writers.map((w) => w.stop()));
    expect(done[0]!.errors.length).toBeGreaterThan(0);
    for (const e of done[0]!.errors)
      expect(e).toMatch(
        /partwise: key 1 of public\.w_drop (is detached|is being dropped|was dropped)|no partition of relation/,
      );
    expect(done[1]!.errors).toEqual([]);
    expect(done[2]!.errors).toEqual([]);
    await expectSame(`(SELECT * FROM w_drop_ledger WHERE customer_id <> 1) l`, t.view);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 1`)).toEqual([{ n: 0 }]);
  });

  it('waits for a transaction that wrote the key and has not committed: its row goes with the key', async () => {
    const t = await table('w_inflight');
    // Key 1 has filled 4 buckets of 25: this row opens the fifth, so that the
    // transaction below takes a ticket without locking the key's tracker row
    // (which opening a bucket does, and which the detach would wait for first).
    await db.query(
      `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'opens bucket 4') RETURNING id, customer_id, payload)
       INSERT INTO w_inflight_ledger SELECT * FROM r`,
    );
    const app = await db.connect();
    try {
      await app.query('BEGIN');
      const { rows } = await app.query<{ id: string }>(
        `INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'in flight') RETURNING id`,
      );
      const detach = runKeyAction(
        db.pool,
        { schema: 'public', name: 'w_inflight' },
        '1',
        'detach',
        {},
        {
          installSchema: 'partwise',
        },
      );
      // The detach waits for the open transaction (on a lock before 14, for its end with CONCURRENTLY).
      for (;;) {
        const waiting = await db.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
              AND query LIKE '%DETACH PARTITION%'`,
        );
        if (waiting.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await app.query(`INSERT INTO w_inflight_ledger (id, customer_id, payload) VALUES ($1, 1, 'in flight')`, [
        rows[0]!.id,
      ]);
      await app.query('COMMIT');
      await detach;
    } finally {
      await app.end();
    }
    await expectSame(`(SELECT * FROM w_inflight_ledger WHERE customer_id = 1) l`, 'public.w_inflight_customer_id_1');
    await expectSame(`(SELECT * FROM w_inflight_ledger WHERE customer_id <> 1) l`, t.view);
  });
});
