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
  const q = ident(installSchema);
  const { rows } = await pool.query<{ key_value: string; rows_assigned: string; has_sequence: boolean }>(
    `SELECT key_value, rows_assigned, ticket_sequence IS NOT NULL AS has_sequence FROM ${q}.partition_tracker WHERE config_id = $1`,
    [configId],
  );
  const live = new Map(rows.map((r) => [r.key_value, Number(r.rows_assigned)]));
  const withSequence = rows.filter((r) => r.has_sequence).map((r) => r.key_value);
  for (let i = 0; i < withSequence.length; i += BATCH) {
    const { rows: values } = await pool.query<{ key_value: string; last: string | null }>(
      `SELECT key_value, pg_sequence_last_value(ticket_sequence) AS last FROM ${q}.partition_tracker
        WHERE config_id = $1 AND key_value = ANY ($2::text[])`,
      [configId, withSequence.slice(i, i + BATCH)],
    );
    for (const value of values) {
      if (value.last !== null) live.set(value.key_value, Math.max(live.get(value.key_value) ?? 0, Number(value.last)));
    }
  }
  return live;
}
