// The application keeps writing through the whole migration: several
// connections insert, update and delete, each recording what it committed in
// a ledger (a mirror table) in the same transaction. Afterwards every
// committed write must be in the new table, no writer may have failed, and
// the new table must equal the original for every row not written since the
// swap (the engine's own verification, which must have passed).
import { describe, expect, it, beforeAll } from 'vitest';
import type pg from 'pg';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored } from '../../testing/mirror.js';

const db = useTestDatabase('write_load');

beforeAll(async () => {
  await installPartwise(db);
});

/** Rows the test moves to a new key during the migration, and asserts on: no writer touches them. */
const MOVED_IDS = [100, 101, 200, 201];

/** A random id of the original rows, never one the test moves. */
function randomOtherId(maxId: number): number {
  for (;;) {
    const id = 1 + Math.floor(Math.random() * maxId);
    if (!MOVED_IDS.includes(id)) return id;
  }
}

interface WriterStats {
  commits: number;
  errors: string[];
  slowestMs: number;
}

async function writer(
  client: pg.Client,
  table: string,
  keys: number,
  maxId: number,
  stop: () => boolean,
  stats: WriterStats,
): Promise<void> {
  let n = 0;
  while (!stop()) {
    n++;
    const started = Date.now();
    const op = n % 10;
    try {
      await client.query('BEGIN');
      if (op < 5) {
        // Mostly existing keys, sometimes a brand-new one.
        const key = op === 0 ? keys + 1 + (n % 7) : 1 + (n % keys);
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${table} (customer_id, payload, amount) VALUES ($1, $2, $3) RETURNING id`,
          [key, `insert ${n}`, n % 100],
        );
        await client.query(`INSERT INTO ${table}_expected (id, customer_id, payload, amount) VALUES ($1, $2, $3, $4)`, [
          rows[0]!.id,
          key,
          `insert ${n}`,
          n % 100,
        ]);
      } else if (op < 8) {
        const id = randomOtherId(maxId);
        await client.query(`UPDATE ${table} SET payload = $2, amount = amount + 1 WHERE id = $1`, [id, `update ${n}`]);
        await client.query(`UPDATE ${table}_expected SET payload = $2, amount = amount + 1 WHERE id = $1`, [
          id,
          `update ${n}`,
        ]);
      } else {
        const id = randomOtherId(maxId);
        await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
        await client.query(`DELETE FROM ${table}_expected WHERE id = $1`, [id]);
      }
      await client.query('COMMIT');
      stats.commits++;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      stats.errors.push((error as Error).message);
    }
    stats.slowestMs = Math.max(stats.slowestMs, Date.now() - started);
  }
}

describe('migration under write load', () => {
  it('loses no committed write and fails no writer', async () => {
    const table = 'busy';
    const rows = 60_000;
    const keys = 25;
    await createMirroredTable(db, table, rows, keys);
    let stopped = false;
    const clients = await Promise.all(Array.from({ length: 4 }, () => db.connect()));
    const stats: WriterStats[] = clients.map(() => ({ commits: 0, errors: [], slowestMs: 0 }));
    const writers = clients.map((client, i) => writer(client, table, keys, rows, () => stopped, stats[i]!));
    const commits = (): number => stats.reduce((sum, s) => sum + s.commits, 0);
    // Waits for writes instead of a while: each stage sees writes, however slow the machine.
    const moreCommits = async (count: number): Promise<void> => {
      const target = commits() + count;
      for (let i = 0; commits() < target; i++) {
        if (i > 1200 || stats.some((s) => s.errors.length > 0))
          throw new Error(`writers stalled at ${commits()} commits`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    let keyChanges = 0;
    try {
      await moreCommits(20);
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 1000 }],
        {
          workers: 2,
          catchUpThreshold: 50,
          // Before the swap the original is an ordinary table where rows may
          // change key: the migration must move them to their new key's partitions.
          beforePhase: async (phase) => {
            if (phase !== 'indexes' && phase !== 'catch_up') return;
            // Writes during the copy and the index builds, for the change capture to carry over.
            await moreCommits(20);
            const client = await db.pool.connect();
            try {
              await client.query('BEGIN');
              for (const id of [MOVED_IDS[keyChanges]!, MOVED_IDS[keyChanges + 2]!]) {
                await client.query(`UPDATE ${table} SET customer_id = $2 WHERE id = $1`, [id, keys + 50]);
                await client.query(`UPDATE ${table}_expected SET customer_id = $2 WHERE id = $1`, [id, keys + 50]);
              }
              await client.query('COMMIT');
              keyChanges++;
            } finally {
              client.release();
            }
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
      // And through the routing view after the swap.
      await moreCommits(20);
    } finally {
      stopped = true;
      await Promise.all(writers);
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
    expect(keyChanges).toBe(2);
    await expectMirrored(db, table);
    // Every moved row is under its new key, in the table as in the ledger.
    const moved = `SELECT array_agg(id ORDER BY id) AS ids FROM ${table}%s WHERE customer_id = $1`;
    expect(await db.query(moved.replace('%s', ''), [keys + 50])).toEqual([{ ids: MOVED_IDS.map(String) }]);
    expect(await db.query(moved.replace('%s', '_expected'), [keys + 50])).toEqual([{ ids: MOVED_IDS.map(String) }]);
    const leaves = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table}_partitioned GROUP BY tableoid`,
    );
    for (const leaf of leaves) expect(leaf.n).toBeLessThanOrEqual(1000);
  });
});
