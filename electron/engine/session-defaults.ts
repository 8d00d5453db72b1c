// The session settings every transaction of Partwise's assumes, set on each
// connection it takes from a pool before its first transaction there.
//
// READ COMMITTED: a statement that comes after a lock must see what was
// committed before the lock was granted. The swap takes its lock in the
// transaction's second statement and then applies the log's last entries; a
// writer it waited for commits its entries just before the grant. Under
// REPEATABLE READ (a server, database or role may make it the default) the
// snapshot is taken by the first statement, before the lock: the swap would
// not see those entries and swap without them. The verification that
// follows then finds the contents differ and rolls the whole migration back
// (repeatable-read.db.test.ts, without this setting), so nothing is lost,
// but no migration under writes would ever succeed there.
// The same holds for the pauses of the catch-up and for the SQL functions
// that lock, then read (key actions, maintenance). Transactions that need a
// snapshot of their own say so (BEGIN ISOLATION LEVEL REPEATABLE READ).
import type pg from 'pg';

export async function setSessionDefaults(client: pg.ClientBase): Promise<void> {
  await client.query(`SET default_transaction_isolation = 'read committed'`);
}

/** A connection of `pool` with the session defaults set; the caller releases it. */
export async function connectWithDefaults(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  try {
    await setSessionDefaults(client);
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  return client;
}
