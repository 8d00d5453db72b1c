// Before a run opens its workers: can the server serve them? A run that
// discovers half-way that the server refuses its fifth connection ("too many
// clients already", or the role's or database's CONNECTION LIMIT) fails after
// minutes of work, and meanwhile it may have taken the last connections the
// application needed. Refused up front instead, with the numbers.
import type pg from 'pg';
import { PartwiseError } from '../db/errors.js';
import { connectionsForRun, RUN_EXTRA_CONNECTIONS } from '../../shared/plan.js';
import { countOf } from '../../shared/text.js';

export interface ConnectionRoom {
  /** Connections this role can still open here: the least of the server's, the role's and the database's room. */
  free: number;
  /** What limits it, as a person reads it ("the server: max_connections 20, 15 in use, 3 reserved for superusers"). */
  limitedBy: string;
}

interface RoomRow {
  max_connections: number;
  reserved: number;
  server_in_use: number;
  role_limit: number;
  role_in_use: number;
  database_limit: number;
  database_in_use: number;
}

/**
 * The connections this role may still open in this database. The server-wide
 * count is from pg_stat_activity, where a role without pg_read_all_stats sees
 * no backend_type for other roles' sessions: those are counted when they are
 * attached to a database (client backends, and also autovacuum and parallel
 * workers, which have slots of their own: the count errs towards less room).
 * The role's and the database's counts are exact (user and database names are
 * visible to everyone).
 */
export async function connectionRoom(client: pg.ClientBase | pg.Pool): Promise<ConnectionRoom> {
  const { rows } = await client.query<RoomRow>(`
    SELECT current_setting('max_connections')::int AS max_connections,
           -- Slots kept for superusers, and from PostgreSQL 16 for members of pg_use_reserved_connections.
           CASE WHEN r.rolsuper THEN 0 ELSE current_setting('superuser_reserved_connections')::int
             + CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles g
                                  WHERE g.rolname = 'pg_use_reserved_connections' AND pg_has_role(g.oid, 'MEMBER'))
                    THEN 0 ELSE coalesce(current_setting('reserved_connections', true)::int, 0) END
           END AS reserved,
           (SELECT count(*) FROM pg_catalog.pg_stat_activity a
             WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL))::int AS server_in_use,
           r.rolconnlimit AS role_limit,
           (SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.usesysid = r.oid
               AND (a.backend_type = 'client backend' OR a.backend_type IS NULL AND a.datid IS NOT NULL))::int AS role_in_use,
           d.datconnlimit AS database_limit,
           (SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid
               AND (a.backend_type = 'client backend' OR a.backend_type IS NULL))::int AS database_in_use
      FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
     WHERE r.rolname = current_user AND d.datname = current_database()`);
  const row = rows[0]!;
  const rooms: ConnectionRoom[] = [
    {
      free: row.max_connections - row.reserved - row.server_in_use,
      limitedBy:
        `the server: max_connections ${row.max_connections}, ${row.server_in_use} in use` +
        (row.reserved > 0 ? `, ${row.reserved} reserved for superusers` : ''),
    },
  ];
  if (row.role_limit >= 0) {
    rooms.push({
      free: row.role_limit - row.role_in_use,
      limitedBy: `the role's CONNECTION LIMIT ${row.role_limit}, ${row.role_in_use} in use`,
    });
  }
  if (row.database_limit >= 0) {
    rooms.push({
      free: row.database_limit - row.database_in_use,
      limitedBy: `the database's CONNECTION LIMIT ${row.database_limit}, ${row.database_in_use} in use`,
    });
  }
  return rooms.reduce((least, room) => (room.free < least.free ? room : least));
}

/**
 * Refuses a pool smaller than the run's budget (the app and the CLI size
 * theirs by connectionsForRun): the run's parts each hold a connection while
 * asking the pool for another now and then (the throttle's look at whether
 * the run is held, a log line), so a pool that cannot give one to each of
 * them could leave them all waiting for each other.
 */
export function refuseSmallPool(pool: pg.Pool, workers: number): void {
  const max = pool.options.max;
  if (max === undefined || max >= connectionsForRun(workers)) return;
  throw new PartwiseError(
    'internal',
    `A run with ${countOf(workers, 'worker')} needs a pool of ${countOf(connectionsForRun(workers), 'connection')}; this one holds ${max}`,
  );
}

/**
 * Refuses a run whose workers the server cannot serve. `held` is how many of
 * the run's connections are open already (its control connection): they are
 * in the server's count and need no new room.
 */
export async function refuseUnservableWorkers(
  client: pg.ClientBase | pg.Pool,
  workers: number,
  held: number,
): Promise<void> {
  const needed = connectionsForRun(workers) - held;
  const room = await connectionRoom(client);
  if (needed <= room.free) return;
  const most = Math.max(room.free, 0) + held - RUN_EXTRA_CONNECTIONS;
  const advice =
    most >= 1
      ? `Choose at most ${countOf(most, 'worker')}, or free connections first.`
      : 'Free connections first (or raise the limit).';
  throw new PartwiseError(
    'blocked',
    `${countOf(workers, 'worker')} need up to ${countOf(connectionsForRun(workers), 'connection')}, ` +
      `${needed} more than this run holds, and only ${Math.max(room.free, 0)} can be opened (${room.limitedBy}). ${advice}`,
  );
}
