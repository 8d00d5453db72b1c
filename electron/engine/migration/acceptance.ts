// Plan blockers a user may accept for a run, recorded with the run: that they
// were accepted when it started (so that a resumed run honours it), and what
// exactly was accepted once its table is prepared (the statements and the
// measured cost as the plan saw them then).
import type pg from 'pg';
import type { MigrationPlan, MigrationTarget } from '../../../shared/plan.js';
import { keylessStatements, statementPreview } from '../../../shared/workload.js';
import { ident } from '../../db/sql.js';
import type { TargetContext } from './context.js';

export type AcceptableIssue = 'keyless_queries';

function accepted(target: MigrationTarget): AcceptableIssue[] {
  return target.acceptKeylessQueries ? ['keyless_queries'] : [];
}

/** Records, for each target of a new run, the blockers its user accepted. */
export async function recordAcceptances(
  client: pg.ClientBase,
  installSchema: string,
  runId: number,
  targets: readonly MigrationTarget[],
): Promise<void> {
  for (const [index, target] of targets.entries()) {
    for (const code of accepted(target)) {
      await client.query(
        `INSERT INTO ${ident(installSchema)}.migration_acceptance (run_id, target_no, code) VALUES ($1, $2, $3)`,
        [runId, index + 1, code],
      );
    }
  }
}

export async function acceptedIssues(
  client: pg.ClientBase,
  installSchema: string,
  runId: number,
  targetNo: number,
): Promise<Set<AcceptableIssue>> {
  const { rows } = await client.query<{ code: AcceptableIssue }>(
    `SELECT code FROM ${ident(installSchema)}.migration_acceptance WHERE run_id = $1 AND target_no = $2`,
    [runId, targetNo],
  );
  return new Set(rows.map((r) => r.code));
}

/** Keeps what the plan showed of an accepted blocker with the run, and says so in the run's log. */
export async function recordAcceptedWorkload(
  context: TargetContext,
  client: pg.ClientBase,
  plan: MigrationPlan,
): Promise<void> {
  const workload = plan.workload;
  if (!workload || !plan.issues.some((issue) => issue.code === 'keyless_queries_accepted')) return;
  const statements = keylessStatements(workload);
  const { target, options, reporter } = context;
  const { rows } = await client.query<{ accepted_by: string }>(
    `UPDATE ${ident(options.installSchema)}.migration_acceptance SET detail = $4
      WHERE run_id = $1 AND target_no = $2 AND code = $3 RETURNING accepted_by`,
    [
      target.runId,
      target.targetNo,
      'keyless_queries',
      JSON.stringify({ leaves: workload.leaves, cost: workload.cost, statements }),
    ],
  );
  const top = statements[0]!;
  reporter.log(
    'warn',
    `${rows[0]?.accepted_by ?? 'the user'} accepted ${statements.length} statement${statements.length === 1 ? '' : 's'} that do not filter by ${target.keyColumn} and will read all ${workload.leaves} leaves; most called: "${statementPreview(top.query, 80)}" (${top.calls} calls)`,
    context.label,
  );
}
