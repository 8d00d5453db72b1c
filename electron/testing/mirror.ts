// A table whose every write is also applied to a plain "expected" table in the
// same transaction: a ledger of what the application committed. Whatever a
// migration does (copy, swap, crash, resume, rollback), the table must end up
// equal to its mirror.
import type pg from 'pg';
import { expect } from 'vitest';
import { expectSameRows } from './same-rows.js';
import type { TestDatabase } from './database.js';

export async function createMirroredTable(db: TestDatabase, table: string, rows: number, keys: number): Promise<void> {
  await db.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL, amount numeric(12,2))`,
  );
  await db.query(`CREATE INDEX ON ${table} (customer_id, id)`);
  await db.query(
    `INSERT INTO ${table} (customer_id, payload, amount)
     SELECT 1 + (g * 7919) % $2, md5(g::text), (g % 1000) / 10.0 FROM generate_series(1, $1) g`,
    [rows, keys],
  );
  await db.query(`CREATE TABLE ${table}_expected AS SELECT * FROM ${table}`);
  await db.query(`ANALYZE ${table}`);
}

/**
 * A skewed table, mirrored as createMirroredTable's: `small` keys (3 to
 * 2 + small) of 20 to 119 rows each, written first, so that the low ids
 * mirroredWrites updates and deletes are theirs; then `large` keys of
 * `largeRows` rows each: 1 and 2 (those mirroredWrites inserts into), then
 * 3 + small onwards.
 */
export async function createSkewedMirroredTable(
  db: TestDatabase,
  table: string,
  { small, large, largeRows }: { small: number; large: number; largeRows: number },
): Promise<void> {
  await db.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL, amount numeric(12,2))`,
  );
  await db.query(`CREATE INDEX ON ${table} (customer_id, id)`);
  await db.query(
    `INSERT INTO ${table} (customer_id, payload, amount)
     SELECT k, md5(k || '/' || g), (g % 1000) / 10.0
       FROM generate_series(3, 2 + $1) k, generate_series(1, 20 + (k * 37) % 100) g ORDER BY g, k`,
    [small],
  );
  await db.query(
    `INSERT INTO ${table} (customer_id, payload, amount)
     SELECT CASE WHEN k <= 2 THEN k ELSE k + $1 END, md5(k || '/' || g), (g % 1000) / 10.0
       FROM generate_series(1, $2) k, generate_series(1, $3) g ORDER BY g, k`,
    [small, large, largeRows],
  );
  await db.query(`CREATE TABLE ${table}_expected AS SELECT * FROM ${table}`);
  await db.query(`ANALYZE ${table}`);
}

/**
 * One transaction of the application: inserts (by default one with a new key,
 * which the migration gives partitions of its own), updates and a delete, mirrored.
 */
export async function mirroredWrites(
  client: pg.ClientBase | pg.Pool,
  table: string,
  round: number,
  keys: number[] = [1, 2, 1000 + round],
): Promise<void> {
  const c =
    'connect' in client && !('release' in client) ? await (client as pg.Pool).connect() : (client as pg.PoolClient);
  const release = c !== client;
  try {
    await c.query('BEGIN');
    for (const key of keys) {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO ${table} (customer_id, payload, amount) VALUES ($1, $2, $3) RETURNING id`,
        [key, `round ${round} insert`, round],
      );
      await c.query(`INSERT INTO ${table}_expected (id, customer_id, payload, amount) VALUES ($1, $2, $3, $4)`, [
        rows[0]!.id,
        key,
        `round ${round} insert`,
        round,
      ]);
    }
    for (const id of [round * 10 + 1, round * 10 + 2]) {
      await c.query(`UPDATE ${table} SET payload = $2 WHERE id = $1`, [id, `round ${round} update`]);
      await c.query(`UPDATE ${table}_expected SET payload = $2 WHERE id = $1`, [id, `round ${round} update`]);
    }
    await c.query(`DELETE FROM ${table} WHERE id = $1`, [round * 10 + 5]);
    await c.query(`DELETE FROM ${table}_expected WHERE id = $1`, [round * 10 + 5]);
    await c.query('COMMIT');
  } catch (error) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (release) (c as pg.PoolClient).release();
  }
}

export async function expectMirrored(db: TestDatabase, table: string): Promise<void> {
  await expectSameRows(db, `${table}_expected`, table, 'id, customer_id, payload, amount');
  const [counts] = await db.query<{ a: number; b: number }>(
    `SELECT (SELECT count(*)::int FROM ${table}) AS a, (SELECT count(*)::int FROM ${table}_expected) AS b`,
  );
  expect(counts!.a).toBe(counts!.b);
}
