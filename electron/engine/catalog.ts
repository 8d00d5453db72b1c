// The one module that reads PostgreSQL's catalog: what a table is made of
// (columns, keys, indexes, constraints, triggers, policies, dependants,
// grants, sequences) and the statistics a plan needs. Read-only.
import type pg from 'pg';
import { PartwiseError } from '../db/errors.js';
import type { TableName } from '../../shared/identifiers.js';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export interface ColumnInfo {
  attnum: number;
  name: string;
  type: string;
  typeOid: number;
  typeCategory: string;
  isEnum: boolean;
  notNull: boolean;
  defaultExpr: string | null;
  identity: '' | 'a' | 'd';
  generated: '' | 's' | 'v';
  comment: string | null;
  /** For serial-style defaults: the sequence the column owns (qualified, quoted). */
  ownedSequence: string | null;
}

export interface IndexInfo {
  oid: number;
  name: string;
  definition: string;
  isUnique: boolean;
  isPrimary: boolean;
  /** Name of the PRIMARY KEY / UNIQUE / EXCLUDE constraint backed by this index, if any. */
  constraintName: string | null;
  constraintType: 'p' | 'u' | 'x' | null;
  /** Key columns by name; null entries are expressions. */
  keyColumns: (string | null)[];
  isValid: boolean;
}

export interface ConstraintInfo {
  name: string;
  type: 'c' | 'f' | 'p' | 'u' | 'x' | 't' | 'n';
  definition: string;
  validated: boolean;
  /** For foreign keys pointing at this table: the referencing table. */
  referencingTable: string | null;
}

export interface TriggerInfo {
  name: string;
  definition: string;
  enabled: string;
  hasTransitionTables: boolean;
  isRowLevel: boolean;
  isBefore: boolean;
}

export interface PolicyInfo {
  name: string;
  permissive: string;
  command: string;
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

export interface DependentView {
  oid: number;
  schema: string;
  name: string;
  kind: 'v' | 'm';
  owner: string;
  ownedByCurrentUser: boolean;
  /** Its definition, schema-qualified so it can be replayed whatever the search_path. */
  definition: string;
  options: string[] | null;
  /** Views and materialized views that depend on this one. */
  hasDependants: boolean;
}

export interface GrantInfo {
  grantee: string; // role name, or PUBLIC
  privilege: string;
  grantable: boolean;
  column: string | null;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  qualified: string;
  kind: string; // pg_class.relkind
  persistence: string; // p, u, t
  isPartition: boolean;
  hasInheritanceParents: boolean;
  hasInheritanceChildren: boolean;
  owner: string;
  ownedByCurrentUser: boolean;
  canCreateInSchema: boolean;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  reloptions: string[] | null;
  rowEstimate: number;
  analyzed: boolean;
  totalBytes: number;
  tableBytes: number;
  indexBytes: number;
  comment: string | null;
  replicaIdentity: string;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
  constraints: ConstraintInfo[];
  inboundForeignKeys: ConstraintInfo[];
  triggers: TriggerInfo[];
  policies: PolicyInfo[];
  dependentViews: DependentView[];
  publications: string[];
  grants: GrantInfo[];
}

export interface ServerInfo {
  version: string;
  versionNum: number;
  maxLocksPerTransaction: number;
  maxConnections: number;
  maxPreparedTransactions: number;
  currentUser: string;
  isSuperuser: boolean;
}

export async function serverInfo(db: Queryable): Promise<ServerInfo> {
  const { rows } = await db.query<{
    version: string;
    num: string;
    locks: string;
    conns: string;
    prepared: string;
    usr: string;
    superuser: boolean;
  }>(
    `SELECT current_setting('server_version') AS version,
            current_setting('server_version_num') AS num,
            current_setting('max_locks_per_transaction') AS locks,
            current_setting('max_connections') AS conns,
            current_setting('max_prepared_transactions') AS prepared,
            current_user AS usr,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
  );
  const row = rows[0]!;
  return {
    version: row.version,
    versionNum: Number(row.num),
    maxLocksPerTransaction: Number(row.locks),
    maxConnections: Number(row.conns),
    maxPreparedTransactions: Number(row.prepared),
    currentUser: row.usr,
    isSuperuser: row.superuser,
  };
}

/** Entries the shared lock table holds: a query that does not prune locks every partition and index. */
export function lockTableCapacity(server: ServerInfo): number {
  return server.maxLocksPerTransaction * (server.maxConnections + server.maxPreparedTransactions);
}

/**
 * How many relations one of a migration's transactions may lock. Each one it
 * touches stays locked until commit, and the lock table is shared by the
 * whole server: the control connection and each worker get a share of half
 * of it.
 */
export function lockBudget(server: ServerInfo, workers: number): number {
  return Math.max(100, Math.floor(lockTableCapacity(server) / (2 * (workers + 1))));
}

export async function findTableOid(db: Queryable, table: TableName): Promise<number | null> {
  const { rows } = await db.query<{ oid: number }>(
    `SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, table.name],
  );
  return rows[0]?.oid ?? null;
}

export async function inspectTable(db: pg.ClientBase, table: TableName): Promise<TableInfo> {
  const oid = await findTableOid(db, table);
  if (oid === null) {
    throw new PartwiseError('not_found', `Table ${table.schema}.${table.name} does not exist`, {
      hint: 'Check the schema and table name; unquoted names are folded to lower case.',
    });
  }
  // Definitions (views, indexes, triggers...) are printed with an empty
  // search_path so that every name in them is schema-qualified and can be
  // replayed from any session. `db` must therefore be one connection, not a pool.
  const previousPath = (await db.query<{ path: string }>(`SELECT current_setting('search_path') AS path`)).rows[0]!
    .path;
  await db.query(`SELECT set_config('search_path', '', false)`);
  const withQualifiedNames = async <T extends pg.QueryResultRow>(text: string): Promise<T[]> =>
    (await db.query<T>(text, [oid])).rows;
  try {
    const { rows: base } = await db.query(
      `SELECT c.oid::int, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relpersistence AS persistence,
            c.relispartition AS is_partition,
            EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS has_parents,
            EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid) AS has_children,
            pg_get_userbyid(c.relowner) AS owner,
            pg_has_role(c.relowner, 'USAGE') AS owned,
            has_schema_privilege(n.oid, 'CREATE') AS can_create,
            c.relrowsecurity AS row_security, c.relforcerowsecurity AS force_row_security,
            c.reloptions, greatest(c.reltuples, 0)::float8 AS row_estimate,
            c.reltuples >= 0 OR EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS analyzed,
            pg_total_relation_size(c.oid)::float8 AS total_bytes,
            pg_table_size(c.oid)::float8 AS table_bytes,
            pg_indexes_size(c.oid)::float8 AS index_bytes,
            obj_description(c.oid, 'pg_class') AS comment,
            c.relreplident AS replica_identity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
      [oid],
    );
    const b = base[0];
    const qualified = `${quote(b.schema)}.${quote(b.name)}`;

    const { rows: columns } = await db.query(
      `SELECT a.attnum, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int AS type_oid,
            t.typcategory AS type_category, t.typtype = 'e' AS is_enum,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
            a.attidentity AS identity, a.attgenerated AS generated,
            col_description(a.attrelid, a.attnum) AS comment,
            (SELECT s.oid::regclass::text FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid
              WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.classid = 'pg_class'::regclass
                AND s.relkind = 'S' AND dep.deptype = 'a' LIMIT 1) AS owned_sequence
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
      [oid],
    );

    const indexes = await withQualifiedNames<Record<string, unknown>>(
      `SELECT i.indexrelid::int AS oid, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
              i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
              con.conname AS constraint_name, con.contype AS constraint_type,
              ARRAY(SELECT CASE WHEN k = 0 THEN NULL ELSE (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = k) END
                      FROM unnest(i.indkey[0:i.indnkeyatts - 1]) k)::text[] AS key_columns
         FROM pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = $1
        ORDER BY i.indisprimary DESC, ic.relname`,
    );
    const constraints = await withQualifiedNames<Record<string, unknown>>(
      `SELECT con.conname AS name, con.contype AS type, pg_get_constraintdef(con.oid) AS definition,
              con.convalidated AS validated, NULL::text AS referencing_table
         FROM pg_constraint con WHERE con.conrelid = $1 ORDER BY con.conname`,
    );
    const inbound = await withQualifiedNames<Record<string, unknown>>(
      `SELECT con.conname AS name, con.contype AS type, pg_get_constraintdef(con.oid) AS definition,
              con.convalidated AS validated, con.conrelid::regclass::text AS referencing_table
         FROM pg_constraint con WHERE con.confrelid = $1 AND con.contype = 'f' AND con.conrelid <> $1
         ORDER BY con.conname`,
    );
    const triggers = await withQualifiedNames<Record<string, unknown>>(
      `SELECT t.tgname AS name, pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled,
              (t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL) AS has_transition_tables,
              (t.tgtype & 1) = 1 AS is_row_level, (t.tgtype & 2) = 2 AS is_before
         FROM pg_trigger t WHERE t.tgrelid = $1 AND NOT t.tgisinternal ORDER BY t.tgname`,
    );
    const policies = await withQualifiedNames<Record<string, unknown>>(
      `SELECT p.polname AS name, CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END AS permissive,
              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
              ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END FROM unnest(p.polroles) r) AS roles,
              pg_get_expr(p.polqual, p.polrelid) AS using_expr, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
         FROM pg_policy p WHERE p.polrelid = $1 ORDER BY p.polname`,
    );
    const views = await withQualifiedNames<Record<string, unknown>>(
      `SELECT DISTINCT v.oid::int AS oid, vn.nspname AS schema, v.relname AS name, v.relkind AS kind,
              pg_get_userbyid(v.relowner) AS owner, pg_has_role(v.relowner, 'USAGE') AS owned,
              pg_get_viewdef(v.oid) AS definition, v.reloptions AS options,
              EXISTS (SELECT 1 FROM pg_depend d2 JOIN pg_rewrite r2 ON r2.oid = d2.objid
                       WHERE d2.refobjid = v.oid AND d2.classid = 'pg_rewrite'::regclass AND r2.ev_class <> v.oid) AS has_dependants
         FROM pg_depend d
         JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
         JOIN pg_class v ON v.oid = r.ev_class
         JOIN pg_namespace vn ON vn.oid = v.relnamespace
        WHERE d.refobjid = $1 AND d.refclassid = 'pg_class'::regclass AND v.oid <> $1
        ORDER BY 2, 3`,
    );
    const publications = await withQualifiedNames<{ name: string }>(
      `SELECT p.pubname AS name FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
        WHERE pr.prrelid = $1
       UNION
       SELECT p.pubname FROM pg_publication p WHERE p.puballtables AND $1::oid IS NOT NULL
       ORDER BY 1`,
    );
    const grants = await withQualifiedNames<Record<string, unknown>>(
      `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
              a.privilege_type AS privilege, a.is_grantable AS grantable, NULL::text AS col
         FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = $1 AND a.grantee <> c.relowner
       UNION ALL
       SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
              a.privilege_type, a.is_grantable, att.attname
         FROM pg_attribute att, aclexplode(att.attacl) a
        WHERE att.attrelid = $1 AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL`,
    );
    return {
      oid: b.oid,
      schema: b.schema,
      name: b.name,
      qualified,
      kind: b.kind,
      persistence: b.persistence,
      isPartition: b.is_partition,
      hasInheritanceParents: b.has_parents,
      hasInheritanceChildren: b.has_children,
      owner: b.owner,
      ownedByCurrentUser: b.owned,
      canCreateInSchema: b.can_create,
      rowSecurity: b.row_security,
      forceRowSecurity: b.force_row_security,
      reloptions: b.reloptions,
      rowEstimate: Number(b.row_estimate),
      analyzed: b.analyzed,
      totalBytes: Number(b.total_bytes),
      tableBytes: Number(b.table_bytes),
      indexBytes: Number(b.index_bytes),
      comment: b.comment,
      replicaIdentity: b.replica_identity,
      columns: columns.map((c) => ({
        attnum: c.attnum,
        name: c.name,
        type: c.type,
        typeOid: c.type_oid,
        typeCategory: c.type_category,
        isEnum: c.is_enum,
        notNull: c.not_null,
        defaultExpr: c.default_expr,
        identity: c.identity,
        generated: c.generated,
        comment: c.comment,
        ownedSequence: c.owned_sequence,
      })),
      indexes: indexes.map((i) => ({
        oid: i.oid as number,
        name: i.name as string,
        definition: i.definition as string,
        isUnique: i.is_unique as boolean,
        isPrimary: i.is_primary as boolean,
        isValid: i.is_valid as boolean,
        constraintName: (i.constraint_name as string | null) ?? null,
        constraintType: (i.constraint_type as 'p' | 'u' | 'x' | null) ?? null,
        keyColumns: i.key_columns as (string | null)[],
      })),
      constraints: constraints.map(toConstraint),
      inboundForeignKeys: inbound.map(toConstraint),
      triggers: triggers.map((t) => ({
        name: t.name as string,
        definition: t.definition as string,
        enabled: t.enabled as string,
        hasTransitionTables: t.has_transition_tables as boolean,
        isRowLevel: t.is_row_level as boolean,
        isBefore: t.is_before as boolean,
      })),
      policies: policies.map((p) => ({
        name: p.name as string,
        permissive: p.permissive as string,
        command: p.command as string,
        roles: p.roles as string[],
        using: (p.using_expr as string | null) ?? null,
        withCheck: (p.with_check as string | null) ?? null,
      })),
      dependentViews: views.map((v) => ({
        oid: v.oid as number,
        schema: v.schema as string,
        name: v.name as string,
        kind: v.kind as 'v' | 'm',
        owner: v.owner as string,
        ownedByCurrentUser: v.owned as boolean,
        definition: v.definition as string,
        options: (v.options as string[] | null) ?? null,
        hasDependants: v.has_dependants as boolean,
      })),
      publications: publications.map((p) => p.name),
      grants: grants.map((g) => ({
        grantee: g.grantee as string,
        privilege: g.privilege as string,
        grantable: g.grantable as boolean,
        column: (g.col as string | null) ?? null,
      })),
    };
  } finally {
    await db.query(`SELECT set_config('search_path', $1, false)`, [previousPath]);
  }
}

function toConstraint(c: Record<string, unknown>): ConstraintInfo {
  return {
    name: c.name as string,
    type: c.type as ConstraintInfo['type'],
    definition: c.definition as string,
    validated: c.validated as boolean,
    referencingTable: (c.referencing_table as string | null) ?? null,
  };
}

/** Quotes an identifier like PostgreSQL's quote_ident (for building text we compare, not for SQL we run). */
function quote(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export interface KeyStatistics {
  distinct: number;
  nullFraction: number;
  mostCommon: { value: string; frequency: number }[];
}

/** The planner's statistics for one column (pg_stats), if the table was analyzed. */
export async function columnStatistics(db: Queryable, table: TableName, column: string): Promise<KeyStatistics | null> {
  const { rows } = await db.query<{
    n_distinct: number;
    null_frac: number;
    values: string[] | null;
    freqs: number[] | null;
  }>(
    `SELECT n_distinct, null_frac, most_common_vals::text::text[] AS values, most_common_freqs AS freqs
       FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3 AND NOT inherited`,
    [table.schema, table.name, column],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    distinct: row.n_distinct,
    nullFraction: row.null_frac,
    mostCommon: (row.values ?? []).map((value, i) => ({ value, frequency: row.freqs?.[i] ?? 0 })),
  };
}
