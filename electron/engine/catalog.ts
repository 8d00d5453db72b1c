// The one module that reads PostgreSQL's catalog: what a table is made of
// (columns, keys, indexes, constraints, triggers, policies, dependants,
// grants, sequences) and the statistics a plan needs. Read-only.
import type pg from 'pg';
import { PartwiseError } from '../db/errors.js';
import type { TableName } from '../../shared/identifiers.js';
import { derivedName } from './names.js';

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
}

/** One key column of an index, as pg_index records it. */
export interface IndexColumn {
  /** The table column, or null for an expression. */
  column: string | null;
  /** The expression as pg_get_indexdef(index, n, true) prints it (parenthesized where the syntax needs it). */
  expression: string | null;
  /** Qualified, quoted collation; null when the key type is not collatable. */
  collation: string | null;
  /** Qualified, quoted operator class. */
  opclass: string;
  /** The operator class's parameters (PostgreSQL 13+), e.g. `siglen=32`. */
  opclassOptions: string[] | null;
  /** Whether the operator class is its type's default one. */
  opclassDefault: boolean;
  /** A table column compared with the column's own collation (or not collatable). */
  columnCollation: boolean;
  descending: boolean;
  nullsFirst: boolean;
}

export interface IndexInfo {
  oid: number;
  name: string;
  /** pg_get_indexdef output: for display and comparison only, never edited into DDL. */
  definition: string;
  isUnique: boolean;
  isPrimary: boolean;
  /** Name of the PRIMARY KEY / UNIQUE / EXCLUDE constraint backed by this index, if any. */
  constraintName: string | null;
  constraintType: 'p' | 'u' | 'x' | null;
  /** Key columns by name; null entries are expressions. */
  keyColumns: (string | null)[];
  isValid: boolean;
  /** Access method (btree, gin, gist...). */
  method: string;
  /** Whether the access method orders keys (DESC and NULLS FIRST/LAST apply). */
  ordered: boolean;
  columns: IndexColumn[];
  /** INCLUDE columns. */
  include: string[];
  nullsNotDistinct: boolean;
  /** Storage parameters of the index (`fillfactor=70`). */
  reloptions: string[] | null;
  /** Quoted tablespace, when not the database's default. */
  tablespace: string | null;
  /** WHERE clause of a partial index (pg_get_expr of indpred). */
  predicate: string | null;
  /** DEFERRABLE / INITIALLY DEFERRED of the backing constraint. */
  deferrable: boolean;
  deferred: boolean;
  /** A PostgreSQL 18 temporal constraint (WITHOUT OVERLAPS). */
  temporal: boolean;
  comment: string | null;
  /** Comment on the backing constraint. */
  constraintComment: string | null;
  /** Bytes on disk (what a registry of its columns would need, roughly). */
  bytes: number;
}

export interface ConstraintInfo {
  oid: number;
  name: string;
  type: 'c' | 'f' | 'p' | 'u' | 'x' | 't' | 'n';
  definition: string;
  validated: boolean;
  /** For foreign keys pointing at this table: the referencing table. */
  referencingTable: string | null;
  deferrable: boolean;
  deferred: boolean;
  noInherit: boolean;
  /** False for PostgreSQL 18 NOT ENFORCED constraints. */
  enforced: boolean;
  /** CHECK: the expression (pg_get_expr of conbin). */
  expression: string | null;
  /** Constrained columns (conkey), in order. */
  columns: string[];
  /** FOREIGN KEY: the referenced table (qualified, quoted), its columns, match type and actions. */
  referencedTable: string | null;
  referencedColumns: string[];
  matchType: 'f' | 'p' | 's' | null;
  onUpdate: ForeignKeyAction | null;
  onDelete: ForeignKeyAction | null;
  /** ON DELETE SET NULL / SET DEFAULT (columns) (PostgreSQL 15+). */
  deleteSetColumns: string[];
  /** PostgreSQL 18 temporal constraint (WITHOUT OVERLAPS / PERIOD). */
  temporal: boolean;
  comment: string | null;
}

/** pg_constraint.confupdtype / confdeltype. */
export type ForeignKeyAction = 'a' | 'r' | 'c' | 'n' | 'd';

/**
 * A trigger, field by field from pg_trigger. Every identifier comes quoted by
 * the server's own quote_ident, so that the statement pg_get_triggerdef would
 * print can be rebuilt from these parts exactly (see trigger-ddl.ts).
 */
export interface TriggerInfo {
  oid: number;
  name: string;
  /** The name as quote_ident spells it. */
  quotedName: string;
  /** pg_get_triggerdef output, for display and to read the WHEN clause from. */
  definition: string;
  enabled: string;
  hasTransitionTables: boolean;
  isRowLevel: boolean;
  isBefore: boolean;
  timing: 'BEFORE' | 'AFTER' | 'INSTEAD OF';
  events: ('INSERT' | 'DELETE' | 'UPDATE' | 'TRUNCATE')[];
  /** UPDATE OF columns, quoted. */
  updateColumns: string[];
  /** Transition tables, quoted. */
  oldTable: string | null;
  newTable: string | null;
  isConstraint: boolean;
  /** CONSTRAINT trigger's FROM table, as regclass prints it. */
  constraintFrom: string | null;
  deferrable: boolean;
  deferred: boolean;
  /** The function, always schema-qualified and quoted (for running). */
  functionName: string;
  /** The function as pg_get_triggerdef prints it (for verifying). */
  functionDisplay: string;
  /** Arguments as literals for running (quote_literal) and as pg_get_triggerdef prints them. */
  argumentLiterals: string[];
  argumentDisplay: string[];
  hasWhen: boolean;
  /** The table as pg_get_triggerdef prints it (always qualified). */
  tableDisplay: string;
  comment: string | null;
}

export interface PolicyInfo {
  name: string;
  comment: string | null;
  permissive: string;
  command: string;
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

export interface SubscriptionInfo {
  name: string;
  /** Whether its apply worker runs (a disabled one applies when enabled again). */
  enabled: boolean;
  /** The publications it subscribes to, on the publisher (one or more of them publish the table). */
  publications: string[];
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

/** A sequence a column draws from: its own (serial, OWNED BY the column) or its identity sequence. */
export interface SequenceInfo {
  column: string;
  kind: 'serial' | 'identity';
  /** GENERATED ALWAYS ('a') or BY DEFAULT ('d'), for identity columns. */
  generated: '' | 'a' | 'd';
  schema: string;
  name: string;
  /** Quoted and qualified. */
  qualified: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  comment: string | null;
  /** Privileges granted on it to roles other than its owner. */
  grants: { grantee: string; privilege: string; grantable: boolean }[];
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
  /**
   * Whether the current role may give a relation to the table's owner (ALTER ... OWNER TO it). On
   * PostgreSQL 16 and later that takes the SET option of the membership (GRANT ... WITH SET), which a
   * role can lack while still holding the owner's rights (INHERIT). Before 16, membership alone.
   */
  canGiveToOwner: boolean;
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
  /** Subscriptions of this database that replicate into the table (pg_subscription_rel). */
  subscriptions: SubscriptionInfo[];
  grants: GrantInfo[];
  sequences: SequenceInfo[];
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

/**
 * Leaves of one key that one transaction of a migration may lock, each with
 * `indexesPerLeaf` indexes: three quarters of a share (lockBudget), the rest
 * left to what a statement locks beside them (the partitioned table, the
 * key's partition, the original and its indexes, the catalogs). A key with
 * more buckets is provisioned, copied, indexed and verified a range of its
 * buckets per transaction.
 */
export function leavesPerTransaction(server: ServerInfo, workers: number, indexesPerLeaf: number): number {
  return Math.max(1, Math.floor((lockBudget(server, workers) * 3) / 4 / (1 + indexesPerLeaf)));
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
  return withEmptySearchPath(db, async () => ({
    ...(await readRelation(db, oid)),
    columns: await readColumns(db, oid),
    indexes: await readIndexes(db, oid),
    constraints: await readConstraints(db, oid),
    inboundForeignKeys: await readInboundForeignKeys(db, oid),
    triggers: await readTriggers(db, oid),
    policies: await readPolicies(db, oid),
    dependentViews: await readDependentViews(db, oid),
    publications: await readPublications(db, oid),
    subscriptions: await readSubscriptions(db, oid),
    grants: await readGrants(db, oid),
    sequences: await readSequences(db, oid),
  }));
}

/**
 * Definitions (views, indexes, triggers...) are printed with an empty
 * search_path so that every name in them is schema-qualified and can be
 * replayed from any session. `db` must therefore be one connection, not a pool.
 */
async function withEmptySearchPath<T>(db: pg.ClientBase, read: () => Promise<T>): Promise<T> {
  const previousPath = (await db.query<{ path: string }>(`SELECT current_setting('search_path') AS path`)).rows[0]!
    .path;
  await db.query(`SELECT set_config('search_path', '', false)`);
  try {
    return await read();
  } finally {
    await db.query(`SELECT set_config('search_path', $1, false)`, [previousPath]);
  }
}

type RelationInfo = Omit<
  TableInfo,
  | 'columns'
  | 'indexes'
  | 'constraints'
  | 'inboundForeignKeys'
  | 'triggers'
  | 'policies'
  | 'dependentViews'
  | 'publications'
  | 'subscriptions'
  | 'grants'
  | 'sequences'
>;

async function catalogRows<T extends pg.QueryResultRow = pg.QueryResultRow>(
  db: Queryable,
  oid: number,
  text: string,
): Promise<T[]> {
  return (await db.query<T>(text, [oid])).rows;
}

/** What pg_class says of the table itself: kind, owner, sizes, options, comment. */
async function readRelation(db: Queryable, oid: number): Promise<RelationInfo> {
  const rows = await catalogRows(
    db,
    oid,
    `SELECT c.oid::int, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified, c.relpersistence AS persistence,
            c.relispartition AS is_partition,
            EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS has_parents,
            EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid) AS has_children,
            pg_get_userbyid(c.relowner) AS owner,
            pg_has_role(c.relowner, 'USAGE') AS owned,
            -- 'SET' is no privilege name before 16; the CASE evaluates only the branch of this server.
            CASE WHEN current_setting('server_version_num')::int >= 160000 THEN pg_has_role(c.relowner, 'SET')
                 ELSE pg_has_role(c.relowner, 'MEMBER') END AS can_give_to_owner,
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
  );
  const b = rows[0]!;
  return {
    oid: b.oid,
    schema: b.schema,
    name: b.name,
    qualified: b.qualified,
    kind: b.kind,
    persistence: b.persistence,
    isPartition: b.is_partition,
    hasInheritanceParents: b.has_parents,
    hasInheritanceChildren: b.has_children,
    owner: b.owner,
    ownedByCurrentUser: b.owned,
    canGiveToOwner: b.can_give_to_owner,
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
  };
}

async function readColumns(db: Queryable, oid: number): Promise<ColumnInfo[]> {
  const rows = await catalogRows(
    db,
    oid,
    `SELECT a.attnum, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int AS type_oid,
            t.typcategory AS type_category, t.typtype = 'e' AS is_enum,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
            a.attidentity AS identity, a.attgenerated AS generated,
            col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
  );
  return rows.map((c) => ({
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
  }));
}

async function readIndexes(db: Queryable, oid: number): Promise<IndexInfo[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT i.indexrelid::int AS oid, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
              i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
              con.conname AS constraint_name, con.contype AS constraint_type,
              coalesce(con.condeferrable, false) AS deferrable, coalesce(con.condeferred, false) AS deferred,
              coalesce((to_jsonb(con) ->> 'conperiod')::boolean, false) AS temporal,
              ARRAY(SELECT CASE WHEN k = 0 THEN NULL ELSE (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = k) END
                      FROM unnest(i.indkey[0:i.indnkeyatts - 1]) k)::text[] AS key_columns,
              am.amname AS method, pg_indexam_has_property(am.oid, 'can_order') AS ordered,
              coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
              ic.reloptions, CASE WHEN ic.reltablespace <> 0 THEN quote_ident(ts.spcname) END AS tablespace,
              pg_get_expr(i.indpred, i.indrelid) AS predicate,
              obj_description(i.indexrelid, 'pg_class') AS comment,
              obj_description(con.oid, 'pg_constraint') AS constraint_comment,
              pg_relation_size(i.indexrelid)::float8 AS bytes,
              (SELECT json_agg(json_build_object(
                        'column', a.attname,
                        'expression', CASE WHEN k.attnum = 0 THEN pg_get_indexdef(i.indexrelid, k.n::int, true) END,
                        'collation', (SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname)
                                        FROM pg_collation c JOIN pg_namespace cn ON cn.oid = c.collnamespace WHERE c.oid = k.coll),
                        'opclass', (SELECT quote_ident(opn.nspname) || '.' || quote_ident(op.opcname)
                                      FROM pg_opclass op JOIN pg_namespace opn ON opn.oid = op.opcnamespace WHERE op.oid = k.opclass),
                        'opclassOptions', ia.attoptions,
                        'opclassDefault', (SELECT op.opcdefault FROM pg_opclass op WHERE op.oid = k.opclass),
                        'columnCollation', k.attnum <> 0 AND k.coll = a.attcollation,
                        'descending', (k.option & 1) = 1,
                        'nullsFirst', (k.option & 2) = 2) ORDER BY k.n)
                 FROM unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[], i.indoption::int2[])
                        WITH ORDINALITY k(attnum, opclass, coll, option, n)
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
                 LEFT JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k.n
                WHERE k.n <= i.indnkeyatts) AS columns,
              ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE k.n > i.indnkeyatts ORDER BY k.n)::text[] AS include
         FROM pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_am am ON am.oid = ic.relam
         LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = $1
        ORDER BY i.indisprimary DESC, ic.relname`,
  );
  return rows.map((i) => ({
    oid: i.oid as number,
    name: i.name as string,
    definition: i.definition as string,
    isUnique: i.is_unique as boolean,
    isPrimary: i.is_primary as boolean,
    isValid: i.is_valid as boolean,
    constraintName: (i.constraint_name as string | null) ?? null,
    constraintType: (i.constraint_type as 'p' | 'u' | 'x' | null) ?? null,
    keyColumns: i.key_columns as (string | null)[],
    method: i.method as string,
    ordered: i.ordered as boolean,
    columns: ((i.columns as IndexColumn[] | null) ?? []).map((c) => ({
      column: c.column ?? null,
      expression: c.expression ?? null,
      collation: c.collation ?? null,
      opclass: c.opclass,
      opclassOptions: c.opclassOptions ?? null,
      opclassDefault: c.opclassDefault,
      columnCollation: c.columnCollation,
      descending: c.descending,
      nullsFirst: c.nullsFirst,
    })),
    include: i.include as string[],
    nullsNotDistinct: i.nulls_not_distinct as boolean,
    reloptions: (i.reloptions as string[] | null) ?? null,
    tablespace: (i.tablespace as string | null) ?? null,
    predicate: (i.predicate as string | null) ?? null,
    deferrable: i.deferrable as boolean,
    deferred: i.deferred as boolean,
    temporal: i.temporal as boolean,
    comment: (i.comment as string | null) ?? null,
    constraintComment: (i.constraint_comment as string | null) ?? null,
    bytes: Number(i.bytes),
  }));
}

const CONSTRAINT_COLUMNS = `con.oid::int AS oid, con.conname AS name, con.contype AS type, pg_get_constraintdef(con.oid) AS definition,
              con.convalidated AS validated, con.condeferrable AS deferrable, con.condeferred AS deferred,
              con.connoinherit AS no_inherit, coalesce((to_jsonb(con) ->> 'conenforced')::boolean, true) AS enforced,
              coalesce((to_jsonb(con) ->> 'conperiod')::boolean, false) AS temporal,
              CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END AS expression,
              ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns,
              CASE WHEN con.confrelid <> 0 THEN con.confrelid::regclass::text END AS referenced_table,
              ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS referenced_columns,
              CASE WHEN con.contype = 'f' THEN con.confmatchtype END AS match_type,
              CASE WHEN con.contype = 'f' THEN con.confupdtype END AS on_update,
              CASE WHEN con.contype = 'f' THEN con.confdeltype END AS on_delete,
              ARRAY(SELECT a.attname FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(to_jsonb(con) -> 'confdelsetcols') = 'array' THEN to_jsonb(con) -> 'confdelsetcols' ELSE '[]' END) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum::int2 ORDER BY k.n)::text[] AS delete_set_columns,
              obj_description(con.oid, 'pg_constraint') AS comment`;

async function readConstraints(db: Queryable, oid: number): Promise<ConstraintInfo[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT ${CONSTRAINT_COLUMNS}, NULL::text AS referencing_table
         FROM pg_constraint con WHERE con.conrelid = $1 ORDER BY con.conname`,
  );
  return rows.map(toConstraint);
}

/** Foreign keys of other tables that reference this one. */
async function readInboundForeignKeys(db: Queryable, oid: number): Promise<ConstraintInfo[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT ${CONSTRAINT_COLUMNS}, con.conrelid::regclass::text AS referencing_table
         FROM pg_constraint con WHERE con.confrelid = $1 AND con.contype = 'f' AND con.conrelid <> $1
         ORDER BY con.conname`,
  );
  return rows.map(toConstraint);
}

async function readTriggers(db: Queryable, oid: number): Promise<TriggerInfo[]> {
  // Identifiers come quoted by the server's quote_ident, relations and
  // functions as regclass and regproc print them (qualified when not
  // visible; the search_path is empty here): the rules pg_get_triggerdef
  // follows, so that its text can be checked against a statement built from
  // these fields. Arguments are split from tgargs at their zero bytes.
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT t.oid::int AS oid, t.tgname AS name, quote_ident(t.tgname) AS quoted_name,
              pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled,
              (t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL) AS has_transition_tables,
              (t.tgtype & 1) = 1 AS is_row_level, (t.tgtype & 2) = 2 AS is_before,
              CASE WHEN (t.tgtype & 2) = 2 THEN 'BEFORE' WHEN (t.tgtype & 64) = 64 THEN 'INSTEAD OF' ELSE 'AFTER' END AS timing,
              array_remove(ARRAY[CASE WHEN (t.tgtype & 4) = 4 THEN 'INSERT' END, CASE WHEN (t.tgtype & 8) = 8 THEN 'DELETE' END,
                                 CASE WHEN (t.tgtype & 16) = 16 THEN 'UPDATE' END, CASE WHEN (t.tgtype & 32) = 32 THEN 'TRUNCATE' END],
                           NULL) AS events,
              ARRAY(SELECT quote_ident(a.attname) FROM unnest(t.tgattr::int2[]) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS update_columns,
              quote_ident(t.tgoldtable) AS old_table, quote_ident(t.tgnewtable) AS new_table,
              t.tgconstraint <> 0 AS is_constraint,
              CASE WHEN t.tgconstrrelid <> 0 THEN t.tgconstrrelid::regclass::text END AS constraint_from,
              t.tgdeferrable AS deferrable, t.tginitdeferred AS deferred,
              quote_ident(pn.nspname) || '.' || quote_ident(p.proname) AS function_name,
              t.tgfoid::regproc::text AS function_display,
              ARRAY(SELECT quote_literal(u.arg) FROM unnest(args.list) WITH ORDINALITY u(arg, n) ORDER BY u.n)::text[] AS argument_literals,
              ARRAY(SELECT $q$'$q$ || CASE WHEN current_setting('standard_conforming_strings') = 'on' THEN replace(u.arg, $q$'$q$, $q$''$q$)
                                         ELSE replace(replace(u.arg, $q$\\$q$, $q$\\\\$q$), $q$'$q$, $q$''$q$) END || $q$'$q$
                      FROM unnest(args.list) WITH ORDINALITY u(arg, n) ORDER BY u.n)::text[] AS argument_display,
              t.tgqual IS NOT NULL AS has_when,
              quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) AS table_display,
              obj_description(t.oid, 'pg_trigger') AS comment
         FROM pg_trigger t
         JOIN pg_class tc ON tc.oid = t.tgrelid
         JOIN pg_namespace tn ON tn.oid = tc.relnamespace
         JOIN pg_proc p ON p.oid = t.tgfoid
         JOIN pg_namespace pn ON pn.oid = p.pronamespace
         CROSS JOIN LATERAL (
           SELECT ARRAY(SELECT convert_from(substring(t.tgargs FROM z.previous + 2 FOR z.position - z.previous - 1), getdatabaseencoding())
                          FROM (SELECT b.position, lag(b.position, 1, -1) OVER (ORDER BY b.position) AS previous
                                  FROM generate_series(0, length(t.tgargs) - 1) b(position)
                                 WHERE get_byte(t.tgargs, b.position) = 0) z
                         ORDER BY z.position)::text[] AS list) args
        WHERE t.tgrelid = $1 AND NOT t.tgisinternal ORDER BY t.tgname`,
  );
  return rows.map((t) => ({
    oid: t.oid as number,
    name: t.name as string,
    quotedName: t.quoted_name as string,
    definition: t.definition as string,
    enabled: t.enabled as string,
    hasTransitionTables: t.has_transition_tables as boolean,
    isRowLevel: t.is_row_level as boolean,
    isBefore: t.is_before as boolean,
    timing: t.timing as TriggerInfo['timing'],
    events: t.events as TriggerInfo['events'],
    updateColumns: t.update_columns as string[],
    oldTable: (t.old_table as string | null) ?? null,
    newTable: (t.new_table as string | null) ?? null,
    isConstraint: t.is_constraint as boolean,
    constraintFrom: (t.constraint_from as string | null) ?? null,
    deferrable: t.deferrable as boolean,
    deferred: t.deferred as boolean,
    functionName: t.function_name as string,
    functionDisplay: t.function_display as string,
    argumentLiterals: t.argument_literals as string[],
    argumentDisplay: t.argument_display as string[],
    hasWhen: t.has_when as boolean,
    tableDisplay: t.table_display as string,
    comment: (t.comment as string | null) ?? null,
  }));
}

async function readPolicies(db: Queryable, oid: number): Promise<PolicyInfo[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT p.polname AS name, CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END AS permissive,
              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
              ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END FROM unnest(p.polroles) r) AS roles,
              pg_get_expr(p.polqual, p.polrelid) AS using_expr, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check,
              obj_description(p.oid, 'pg_policy') AS comment
         FROM pg_policy p WHERE p.polrelid = $1 ORDER BY p.polname`,
  );
  return rows.map((p) => ({
    name: p.name as string,
    comment: (p.comment as string | null) ?? null,
    permissive: p.permissive as string,
    command: p.command as string,
    roles: p.roles as string[],
    using: (p.using_expr as string | null) ?? null,
    withCheck: (p.with_check as string | null) ?? null,
  }));
}

/** Views and materialized views whose rules read the table. */
async function readDependentViews(db: Queryable, oid: number): Promise<DependentView[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
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
  return rows.map((v) => ({
    oid: v.oid as number,
    schema: v.schema as string,
    name: v.name as string,
    kind: v.kind as 'v' | 'm',
    owner: v.owner as string,
    ownedByCurrentUser: v.owned as boolean,
    definition: v.definition as string,
    options: (v.options as string[] | null) ?? null,
    hasDependants: v.has_dependants as boolean,
  }));
}

async function readPublications(db: Queryable, oid: number): Promise<string[]> {
  const rows = await catalogRows<{ name: string }>(
    db,
    oid,
    `SELECT p.pubname AS name FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
        WHERE pr.prrelid = $1
       UNION
       SELECT p.pubname FROM pg_publication p WHERE p.puballtables AND $1::oid IS NOT NULL
       ORDER BY 1`,
  );
  return rows.map((p) => p.name);
}

/**
 * The subscriptions whose apply worker writes into the table. The table's
 * owner plans as an ordinary role, and pg_subscription lets it read only some
 * columns (never subconninfo; not even oid before 14, so it cannot be joined
 * on): the subscription's name comes from pg_stat_subscription, a view every
 * role may read (a row per worker, hence DISTINCT), and the rest from
 * pg_subscription by database and name, which identify it.
 */
async function readSubscriptions(db: Queryable, oid: number): Promise<SubscriptionInfo[]> {
  const rows = await catalogRows<{ name: string; enabled: boolean; publications: string[] }>(
    db,
    oid,
    `SELECT DISTINCT st.subname AS name, s.subenabled AS enabled, s.subpublications AS publications
       FROM pg_subscription_rel sr
       JOIN pg_stat_subscription st ON st.subid = sr.srsubid
       JOIN pg_subscription s ON s.subname = st.subname
            AND s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
      WHERE sr.srrelid = $1
      ORDER BY 1`,
  );
  return rows.map((s) => ({ name: s.name, enabled: s.enabled, publications: s.publications }));
}

/** Table and column privileges held by roles other than the owner. */
async function readGrants(db: Queryable, oid: number): Promise<GrantInfo[]> {
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
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
  return rows.map((g) => ({
    grantee: g.grantee as string,
    privilege: g.privilege as string,
    grantable: g.grantable as boolean,
    column: (g.col as string | null) ?? null,
  }));
}

async function readSequences(db: Queryable, oid: number): Promise<SequenceInfo[]> {
  // The sequences the columns draw from: a serial column's (OWNED BY it,
  // dependency 'a') and an identity column's (dependency 'i').
  const rows = await catalogRows<Record<string, unknown>>(
    db,
    oid,
    `SELECT a.attname AS column, CASE WHEN d.deptype = 'i' THEN 'identity' ELSE 'serial' END AS kind,
              a.attidentity AS generated, sn.nspname AS schema, s.relname AS name,
              quote_ident(sn.nspname) || '.' || quote_ident(s.relname) AS qualified,
              q.seqstart::text AS start, q.seqincrement::text AS increment, q.seqmin::text AS min, q.seqmax::text AS max,
              q.seqcache::text AS cache, q.seqcycle AS cycle,
              obj_description(s.oid, 'pg_class') AS comment,
              coalesce((SELECT json_agg(json_build_object(
                          'grantee', CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(g.grantee) END,
                          'privilege', g.privilege_type, 'grantable', g.is_grantable))
                          FROM aclexplode(s.relacl) g WHERE g.grantee <> s.relowner), '[]') AS grants
         FROM pg_depend d
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
         JOIN pg_namespace sn ON sn.oid = s.relnamespace
         JOIN pg_sequence q ON q.seqrelid = s.oid
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = $1 AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
        ORDER BY a.attnum`,
  );
  return rows.map((q) => ({
    column: q.column as string,
    kind: q.kind as SequenceInfo['kind'],
    generated: q.generated as SequenceInfo['generated'],
    schema: q.schema as string,
    name: q.name as string,
    qualified: q.qualified as string,
    start: q.start as string,
    increment: q.increment as string,
    min: q.min as string,
    max: q.max as string,
    cache: q.cache as string,
    cycle: q.cycle as boolean,
    comment: (q.comment as string | null) ?? null,
    grants: q.grants as SequenceInfo['grants'],
  }));
}

function toConstraint(c: Record<string, unknown>): ConstraintInfo {
  return {
    oid: c.oid as number,
    name: c.name as string,
    type: c.type as ConstraintInfo['type'],
    definition: c.definition as string,
    validated: c.validated as boolean,
    referencingTable: (c.referencing_table as string | null) ?? null,
    deferrable: c.deferrable as boolean,
    deferred: c.deferred as boolean,
    noInherit: c.no_inherit as boolean,
    enforced: c.enforced as boolean,
    expression: (c.expression as string | null) ?? null,
    columns: c.columns as string[],
    referencedTable: (c.referenced_table as string | null) ?? null,
    referencedColumns: c.referenced_columns as string[],
    matchType: (c.match_type as ConstraintInfo['matchType']) ?? null,
    onUpdate: (c.on_update as ForeignKeyAction | null) ?? null,
    onDelete: (c.on_delete as ForeignKeyAction | null) ?? null,
    deleteSetColumns: c.delete_set_columns as string[],
    temporal: c.temporal as boolean,
    comment: (c.comment as string | null) ?? null,
  };
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

/**
 * The columns that identify a row: the primary key, else a unique index on
 * NOT NULL columns (not partial, no expressions). Change capture logs rows by
 * them; empty when the table has neither.
 */
export function rowIdentity(info: TableInfo): string[] {
  const primary = info.indexes.find((i) => i.isPrimary && i.isValid);
  if (primary) return primary.keyColumns as string[];
  const unique = info.indexes.find(
    (i) =>
      i.isUnique &&
      i.isValid &&
      i.predicate === null &&
      i.keyColumns.every((c) => c !== null && info.columns.find((col) => col.name === c)?.notNull),
  );
  return unique ? (unique.keyColumns as string[]) : [];
}

/**
 * `base` + `suffix` (within 63 bytes) if no relation of `schema` has that
 * name, else the first free one of `base` + `suffix` + `_2`, `_3`... Names the
 * migration gives objects it creates beside the application's.
 */
export async function freeRelationName(db: Queryable, schema: string, base: string, suffix: string): Promise<string> {
  const candidates = Array.from({ length: 20 }, (_, i) => derivedName(base, i === 0 ? suffix : `${suffix}_${i + 1}`));
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY ($2)`,
    [schema, candidates],
  );
  const taken = new Set(rows.map((r) => r.name));
  const free = candidates.find((name) => !taken.has(name));
  if (!free) throw new PartwiseError('conflict', `No free name for ${base}${suffix} in schema ${schema}`);
  return free;
}
