// Keys that the application created during the copy get their partitions in
// the catch-up, and creating a key's level-1 partition takes SHARE UPDATE
// EXCLUSIVE on the partitioned table until commit (ATTACH PARTITION), a lock
// that conflicts with itself. Created inside a replay batch, it was held for
// the whole batch, and on PostgreSQL 13, under writers each inserting a new
// key, a batch of thousands of new keys outlasted the other appliers' 5
// attempts at their own new keys: the run failed with "could not create
// partition ... conflicting lock through 5 attempts". So each new key is
// created in a transaction of its own before the batch that needs it.
//
// Seen here deterministically: another session holds that lock while the
// catch-up starts, so the first creation of a new key waits for it; the
// waiting transaction must be a key's own, holding nothing of a batch (no
// lock on the change log, whose entries a batch takes). Then the session lets
// go and the run finishes with every row.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('new_keys');

beforeAll(async () => {
  await installPartwise(db);
});

interface Waiter {
  /** Relations the waiting backend held, by name. */
  held: string[];
}

/** Waits until a backend waits for a lock on `relation`, and returns what it holds meanwhile. */
async function firstWaiter(client: pg.Pool, relation: string): Promise<Waiter> {
  for (;;) {
    const { rows } = await client.query<{ held: string[] }>(
      `SELECT ARRAY(SELECT DISTINCT h.relation::regclass::text FROM pg_locks h
                     WHERE h.pid = w.pid AND h.granted AND h.locktype = 'relation' ORDER BY 1) AS held
         FROM pg_locks w WHERE NOT w.granted AND w.locktype = 'relation' AND w.relation = $1::regclass LIMIT 1`,
      [relation],
    );
    if (rows[0]) return { held: rows[0].held };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('keys created during the copy', () => {
  it("are created by the catch-up each in a transaction of its own, not in a replay batch's", async () => {
    await db.query(`CREATE TABLE tenants (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL)`);
    await db.query(
      `INSERT INTO tenants (customer_id, payload) SELECT 1 + g % 10, 'before' FROM generate_series(1, 2000) g`,
    );
    const holder = await db.connect();
    let waiter: Promise<Waiter> | null = null;
    let log = '';
    try {
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table: 'tenants', keyColumn: 'customer_id', bucketLimit: 1000 }],
        {
          workers: 2,
          beforePhase: async (phase) => {
            if (phase !== 'catch_up') return;
            // 100 new keys, logged for the catch-up.
            await db.query(
              `INSERT INTO tenants (customer_id, payload) SELECT 100 + g, 'new' FROM generate_series(1, 100) g`,
            );
            const [target] = await db.query<{ log: string }>(
              `SELECT saved->>'changeLog' AS log FROM partwise.migration_target WHERE table_name = 'tenants'`,
            );
            log = `partwise.${target!.log}`;
            await holder.query('BEGIN');
            await holder.query(`LOCK TABLE ONLY tenants_partitioned IN SHARE UPDATE EXCLUSIVE MODE`);
            waiter = firstWaiter(db.pool, 'tenants_partitioned').finally(() => holder.query('COMMIT'));
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      await holder.end();
    }
    expect(waiter).not.toBeNull();
    const { held } = await waiter!;
    expect(held).not.toContain(log);
    expect(held.filter((r) => r.startsWith('tenants'))).toEqual([]);
    expect(await db.query(`SELECT count(*)::int AS n, count(DISTINCT customer_id)::int AS keys FROM tenants`)).toEqual([
      { n: 2100, keys: 110 },
    ]);
  }, 120_000);
});
