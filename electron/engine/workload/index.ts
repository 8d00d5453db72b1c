// The statements an application runs against a table, and which of them do
// not name the partition key: before a migration (in its plan, where frequent
// ones block it until accepted) and after it (the live table).
import type pg from 'pg';
import type { MigrationTarget, PlanIssue } from '../../../shared/plan.js';
import { displayTableName } from '../../../shared/identifiers.js';
import type { WorkloadReport, WorkloadStatement } from '../../../shared/workload.js';
import { FREQUENT_CALLS } from '../../../shared/workload.js';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import type { TableInfo } from '../catalog.js';
import { analysePlan, IdentifierQuoter, type AnalysisTarget } from './analyse.js';
import { explainStatement } from './explain.js';
import { workloadIssues } from './issues.js';
import { measureKeylessCost } from './probe.js';
import {
  ATTEMPTED_STATEMENTS,
  PLANNED_STATEMENTS,
  readWorkload,
  roleSearchPaths,
  type WorkloadRead,
} from './source.js';

/** Names under which statements reach a relation: its own and those of the views over it. */
async function namesOf(client: pg.ClientBase, oid: number, own: string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT DISTINCT v.relname AS name
       FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
      WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1
        AND v.oid <> $1`,
    [oid],
  );
  return [...new Set([...own, ...rows.map((r) => r.name)])];
}

/**
 * Plans the statements, most called first, until PLANNED_STATEMENTS of them
 * were planned (or ATTEMPTED_STATEMENTS tried); returns the verdicts and the
 * source with what was left over counted.
 */
async function analyseAll(
  client: pg.ClientBase,
  read: WorkloadRead,
  target: AnalysisTarget,
): Promise<{ statements: WorkloadStatement[]; source: WorkloadReport['source'] }> {
  const candidates = read.statements;
  const searchPaths = await roleSearchPaths(client, [...new Set(candidates.map((c) => c.mainRoleOid))]);
  const quoter = new IdentifierQuoter(client);
  const statements: WorkloadStatement[] = [];
  let planned = 0;
  let attempted = 0;
  for (const candidate of candidates) {
    if (planned >= PLANNED_STATEMENTS || attempted >= ATTEMPTED_STATEMENTS) break;
    attempted++;
    const common = {
      queryId: candidate.queryId,
      query: candidate.query,
      roles: candidate.roles,
      calls: candidate.calls,
      totalMs: candidate.totalMs,
      meanMs: candidate.calls > 0 ? candidate.totalMs / candidate.calls : 0,
      expectedMeanMs: null,
      frequent: false,
    };
    const explained = await explainStatement(client, candidate.query, searchPaths.get(candidate.mainRoleOid) ?? null);
    if (!explained.ok) {
      statements.push({ ...common, verdict: 'not_analysed', reason: explained.reason, leaves: null, planningMs: null });
      continue;
    }
    planned++;
    const analysis = await analysePlan(explained.plan, target, quoter);
    if (analysis === null) continue; // it does not read the table
    statements.push({
      ...common,
      ...analysis,
      planningMs: analysis.verdict === 'key' ? null : explained.plan.planningMs,
    });
  }
  const left = candidates.slice(attempted);
  const source = read.source.available
    ? { ...read.source, skipped: { statements: left.length, calls: left.reduce((sum, c) => sum + c.calls, 0) } }
    : read.source;
  return { statements, source };
}

export interface BeforeMigration {
  table: TableInfo;
  keyColumn: string;
  leaves: number;
  levelOne: number;
  /** Buckets of the largest key: the most leaves a statement naming one key reads. */
  leavesPerKey: number;
}

/** Columns that identify a row (what ORMs look rows up by): the primary key, or a unique index. */
function lookupColumns(table: TableInfo): string[] {
  const candidates = [...table.indexes]
    .filter((i) => i.isValid && (i.isPrimary || i.isUnique) && i.keyColumns.every((c) => c !== null))
    .sort((a, b) => Number(b.isPrimary) - Number(a.isPrimary));
  return (candidates[0]?.keyColumns as string[] | undefined) ?? [];
}

/** The workload of a plain table before its migration, with the measured cost of a key-less statement afterwards. */
export async function workloadBeforeMigration(client: pg.ClientBase, input: BeforeMigration): Promise<WorkloadReport> {
  const { table } = input;
  const read = await readWorkload(client, await namesOf(client, table.oid, [table.name]));
  const { statements, source } = await analyseAll(client, read, {
    relations: new Set([`${table.schema}.${table.name}`]),
    keyColumn: input.keyColumn,
    leaves: input.leaves,
    leavesPerKey: input.leavesPerKey,
    relationsAreLeaves: false,
  });
  const keyless = statements.filter((s) => s.verdict === 'keyless' || s.verdict === 'key_at_run_time');
  let cost: WorkloadReport['cost'] = null;
  let costNote: string | null = null;
  const columns = lookupColumns(table);
  if (keyless.length === 0) {
    costNote = null;
  } else if (columns.length === 0) {
    costNote = 'Not measured: the table has no primary key or unique index to look rows up by.';
  } else if (input.leaves < 1) {
    costNote = 'Not measured: the plan predicts no leaves (an empty or unanalysed table).';
  } else {
    try {
      const measured = await measureKeylessCost(client, {
        table,
        lookupColumns: columns,
        leaves: input.leaves,
        levelOne: input.levelOne,
      });
      if (measured.ok) cost = measured.cost;
      else costNote = measured.note;
    } catch (error) {
      // A refusal from the server (no room in the lock table, a read-only session...) leaves the cost unmeasured.
      const { code, message } = error as { code?: string; message?: string };
      if (code === undefined) throw error;
      costNote = `Not measured: ${message}.`;
    }
  }
  const overheadMs = cost
    ? Math.max(0, cost.planningMs + cost.executionMs - cost.todayPlanningMs - cost.todayExecutionMs)
    : null;
  for (const statement of keyless) {
    statement.expectedMeanMs = overheadMs === null ? null : statement.meanMs + overheadMs;
    // A statement that is slow already (a report) is barely changed by the overhead: only lookups fall over.
    statement.frequent = statement.calls >= FREQUENT_CALLS && (overheadMs === null || overheadMs >= statement.meanMs);
  }
  return {
    phase: 'before',
    schema: table.schema,
    table: table.name,
    keyColumn: input.keyColumn,
    leaves: input.leaves,
    source,
    statements,
    cost,
    costNote,
    analysedAt: new Date().toISOString(),
  };
}

export interface ManagedRelation {
  schema: string;
  table: string;
  partitionedTable: string;
  keyColumn: string;
}

/**
 * The workload of a managed table: statements through its routing view or on
 * its partitioned table. Its leaves are found from pg_inherits, which reads the
 * catalog only: pg_partition_tree locks every partition it lists, and so
 * queues behind any one that another session holds, and on a tree larger than
 * the lock table fails with "out of shared memory".
 */
export async function workloadAfterMigration(client: pg.ClientBase, managed: ManagedRelation): Promise<WorkloadReport> {
  const { rows } = await client.query<{ oid: number; leaves: string[]; per_key: number | null }>(
    `WITH RECURSIVE root AS (SELECT to_regclass($1)::oid AS oid),
     tree (parent, relid) AS (
       SELECT i.inhparent, i.inhrelid FROM pg_inherits i JOIN root ON i.inhparent = root.oid
       UNION ALL
       SELECT i.inhparent, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.relid),
     leaves AS (
       SELECT t.parent, n.nspname || '.' || c.relname AS name
         FROM tree t JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind NOT IN ('p', 'I'))
     SELECT root.oid::int AS oid, ARRAY(SELECT name FROM leaves) AS leaves,
            (SELECT max(n) FROM (SELECT count(*)::int AS n FROM leaves GROUP BY parent) per) AS per_key
       FROM root WHERE root.oid IS NOT NULL`,
    [`${ident(managed.schema)}.${ident(managed.partitionedTable)}`],
  );
  if (!rows[0]) {
    throw new PartwiseError('not_found', `${managed.schema}.${managed.partitionedTable} does not exist`);
  }
  const { oid, leaves } = rows[0];
  const read = await readWorkload(client, await namesOf(client, oid, [managed.table, managed.partitionedTable]));
  const { statements, source } = await analyseAll(client, read, {
    relations: new Set(leaves),
    keyColumn: managed.keyColumn,
    leaves: leaves.length,
    leavesPerKey: rows[0].per_key ?? 0,
    relationsAreLeaves: true,
  });
  for (const statement of statements) {
    statement.frequent = statement.verdict !== 'key' && statement.calls >= FREQUENT_CALLS;
  }
  return {
    phase: 'after',
    schema: managed.schema,
    table: managed.table,
    keyColumn: managed.keyColumn,
    leaves: leaves.length,
    source,
    statements,
    cost: null,
    costNote: null,
    analysedAt: new Date().toISOString(),
  };
}

/** The plan's part: the workload before the migration and the issues it raises. */
export async function workloadForPlan(
  client: pg.ClientBase,
  table: TableInfo,
  target: MigrationTarget,
  tree: { leaves: number; levelOne: number; largestKeyRows: number },
  user: string,
): Promise<{ report: WorkloadReport; issues: PlanIssue[] }> {
  const report = await workloadBeforeMigration(client, {
    table,
    keyColumn: target.keyColumn,
    leaves: tree.leaves,
    levelOne: tree.levelOne,
    leavesPerKey: Math.max(1, Math.ceil(tree.largestKeyRows / target.bucketLimit)),
  });
  const context = { tableName: displayTableName(table), user, accepted: target.acceptKeylessQueries === true };
  return { report, issues: workloadIssues(report, context) };
}
