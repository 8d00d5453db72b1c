// Reading the statements the server has run from pg_stat_statements, when it
// can be read, and what to do when it cannot. The module must be loaded at
// server start (shared_preload_libraries) and created in this database; a
// role sees the text of other roles' statements only as a superuser or a
// member of pg_read_all_stats.
import type pg from 'pg';
import type { WorkloadSource } from '../../../shared/workload.js';
import { ident } from '../../db/sql.js';

/** One statement text, over the roles that ran it. */
export interface StatStatement {
  queryId: string | null;
  query: string;
  roles: string[];
  /** The role that ran it most: its own search_path decides what the names in it mean. */
  mainRoleOid: number;
  calls: number;
  totalMs: number;
}

export interface WorkloadRead {
  /** Where the statements come from; `skipped` is left for the analysis to count. */
  source: WorkloadSource;
  /** The statements that mention one of the names, most called first. */
  statements: StatStatement[];
}

/** Texts of Partwise's own analysis (it prepares statements under this name): never part of a workload. */
export const OWN_STATEMENT_MARKER = 'partwise_workload';

/** The statements that mention the table are planned, most called first, up to this many; the others are counted. */
export const PLANNED_STATEMENTS = 50;
/** Those PostgreSQL cannot plan (DDL, utility) are cheap to try, but not without end. */
export const ATTEMPTED_STATEMENTS = 500;

const HIDDEN_TEXT = '<insufficient privilege>';

export const count = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
const NOT_LOADED = '55000'; // object_not_in_prerequisite_state: "must be loaded via shared_preload_libraries"

function unavailable(reason: string, steps: string[]): WorkloadRead {
  return { source: { available: false, reason, steps }, statements: [] };
}

function enableSteps(database: string, user: string, needs: { preload: boolean; create: boolean }): string[] {
  const steps: string[] = [];
  if (needs.preload) {
    steps.push(
      "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';  -- keep the libraries already listed (SHOW shared_preload_libraries), then restart PostgreSQL; on a managed service set it in the server's parameters",
    );
  }
  if (needs.create) {
    steps.push(
      `CREATE EXTENSION pg_stat_statements;  -- in database ${ident(database)}, as a superuser (or the service's admin role)`,
    );
  }
  steps.push(
    `GRANT pg_read_all_stats TO ${ident(user)};  -- so that ${ident(user)} reads the statements of every role, the application's included`,
  );
  steps.push('Let the application run through a typical period (a day, a week), then plan again.');
  return steps;
}

/**
 * A case-insensitive pattern for `name` as a whole identifier: not inside a
 * longer one (orders_backup, a partition's name), so that what matches is a
 * superset of the statements that use the relation, which the planner then decides.
 */
function wholeName(name: string): string {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `(^|[^[:alnum:]_$])${escaped}($|[^[:alnum:]_$])`;
}

/** The statements of the current database whose text mentions one of `names`, most called first. */
export async function readWorkload(client: pg.ClientBase, names: readonly string[]): Promise<WorkloadRead> {
  const { rows: ctx } = await client.query<{
    database: string;
    usr: string;
    sees_all: boolean;
    loaded: boolean;
    track: string | null;
    ext_schema: string | null;
    ext_version: string | null;
    files_present: boolean;
  }>(
    `SELECT current_database() AS database, current_user AS usr,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS sees_all,
            current_setting('pg_stat_statements.max', true) IS NOT NULL AS loaded,
            current_setting('pg_stat_statements.track', true) AS track,
            (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements') AS ext_schema,
            (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'pg_stat_statements') AS ext_version,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS files_present`,
  );
  const c = ctx[0]!;
  if (c.ext_schema === null) {
    if (!c.files_present) {
      return unavailable(
        "pg_stat_statements is not installed on this server (it ships with PostgreSQL's contrib modules).",
        [
          'Install the contrib modules on the server (e.g. the postgresql-contrib package), then:',
          ...enableSteps(c.database, c.usr, { preload: true, create: true }),
        ],
      );
    }
    // The module defines its settings when it is loaded; before, they are unknown.
    return unavailable(
      c.loaded
        ? `pg_stat_statements is loaded by the server but not created in database ${c.database}.`
        : `pg_stat_statements is neither loaded by the server nor created in database ${c.database}.`,
      enableSteps(c.database, c.usr, { preload: !c.loaded, create: true }),
    );
  }
  const schema = ident(c.ext_schema);
  const { rows: columns } = await client.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [`${schema}.pg_stat_statements`],
  );
  // Before pg_stat_statements 1.8 (PostgreSQL 13) execution time was total_time.
  const totalTime = columns.some((col) => col.name === 'total_exec_time') ? 'total_exec_time' : 'total_time';
  let rows: {
    query: string;
    queryid: string | null;
    roles: string[];
    main_role: number;
    calls: string;
    total: number;
    entries: number;
    hidden: boolean;
    matched: boolean;
  }[];
  try {
    ({ rows } = await client.query(
      `WITH s AS (
         SELECT s.userid, s.queryid, s.query, s.calls, s.${totalTime} AS total
           FROM ${schema}.pg_stat_statements s
          WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       ), grouped AS (
         SELECT query, min(queryid)::text AS queryid,
                array_agg(DISTINCT pg_get_userbyid(userid)::text ORDER BY pg_get_userbyid(userid)::text) AS roles,
                (array_agg(userid::int ORDER BY calls DESC))[1] AS main_role,
                sum(calls) AS calls, sum(total)::float8 AS total, count(*)::int AS entries,
                query = $2 AS hidden,
                query <> $2 AND strpos(query, $3) = 0 AND query ~* ANY ($1::text[]) AS matched
           FROM s GROUP BY query
       )
       SELECT * FROM grouped WHERE hidden OR matched ORDER BY calls DESC`,
      [names.map(wholeName), HIDDEN_TEXT, OWN_STATEMENT_MARKER],
    ));
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code === NOT_LOADED) {
      return unavailable(
        `pg_stat_statements is created in database ${c.database} but the server does not load it (shared_preload_libraries).`,
        enableSteps(c.database, c.usr, { preload: true, create: false }),
      );
    }
    // Any other refusal from the server (a revoked privilege...) leaves the workload unknown, not the plan failed.
    if (code === undefined) throw error;
    return unavailable(`reading pg_stat_statements failed: ${message}.`, [
      `GRANT SELECT ON ${schema}.pg_stat_statements TO ${ident(c.usr)};`,
      ...enableSteps(c.database, c.usr, { preload: false, create: false }),
    ]);
  }
  const hiddenRows = rows.filter((r) => r.hidden);
  const matched = rows.filter((r) => r.matched);
  const notes: string[] = [];
  let since: string | null = null;
  const { rows: info } = await client.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [
    `${schema}.pg_stat_statements_info`,
  ]);
  if (info[0]!.present) {
    const { rows: reset } = await client.query<{ stats_reset: Date; dealloc: string }>(
      `SELECT stats_reset, dealloc FROM ${schema}.pg_stat_statements_info`,
    );
    since = reset[0]?.stats_reset.toISOString() ?? null;
    if (Number(reset[0]?.dealloc ?? 0) > 0) {
      notes.push(
        `pg_stat_statements dropped the least used statements ${Number(reset[0]!.dealloc).toLocaleString('en-US')} times since its last reset (pg_stat_statements.max): rare statements may be missing.`,
      );
    }
  } else {
    notes.push(
      `Calls count from the last reset of pg_stat_statements (its version ${c.ext_version} does not record when).`,
    );
  }
  if (c.track === 'none') {
    notes.push('pg_stat_statements.track is none: the server collects no statements at all.');
  } else if (c.track === 'top') {
    notes.push(
      'pg_stat_statements.track is top: statements run inside functions and procedures are not collected (set it to all to see them).',
    );
  }
  const sum = (list: typeof rows) => list.reduce((total, r) => total + Number(r.calls), 0);
  // Hidden texts are all alike: each entry is a statement of its own.
  const hidden = { statements: hiddenRows.reduce((n, r) => n + r.entries, 0), calls: sum(hiddenRows) };
  if (!c.sees_all && hidden.statements > 0) {
    notes.push(
      `${count(hidden.statements, 'statement')} of other roles (${count(hidden.calls, 'call')}) ${hidden.statements === 1 ? 'is' : 'are'} hidden from ${c.usr}, the application's may be among them: GRANT pg_read_all_stats TO ${ident(c.usr)};`,
    );
  }
  return {
    source: {
      available: true,
      since,
      seesAllRoles: c.sees_all,
      hidden,
      skipped: { statements: 0, calls: 0 },
      notes,
    },
    statements: matched.map((r) => ({
      queryId: r.queryid,
      query: r.query,
      roles: r.roles,
      mainRoleOid: r.main_role,
      calls: Number(r.calls),
      totalMs: r.total,
    })),
  };
}

/**
 * The search_path each role gets when it connects (ALTER ROLE / ALTER
 * DATABASE ... SET search_path), or null where none is configured: what the
 * unqualified names of its statements meant.
 */
export async function roleSearchPaths(
  client: pg.ClientBase,
  roleOids: readonly number[],
): Promise<Map<number, string | null>> {
  const { rows } = await client.query<{ role: number; search_path: string | null }>(
    `SELECT u.oid::int AS role,
            (SELECT substr(setting, length('search_path=') + 1)
               FROM pg_db_role_setting d, unnest(d.setconfig) setting
              WHERE setting LIKE 'search_path=%'
                AND d.setrole IN (u.oid, 0) AND d.setdatabase IN (db.oid, 0) AND NOT (d.setrole = 0 AND d.setdatabase = 0)
              ORDER BY d.setrole = 0, d.setdatabase = 0 LIMIT 1) AS search_path
       FROM unnest($1::oid[]) u(oid), (SELECT oid FROM pg_database WHERE datname = current_database()) db`,
    [roleOids],
  );
  return new Map(rows.map((r) => [r.role, r.search_path]));
}
