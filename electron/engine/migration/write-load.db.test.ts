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
        const id = 1 + Math.floor(Math.random() * maxId);
        await client.query(`UPDATE ${table} SET payload = $2, amount = amount + 1 WHERE id = $1`, [id, `update ${n}`]);
        await client.query(`UPDATE ${table}_expected SET payload = $2, amount = amount + 1 WHERE id = $1`, [
          id,
          `update ${n}`,
        ]);
      } else {
        const id = 1 + Math.floor(Math.random() * maxId);
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
    let keyChanges = 0;
    try {
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
            const client = await db.pool.connect();
            try {
              await client.query('BEGIN');
              for (const id of [100 + keyChanges, 200 + keyChanges]) {
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
      // Keep writing for a moment through the routing view.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      stopped = true;
      await Promise.all(writers);
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
    expect(stats.reduce((sum, s) => sum + s.commits, 0)).toBeGreaterThan(100);
    expect(keyChanges).toBe(2);
    await expectMirrored(db, table);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE customer_id = $1`, [keys + 50])).toEqual([
      { n: 4 },
    ]);
    const leaves = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table}_partitioned GROUP BY tableoid`,
    );
    for (const leaf of leaves) expect(leaf.n).toBeLessThanOrEqual(1000);
  });
});
