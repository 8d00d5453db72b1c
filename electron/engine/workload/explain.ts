// Asking the planner about a statement from pg_stat_statements, whose
// constants are replaced by $1, $2...: PREPARE infers the parameters' types,
// and EXPLAIN of its generic plan (plan_cache_mode = force_generic_plan) with
// NULL arguments shows how it is planned whatever the values. Partition
// pruning is switched off so that every leaf the statement could read shows,
// with its conditions. Nothing is executed: EXPLAIN without ANALYZE, in a
// read-only transaction that is rolled back, with short lock and statement
// timeouts so that the analysis never queues behind (and so blocks) others.
import type pg from 'pg';
import { OWN_STATEMENT_MARKER } from './source.js';

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  'Subplan Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Filter?: string;
  'TID Cond'?: string;
  Plans?: PlanNode[];
}

export interface ExplainedStatement {
  root: PlanNode;
  planningMs: number;
}

export type Explained = { ok: true; plan: ExplainedStatement } | { ok: false; reason: string };

export const EXPLAIN_TIMEOUTS = { statementMs: 10_000, lockMs: 500 };

/** Plans `query` under `searchPath` (null: the session's own) and returns its plan, or why it could not. */
export async function explainStatement(
  client: pg.ClientBase,
  query: string,
  searchPath: string | null,
): Promise<Explained> {
  let prepared = false;
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(
      `SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),
              set_config('plan_cache_mode', 'force_generic_plan', true),
              set_config('enable_partition_pruning', 'off', true)`,
      [`${EXPLAIN_TIMEOUTS.statementMs}ms`, `${EXPLAIN_TIMEOUTS.lockMs}ms`],
    );
    if (searchPath !== null) await client.query(`SELECT set_config('search_path', $1, true)`, [searchPath]);
    // The extended protocol refuses a text holding more than one statement.
    const prepare = { text: `PREPARE ${OWN_STATEMENT_MARKER} AS ${query}`, queryMode: 'extended' };
    await client.query(prepare as pg.QueryConfig);
    prepared = true;
    const { rows } = await client.query<{ n: number }>(
      `SELECT cardinality(parameter_types) AS n FROM pg_prepared_statements WHERE name = $1`,
      [OWN_STATEMENT_MARKER],
    );
    const args = Array.from({ length: rows[0]?.n ?? 0 }, () => 'NULL').join(', ');
    const { rows: explained } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Planning Time': number }] }>(
      `EXPLAIN (VERBOSE, FORMAT JSON, SUMMARY) EXECUTE ${OWN_STATEMENT_MARKER}${args ? `(${args})` : ''}`,
    );
    const result = explained[0]!['QUERY PLAN'][0];
    return { ok: true, plan: { root: result.Plan, planningMs: result['Planning Time'] } };
  } catch (error) {
    return { ok: false, reason: describeFailure(error, searchPath) };
  } finally {
    await client.query('ROLLBACK');
    if (prepared) await client.query(`DEALLOCATE ${OWN_STATEMENT_MARKER}`);
  }
}

function describeFailure(error: unknown, searchPath: string | null): string {
  const e = error as { code?: string; message?: string };
  const message = e.message ?? String(error);
  switch (e.code) {
    case '42601':
      return `PostgreSQL cannot prepare it (${message}): utility and DDL statements are not planned, and some normalized texts do not parse again.`;
    case '42P01':
    case '42883':
      return `${message}${searchPath !== null ? ` with the role's search_path (${searchPath})` : " with this session's search_path"}; it may name another role's temporary table, or set its own search_path when it connects.`;
    case '42P18':
      return `PostgreSQL cannot infer the type of one of its parameters (${message}).`;
    case '42501':
      return `${message}: the role planning it lacks a privilege the statement needs.`;
    case '55P03':
      return `Another session holds a lock on a relation it uses (waited ${EXPLAIN_TIMEOUTS.lockMs} ms).`;
    case '53200':
      return `The lock table ran out of room planning it (${message}): it locks every leaf and index at once, as it will for the application. Raise max_locks_per_transaction.`;
    case '57014':
      return `Planning took longer than ${EXPLAIN_TIMEOUTS.statementMs / 1000} s.`;
    default:
      return message;
  }
}

/** Every node of a plan, depth first. */
export function planNodes(root: PlanNode): PlanNode[] {
  const nodes: PlanNode[] = [];
  const visit = (node: PlanNode): void => {
    nodes.push(node);
    for (const child of node.Plans ?? []) visit(child);
  };
  visit(root);
  return nodes;
}
