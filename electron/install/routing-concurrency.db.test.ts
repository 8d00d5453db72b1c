import { describe, expect, it, beforeAll } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, leafCounts } from '../testing/fixtures.js';

const db = useTestDatabase('concurrency');

beforeAll(async () => {
  await installPartwise(db);
});

async function withClients<T>(count: number, run: (clients: pg.Client[]) => Promise<T>): Promise<T> {
  const clients = await Promise.all(Array.from({ length: count }, () => db.connect()));
  try {
    return await run(clients);
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/** Resolves with 'waiting' if the promise has not settled after `ms`. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'waiting'> {
  return Promise.race([promise, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), ms))]);
}

/**
 * Runs `work` on a session whose partition DDL on the key's level-1 partition
 * gives up at once: another session holds the lock ATTACH PARTITION waits for.
 */
async function withAttachBlocked(configId: number, work: (inserter: pg.Client) => Promise<void>): Promise<void> {
  const [tracker] = await db.query<{ level_one: string }>(
    'SELECT level_one_partition::text AS level_one FROM partwise.partition_tracker WHERE config_id = $1',
    [configId],
  );
  await withClients(2, async ([holder, inserter]) => {
    await holder!.query('BEGIN');
    await holder!.query(`LOCK TABLE ${tracker!.level_one} IN SHARE UPDATE EXCLUSIVE MODE`);
    await inserter!.query(`SET partwise.lock_timeout = '50ms'`);
    await inserter!.query(`SET partwise.lock_retries = '1'`);
    await work(inserter!);
    await holder!.query('COMMIT');
  });
}

describe('routing under concurrency', () => {
  it('never lets a leaf exceed the limit with many sessions writing one hot key and new keys at once', async () => {
    const t = await createRoutedTable(db, { table: 'hot', bucketLimit: 25 });
    const writers = 8;
    const rowsPerWriter = 120;
    await withClients(writers, async (clients) => {
      await Promise.all(
        clients.map(async (client, writer) => {
          for (let i = 0; i < rowsPerWriter; i++) {
            // Most rows go to the hot key; every writer also creates keys of its own and
            // shares a few new keys with the others, in small transactions.
            const key = i % 10 === 0 ? 1000 + writer : i % 7 === 0 ? 2000 + (i % 3) : 1;
            if (i % 15 === 0) {
              await client.query('BEGIN');
              await client.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, $2), ($1, $2)`, [
                key,
                `w${writer}`,
              ]);
              await client.query(i % 30 === 0 ? 'ROLLBACK' : 'COMMIT');
            } else {
              await client.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, $2)`, [key, `w${writer}`]);
            }
          }
        }),
      );
    });
    const counts = await leafCounts(db, t.configId);
    for (const leaf of counts) expect(leaf.rows, leaf.leaf).toBeLessThanOrEqual(25);
    const total = counts.reduce((sum, leaf) => sum + leaf.rows, 0);
    const [{ n }] = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.root}`)) as [{ n: number }];
    expect(total).toBe(n);
    // Every committed row is there: 8 writers x 120 statements, +1 row for each committed
    // two-row transaction, -2 for each rolled-back one.
    const perWriter = rowsPerWriter - 8 + 4 * 2; // 8 transactions: 4 committed (2 rows), 4 rolled back
    expect(n).toBe(writers * perWriter);
    // Every key's partitions exist once, and the tracker's live ticket count covers its rows.
    const status = await db.query<{ key_value: string; rows_assigned: string }>(
      'SELECT key_value, rows_assigned FROM partwise.tracker_status WHERE config_id = $1',
      [t.configId],
    );
    const perKey = await db.query<{ key: string; n: number }>(
      `SELECT customer_id::text AS key, count(*)::int AS n FROM ${t.root} GROUP BY 1`,
    );
    expect(status.map((s) => s.key_value).sort()).toEqual(perKey.map((k) => k.key).sort());
    for (const key of perKey) {
      const assigned = Number(status.find((s) => s.key_value === key.key)!.rows_assigned);
      expect(assigned).toBeGreaterThanOrEqual(key.n);
    }
  });

  it("does not make writers of one key wait for each other's open transactions", async () => {
    const t = await createRoutedTable(db, { table: 'nowait', bucketLimit: 1000 });
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`); // key and ticket counter exist
    await withClients(2, async ([a, b]) => {
      await a!.query('BEGIN');
      await a!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
      // A holds its transaction open; B writes the same key and must not wait for A.
      const result = await settledWithin(b!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`), 2000);
      expect(result).not.toBe('waiting');
      await a!.query('COMMIT');
    });
  });

  it("creates a new key's partitions without blocking readers and writers of other keys", async () => {
    const t = await createRoutedTable(db, { table: 'ddl', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
    await withClients(3, async ([creator, writer, reader]) => {
      await creator!.query('BEGIN');
      await creator!.query(`INSERT INTO ${t.view} (customer_id) VALUES (2)`); // attaches a new level-1 partition
      expect(await settledWithin(writer!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`), 2000)).not.toBe(
        'waiting',
      );
      expect(await settledWithin(reader!.query(`SELECT count(*) FROM ${t.view}`), 2000)).not.toBe('waiting');
      expect(await settledWithin(reader!.query(`SELECT count(*) FROM ${t.view} WHERE customer_id = 1`), 2000)).not.toBe(
        'waiting',
      );
      await creator!.query('COMMIT');
    });
  });

  it('gives up on a partition it cannot attach within the lock timeout, with a clear error, and retries', async () => {
    const t = await createRoutedTable(db, { table: 'locked', bucketLimit: 100 });
    await withClients(2, async ([holder, inserter]) => {
      // A long transaction holding a lock that conflicts with ATTACH PARTITION.
      await holder!.query('BEGIN');
      await holder!.query(`LOCK TABLE ${t.root} IN SHARE UPDATE EXCLUSIVE MODE`);
      await inserter!.query(`SET partwise.lock_timeout = '50ms'`);
      await inserter!.query(`SET partwise.lock_retries = '3'`);
      const started = Date.now();
      await expect(inserter!.query(`INSERT INTO ${t.view} (customer_id) VALUES (9)`)).rejects.toMatchObject({
        code: '55P03',
        message: expect.stringMatching(
          /^partwise: could not create partition locked_customer_id_9 of public\.locked_partitioned: another transaction held a conflicting lock on it through 3 attempts$/,
        ),
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(150); // three waits of 50 ms, plus backoff
      await holder!.query('ROLLBACK');
      // The lock is gone: the same insert now succeeds, and left nothing half-made before.
      await inserter!.query(`INSERT INTO ${t.view} (customer_id) VALUES (9)`);
      expect(await db.query(`SELECT customer_id FROM ${t.view}`)).toEqual([{ customer_id: 9 }]);
      // The session's own lock_timeout is untouched by the routing.
      expect((await inserter!.query('SHOW lock_timeout')).rows[0]).toEqual({ lock_timeout: '0' });
    });
  });

  it('lets two sessions racing to create the same key both succeed', async () => {
    const t = await createRoutedTable(db, { table: 'race', bucketLimit: 100 });
    await withClients(6, async (clients) => {
      await Promise.all(clients.map((c) => c.query('BEGIN')));
      const inserts = clients.map((c, i) =>
        c.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (77, $1)`, [`s${i}`]),
      );
      // The first creator holds the key's lock until it commits; commit everyone as their insert returns.
      await Promise.all(inserts.map((insert, i) => insert.then(() => clients[i]!.query('COMMIT'))));
    });
    expect(await db.query(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = 77`)).toEqual([{ n: 6 }]);
    expect(
      await db.query('SELECT count(*)::int AS n FROM partwise.partition_tracker WHERE config_id = $1', [t.configId]),
    ).toEqual([{ n: 1 }]);
  });

  it('lets sessions cross a bucket boundary together and fills each bucket exactly', async () => {
    const t = await createRoutedTable(db, { table: 'boundary', bucketLimit: 10 });
    await withClients(8, async (clients) => {
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < 25; i++) await client.query(`INSERT INTO ${t.view} (customer_id) VALUES (5)`);
        }),
      );
    });
    expect((await leafCounts(db, t.configId)).map((c) => c.rows)).toEqual([
      10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
    ]);
  });

  it('opens the next bucket ahead of need: the row that crosses into it waits for no DDL', async () => {
    const t = await createRoutedTable(db, { table: 'ahead', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 3 FROM generate_series(1, 88)`);
    const buckets = (): Promise<{ bucket_id: number }[]> =>
      db.query('SELECT bucket_id FROM partwise.partition_bucket WHERE config_id = $1 ORDER BY 1', [t.configId]);
    expect(await buckets()).toEqual([{ bucket_id: 0 }]);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 3 FROM generate_series(1, 2)`); // 90 rows: opens the next
    expect(await buckets()).toEqual([{ bucket_id: 0 }, { bucket_id: 1 }]);
    const [tracker] = await db.query<{ current_bucket_id: number }>(
      'SELECT current_bucket_id FROM partwise.partition_tracker WHERE config_id = $1',
      [t.configId],
    );
    expect(tracker!.current_bucket_id).toBe(0);
    await withAttachBlocked(t.configId, async (inserter) => {
      await inserter.query(`INSERT INTO ${t.view} (customer_id) SELECT 3 FROM generate_series(1, 11)`);
    });
    expect((await leafCounts(db, t.configId)).map((c) => [c.bucket_id, c.rows])).toEqual([
      [0, 100],
      [1, 1],
    ]);
  });

  it('does not fail an insert when the bucket ahead cannot be created; the row that needs it creates it', async () => {
    const t = await createRoutedTable(db, { table: 'ahead_locked', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 4 FROM generate_series(1, 89)`);
    await withAttachBlocked(t.configId, async (inserter) => {
      // The 90th row would open the next bucket ahead; it goes in all the same.
      await inserter.query(`INSERT INTO ${t.view} (customer_id) VALUES (4)`);
      await inserter.query(`INSERT INTO ${t.view} (customer_id) SELECT 4 FROM generate_series(1, 10)`);
    });
    expect(
      await db.query('SELECT bucket_id FROM partwise.partition_bucket WHERE config_id = $1 ORDER BY 1', [t.configId]),
    ).toEqual([{ bucket_id: 0 }]);
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (4)`);
    expect((await leafCounts(db, t.configId)).map((c) => [c.bucket_id, c.rows])).toEqual([
      [0, 100],
      [1, 1],
    ]);
  });

  it('opens ahead only from a statement that is its own transaction, whose locks end with it', async () => {
    const t = await createRoutedTable(db, { table: 'ahead_txn', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 6 FROM generate_series(1, 89)`);
    await withClients(2, async ([long, other]) => {
      await long!.query('BEGIN');
      await long!.query(`INSERT INTO ${t.view} (customer_id) VALUES (6)`); // the 90th row, in a longer transaction
      // Another session crosses into the next bucket while that transaction is open: it must not wait for it.
      const crossing = other!.query(`INSERT INTO ${t.view} (customer_id) SELECT 6 FROM generate_series(1, 11)`);
      expect(await settledWithin(crossing, 5000)).not.toBe('waiting');
      await long!.query('COMMIT');
    });
    expect((await leafCounts(db, t.configId)).map((c) => [c.bucket_id, c.rows])).toEqual([
      [0, 100],
      [1, 1],
    ]);
  });

  it('gives a bucket made ahead the limit in force when it opens', async () => {
    const t = await createRoutedTable(db, { table: 'ahead_limit', bucketLimit: 100 });
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 7 FROM generate_series(1, 90)`);
    await db.query('SELECT partwise.set_bucket_limit($1, 150)', [t.configId]);
    await db.query(`INSERT INTO ${t.view} (customer_id) SELECT 7 FROM generate_series(1, 200)`);
    expect((await leafCounts(db, t.configId)).map((c) => [c.bucket_id, c.capacity, c.rows])).toEqual([
      [0, 100, 100],
      [1, 150, 150],
      [2, 150, 40],
    ]);
  });

  it('routes to partitions another session attached after this transaction began', async () => {
    // A backend refreshes its cached partition lists only when it takes a new
    // lock; a transaction that already wrote to the table must still find
    // buckets and keys created since by others.
    const t = await createRoutedTable(db, { table: 'stale', bucketLimit: 2 });
    await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`);
    await withClients(2, async ([long, other]) => {
      await long!.query('BEGIN');
      await long!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1)`); // fills bucket 0, locks the tree
      await other!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1), (2)`); // opens bucket 1 and key 2
      await long!.query(`INSERT INTO ${t.view} (customer_id) VALUES (1), (2)`);
      await long!.query('COMMIT');
    });
    expect((await leafCounts(db, t.configId)).map((c) => [c.key_value, c.bucket_id, c.rows])).toEqual([
      ['1', 0, 2],
      ['1', 1, 2],
      ['2', 0, 2],
    ]);
  });
});
