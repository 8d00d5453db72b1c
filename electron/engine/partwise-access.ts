// Whether the connected role may use the Partwise installed in a database,
// and if not, what it lacks and who can grant it. The role that installs
// Partwise owns its schema, journal and functions; running, rolling back or
// finalizing a migration re-applies those functions and writes the journal,
// so it needs that role's rights, while reading the journal needs two grants.
import type { Queryable } from './catalog.js';
import { ident } from '../db/sql.js';

export interface PartwiseAccess {
  schema: string;
  /** Partwise's journal exists in the schema. */
  installed: boolean;
  /** The role that owns the schema (the one that installed Partwise). */
  owner: string | null;
  currentUser: string;
  /** The connected role has the owner's rights (a member of it, or a superuser). */
  hasOwnerRights: boolean;
  /** The connected role may read the journal. */
  canRead: boolean;
}

export interface AccessProblem {
  message: string;
  /** What to run, and who may run it. */
  fix: string;
}

export async function partwiseAccess(db: Queryable, schema: string): Promise<PartwiseAccess> {
  // Catalog reads only: naming a table in a schema without USAGE on it would fail.
  const { rows } = await db.query<{
    owner: string | null;
    me: string;
    owner_rights: boolean | null;
    journal: number;
    readable: boolean | null;
  }>(
    `SELECT pg_get_userbyid(n.nspowner) AS owner, current_user AS me,
            pg_has_role(n.nspowner, 'USAGE') AS owner_rights,
            count(c.oid)::int AS journal,
            has_schema_privilege(n.oid, 'USAGE') AND bool_and(has_table_privilege(c.oid, 'SELECT')) AS readable
       FROM (SELECT current_user) me
       LEFT JOIN pg_namespace n ON n.nspname = $1
       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname IN ('migration_run', 'migration_target')
      GROUP BY n.oid, n.nspowner`,
    [schema],
  );
  const row = rows[0]!;
  const installed = row.owner !== null && row.journal === 2;
  return {
    schema,
    installed,
    owner: row.owner,
    currentUser: row.me,
    hasOwnerRights: row.owner_rights === true,
    canRead: installed && row.readable === true,
  };
}

/** What stops the connected role from reading the journal (status) or running migrations (everything else). */
export function accessProblem(access: PartwiseAccess, need: 'read' | 'run'): AccessProblem | null {
  if (!access.installed || access.hasOwnerRights) return null;
  const { schema, owner, currentUser } = access;
  if (need === 'read') {
    if (access.canRead) return null;
    return {
      message: `Role ${currentUser} may not read Partwise's journal in schema ${schema}, which role ${owner} owns`,
      fix: `${owner} or a superuser can grant it: GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(currentUser)}; GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(schema)} TO ${ident(currentUser)};`,
    };
  }
  return {
    message: `Role ${currentUser} lacks the rights of role ${owner}, which installed Partwise in schema ${schema} and owns its journal and functions: migrating, resuming, verifying, rolling back, finalizing and maintaining need them`,
    fix: `Connect as ${owner}, or have a superuser (or a role with ADMIN OPTION on ${owner}) run: GRANT ${ident(owner!)} TO ${ident(currentUser)};`,
  };
}
