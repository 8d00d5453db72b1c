// Tickets handed out per key: the tracker's live figure. It lives in each
// key's ticket sequence, and reading a sequence locks it until the end of the
// transaction, so the sequences are read in batches, each in a transaction of
// its own: a table with thousands of keys never fills the lock table. (The
// tracker_status view does it in one query, for psql and small tables.)
import type pg from 'pg';
import { ident } from '../db/sql.js';

const BATCH = 500;

export async function liveTickets(
  pool: pg.Pool,
  installSchema: string,
  configId: number,
): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ key_value: string }>(
    `SELECT key_value FROM ${ident(installSchema)}.partition_tracker WHERE config_id = $1`,
    [configId],
  );
  const live = new Map<string, number>();
  for (let i = 0; i < rows.length; i += BATCH) {
    const keys = rows.slice(i, i + BATCH).map((r) => r.key_value);
    for (const [key, tickets] of await ticketsOf(pool, installSchema, configId, keys)) live.set(key, tickets);
  }
  return live;
}

/**
 * Tickets handed out to each of a few keys (at most BATCH: each sequence read
 * stays locked until the transaction ends). A sequence is not transactional:
 * read after the rows of a snapshot, it counts at least every row that
 * snapshot shows.
 */
export async function ticketsOf(
  db: pg.Pool | pg.ClientBase,
  installSchema: string,
  configId: number,
  keys: string[],
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ key_value: string; live: string }>(
    `SELECT key_value, greatest(rows_assigned, coalesce(pg_sequence_last_value(ticket_sequence), 0)) AS live
       FROM ${ident(installSchema)}.partition_tracker
      WHERE config_id = $1 AND key_value = ANY ($2::text[])`,
    [configId, keys],
  );
  return new Map(rows.map((r) => [r.key_value, Number(r.live)]));
}
