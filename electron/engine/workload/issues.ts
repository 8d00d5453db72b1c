// The plan's blockers, warnings and notes about the workload: frequent
// statements that do not name the key block the migration until the user
// accepts them; what cannot be known is said, with how to make it known.
import type { PlanIssue } from '../../../shared/plan.js';
import {
  describeCost,
  formatMilliseconds,
  keylessStatements,
  statementPreview,
  type WorkloadReport,
  type WorkloadStatement,
} from '../../../shared/workload.js';
import { ident } from '../../db/sql.js';
import { count, PLANNED_STATEMENTS } from './source.js';

function describeStatement(statement: WorkloadStatement): string {
  const expected =
    statement.expectedMeanMs === null ? '' : `, about ${formatMilliseconds(statement.expectedMeanMs)} afterwards`;
  return `"${statementPreview(statement.query)}" (${count(statement.calls, 'call')}, ${formatMilliseconds(statement.meanMs)} on average today${expected})`;
}

export interface WorkloadIssueContext {
  /** The table as people write it. */
  tableName: string;
  user: string;
  accepted: boolean;
}

export function workloadIssues(report: WorkloadReport, context: WorkloadIssueContext): PlanIssue[] {
  const { tableName, accepted } = context;
  const key = report.keyColumn;
  const leaves = count(report.leaves, 'leaf', 'leaves');
  const source = report.source;
  if (!source.available) {
    return [
      {
        code: 'workload_unknown',
        severity: 'warning',
        message: `The statements the application runs on ${tableName} are unknown: ${source.reason} Without them the plan cannot list the statements that do not filter by ${key}, each of which will plan against, lock and read all ${leaves}.`,
        fix: source.steps.join('\n'),
      },
    ];
  }
  const issues: PlanIssue[] = [];
  if (source.hidden.statements > 0 && !source.seesAllRoles) {
    issues.push({
      code: 'workload_hidden',
      severity: 'warning',
      message: `${count(source.hidden.statements, 'statement')} of other roles (${count(source.hidden.calls, 'call')}) cannot be read by ${context.user}: pg_stat_statements shows their text as "<insufficient privilege>", so the application's statements may be missing from this list.`,
      fix: `GRANT pg_read_all_stats TO ${ident(context.user)};`,
    });
  }
  const keyless = keylessStatements(report);
  const frequent = keyless.filter((s) => s.frequent);
  const costSentence = report.cost ? `: ${describeCost(report.cost)}` : report.costNote ? ` (${report.costNote})` : '';
  const howToFix = `Add ${key} to the WHERE clause of these statements (README: "Queries that do not name the key" shows how in the common ORMs).`;
  if (frequent.length > 0) {
    const others = keyless.length - frequent.length;
    issues.push({
      code: accepted ? 'keyless_queries_accepted' : 'keyless_queries',
      severity: accepted ? 'warning' : 'blocker',
      message: `${accepted ? 'Accepted: ' : ''}${count(frequent.length, 'frequent statement')} on ${tableName} ${frequent.length === 1 ? 'does' : 'do'} not filter by ${key}${others > 0 ? ` (and ${count(others, 'rarer one')})` : ''}. After the migration each plans against and locks all ${leaves}${costSentence}. Most called: ${describeStatement(frequent[0]!)}.`,
      fix: accepted
        ? howToFix
        : `${howToFix} Or accept the cost: partwise migrate --accept-keyless, "acceptKeylessQueries": true in a targets file, or "Accept" in the app's plan.`,
    });
  } else if (keyless.length > 0) {
    issues.push({
      code: 'keyless_queries_rare',
      severity: 'warning',
      message: `${count(keyless.length, 'statement')} on ${tableName} ${keyless.length === 1 ? 'does' : 'do'} not filter by ${key}, none of them often enough (or cheaply enough today) to block the migration. After it each plans against and locks all ${leaves}${costSentence}. Most called: ${describeStatement(keyless[0]!)}.`,
      fix: howToFix,
    });
  } else if (report.statements.some((s) => s.verdict === 'key')) {
    issues.push({
      code: 'workload_keyed',
      severity: 'info',
      message: `Every statement on ${tableName} that pg_stat_statements recorded and PostgreSQL could plan filters by ${key}.`,
    });
  }
  const notAnalysed = report.statements.filter((s) => s.verdict === 'not_analysed');
  if (notAnalysed.length > 0) {
    issues.push({
      code: 'workload_not_analysed',
      severity: 'info',
      message: `${count(notAnalysed.length, 'statement')} mentioning ${tableName} could not be planned here (listed with the reason): ${notAnalysed[0]!.reason}`,
    });
  }
  if (source.skipped.statements > 0) {
    issues.push({
      code: 'workload_skipped',
      severity: 'info',
      message: `The ${PLANNED_STATEMENTS} most called statements mentioning ${tableName} were planned; ${count(source.skipped.statements, 'less called one')} (${count(source.skipped.calls, 'call')} in all) ${source.skipped.statements === 1 ? 'was' : 'were'} not.`,
    });
  }
  return issues;
}
