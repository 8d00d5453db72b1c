// Sample workload reports (what pg_stat_statements recorded on a table and
// whether each statement filters by the key), for component tests.
import type { ManagedTable } from '../../shared/explorer';
import type { MigrationPlan } from '../../shared/plan';
import type { WorkloadReport, WorkloadStatement } from '../../shared/workload';

function statement(
  fields: Partial<WorkloadStatement> & Pick<WorkloadStatement, 'query' | 'verdict'>,
): WorkloadStatement {
  return {
    queryId: String(fields.query.length * 7919),
    roles: ['app'],
    calls: 1,
    totalMs: 1,
    meanMs: 1,
    reason: '',
    leaves: null,
    planningMs: null,
    expectedMeanMs: null,
    frequent: false,
    ...fields,
  };
}

export function beforeMigration(leaves: number): WorkloadReport {
  return {
    phase: 'before',
    schema: 'public',
    table: 'custom_module_data',
    keyColumn: 'customer_id',
    leaves,
    source: {
      available: true,
      since: '2025-11-20T08:00:00Z',
      seesAllRoles: true,
      hidden: { statements: 0, calls: 0 },
      skipped: { statements: 0, calls: 0 },
      notes: [],
    },
    statements: [
      statement({
        query: 'SELECT * FROM custom_module_data WHERE id = $1',
        verdict: 'keyless',
        calls: 1_804_220,
        totalMs: 90_211,
        meanMs: 0.05,
        leaves,
        planningMs: 0.04,
        expectedMeanMs: 41.3,
        frequent: true,
        reason: 'Its scan of the table is not restricted by customer_id.',
      }),
      statement({
        query: 'UPDATE custom_module_data SET payload = $1 WHERE id = $2',
        verdict: 'keyless',
        calls: 402_113,
        meanMs: 0.08,
        leaves,
        expectedMeanMs: 41.4,
        frequent: true,
      }),
      statement({
        query: 'SELECT count(*) FROM custom_module_data WHERE created_at > $1',
        verdict: 'keyless',
        calls: 31,
        meanMs: 812,
        leaves,
        expectedMeanMs: 853,
      }),
      statement({
        query: 'SELECT * FROM custom_module_data WHERE customer_id = $1 AND id = $2',
        verdict: 'key',
        calls: 95_000,
        leaves: 3,
      }),
      statement({
        query: 'LOCK TABLE custom_module_data IN SHARE MODE',
        verdict: 'not_analysed',
        reason: 'PostgreSQL cannot prepare it (syntax error at or near "LOCK").',
      }),
    ],
    cost: {
      statement: 'SELECT * FROM public.custom_module_data WHERE id = $1',
      leaves,
      measuredLeaves: 256,
      extrapolated: leaves > 256,
      planningMs: 38.4,
      executionMs: 2.9,
      todayPlanningMs: 0.04,
      todayExecutionMs: 0.02,
    },
    costNote: null,
    analysedAt: '2025-11-24T10:00:00Z',
  };
}

/** A plan with frequent key-less statements: blocked until accepted. */
export function planWithWorkload(plan: MigrationPlan): MigrationPlan {
  const accepted = plan.target.acceptKeylessQueries === true;
  return {
    ...plan,
    workload: beforeMigration(plan.partitions.leaves),
    issues: [
      {
        code: accepted ? 'keyless_queries_accepted' : 'keyless_queries',
        severity: accepted ? 'warning' : 'blocker',
        message: `${accepted ? 'Accepted: ' : ''}2 frequent statements on public.custom_module_data do not filter by customer_id.`,
        fix: 'Add customer_id to the WHERE clause of these statements.',
      },
      ...plan.issues,
    ],
  };
}

export function unavailable(plan: MigrationPlan): MigrationPlan {
  return {
    ...plan,
    workload: {
      ...beforeMigration(plan.partitions.leaves),
      source: {
        available: false,
        reason: 'pg_stat_statements is neither loaded by the server nor created in database app.',
        steps: [
          "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';",
          'CREATE EXTENSION pg_stat_statements;',
        ],
      },
      statements: [],
      cost: null,
    },
  };
}

export function liveWorkload(table: ManagedTable): WorkloadReport {
  const report = beforeMigration(table.leaves);
  return {
    ...report,
    phase: 'after',
    schema: table.schema,
    table: table.table,
    keyColumn: table.keyColumn,
    cost: null,
    statements: report.statements.map((s) => ({
      ...s,
      expectedMeanMs: null,
      planningMs: s.verdict === 'keyless' ? 39.2 : null,
    })),
  };
}
