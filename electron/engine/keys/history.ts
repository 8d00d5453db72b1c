// The key-action journal as the Runs screen lists it: the newest actions on
// keys of every managed table of the database, each with its outcome. A row
// still marked running is only running while a session holds the key's
// advisory lock (journal.ts); otherwise its process died and it is shown as
// interrupted, as the next action on the key will record it.
import type { KeyActionEntry } from '../../../shared/keys.js';
import { ident, relationExists } from '../../db/sql.js';
import type { Queryable } from '../catalog.js';
import { KEY_LOCK_CLASS } from './journal.js';

/** How many actions the list shows, newest first. */
export const KEY_HISTORY_LIMIT = 200;

export async function keyActionHistory(db: Queryable, installSchema: string): Promise<KeyActionEntry[]> {
  const q = ident(installSchema);
  // Installs older than migration 0006 have no journal of key actions.
  if (!(await relationExists(db, installSchema, 'key_action'))) return [];
  const { rows } = await db.query<{
    action_id: string;
    config_id: number;
    action: string;
    table_schema: string;
    table_name: string;
    key_value: string;
    status: KeyActionEntry['status'];
    step: string;
    started_by: string;
    started_at: Date;
    finished_at: Date | null;
    rows: string | null;
    bytes: string | null;
    error: string | null;
  }>(
    // pg_locks shows an advisory lock on two int4 keys as classid, objid (both
    // oid, so the hash is read unsigned) and objsubid 2.
    `SELECT a.action_id, a.config_id, a.action, a.table_schema, a.table_name, a.key_value,
            CASE WHEN a.status = 'running' AND NOT EXISTS (
                   SELECT FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted AND l.database = d.oid
                      AND l.classid::bigint = $1 AND l.objsubid = 2
                      AND l.objid::bigint = (hashtext(a.config_id || '/' || a.key_value)::bigint + 4294967296) % 4294967296)
                 THEN 'interrupted' ELSE a.status END AS status,
            a.step, a.started_by, a.started_at, a.finished_at,
            a.detail->>'rows' AS rows, a.detail->>'bytes' AS bytes, a.error
       FROM ${q}.key_action a, pg_database d
      WHERE d.datname = current_database()
      ORDER BY a.action_id DESC
      LIMIT $2`,
    [KEY_LOCK_CLASS, KEY_HISTORY_LIMIT],
  );
  return rows.map((r) => ({
    actionId: Number(r.action_id),
    configId: r.config_id,
    action: r.action,
    schema: r.table_schema,
    table: r.table_name,
    keyValue: r.key_value,
    status: r.status,
    step: r.step,
    startedBy: r.started_by,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
    rows: r.rows === null ? null : Number(r.rows),
    bytes: r.bytes === null ? null : Number(r.bytes),
    error: r.error,
  }));
}
