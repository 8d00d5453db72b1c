// The statements run on a table (from pg_stat_statements) that do not filter
// by its partition key, most called first, with the rest folded away: shown in
// a migration's plan (with what each will cost afterwards) and for a managed
// table (what each costs now). When the workload cannot be read, what to run
// to make it readable.
import type { ReactNode } from 'react';
import {
  describeCost,
  formatMilliseconds,
  keylessStatements,
  type WorkloadReport,
  type WorkloadStatement,
} from '../../shared/workload';
import { formatCount, formatNumber, formatTimestamp } from '../lib/format';
import { CopyButton } from './CopyButton';
import { Notice } from './StateViews';
import './WorkloadStatements.css';

const VERDICT: Record<WorkloadStatement['verdict'], { label: string; tone: string; title: string }> = {
  keyless: { label: 'no key', tone: 'badge-bad', title: 'Plans, locks and reads every leaf' },
  key_at_run_time: {
    label: 'key at run time',
    tone: 'badge-warn',
    title:
      'Gets the key from a sub-select or a join while it runs: plans and locks every leaf, reads the matching ones',
  },
  key: { label: 'by key', tone: 'badge-ok', title: 'Reads only the buckets of the keys it names' },
  not_analysed: { label: 'not analysed', tone: '', title: 'PostgreSQL could not plan it here' },
};

/** Folded lists show this many statements (DDL on a large tree can add hundreds). */
const FOLDED_SHOWN = 25;

function StatementText({ query }: { query: string }) {
  return (
    <code className="workload-query" title={query}>
      {query}
    </code>
  );
}

function KeylessTable({ report }: { report: WorkloadReport }) {
  const statements = keylessStatements(report);
  const before = report.phase === 'before';
  return (
    <div className="table-scroll">
      <table className="data-table compact workload-table" data-testid="workload-keyless">
        <thead>
          <tr>
            <th scope="col">Statement</th>
            <th scope="col" className="right">
              Calls
            </th>
            <th scope="col" className="right" title="Mean execution time recorded by pg_stat_statements">
              Mean {before ? 'today' : ''}
            </th>
            {before ? (
              <th scope="col" className="right" title="Today's mean plus the measured cost over the new tree">
                Afterwards
              </th>
            ) : (
              <th scope="col" className="right" title="Time PostgreSQL took to plan it just now">
                Planning now
              </th>
            )}
            <th scope="col" className="right" title="Leaves it plans against and locks">
              Leaves
            </th>
          </tr>
        </thead>
        <tbody>
          {statements.map((statement) => (
            <tr
              key={statement.query}
              data-testid="workload-statement"
              data-verdict={statement.verdict}
              data-frequent={statement.frequent}
            >
              <td className="workload-query-cell">
                <StatementText query={statement.query} />
                <div className="workload-meta">
                  <span className={`badge ${VERDICT[statement.verdict].tone}`} title={VERDICT[statement.verdict].title}>
                    {VERDICT[statement.verdict].label}
                  </span>
                  {statement.frequent && (
                    <span className="badge badge-bad" title="Called often, and slowed down by more than it costs today">
                      frequent
                    </span>
                  )}
                  <span className="muted">{statement.roles.join(', ')}</span>
                </div>
              </td>
              <td className="right num">{formatNumber(statement.calls)}</td>
              <td className="right num">{formatMilliseconds(statement.meanMs)}</td>
              <td className="right num">
                {before
                  ? statement.expectedMeanMs === null
                    ? '—'
                    : `≈ ${formatMilliseconds(statement.expectedMeanMs)}`
                  : statement.planningMs === null
                    ? '—'
                    : formatMilliseconds(statement.planningMs)}
              </td>
              <td className="right num">{formatNumber(statement.leaves)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Folded({
  statements,
  title,
  testId,
  withReason,
}: {
  statements: WorkloadStatement[];
  title: string;
  testId: string;
  withReason: boolean;
}) {
  if (statements.length === 0) return null;
  return (
    <details className="workload-folded" data-testid={testId} data-count={statements.length}>
      <summary>{title}</summary>
      <ul className="workload-list">
        {statements.slice(0, FOLDED_SHOWN).map((statement) => (
          <li key={statement.query}>
            <StatementText query={statement.query} />{' '}
            <span className="muted">
              {formatCount(statement.calls, 'call')}
              {withReason ? `: ${statement.reason}` : ''}
            </span>
          </li>
        ))}
        {statements.length > FOLDED_SHOWN && (
          <li className="muted">and {formatCount(statements.length - FOLDED_SHOWN, 'more')}</li>
        )}
      </ul>
    </details>
  );
}

function Unavailable({ report }: { report: WorkloadReport }) {
  if (report.source.available) return null;
  const steps = report.source.steps.join('\n');
  return (
    <div data-testid="workload-unavailable">
      <Notice tone="warning">
        The statements run on this table are unknown: {report.source.reason} To see which statements will read every
        leaf, run:
      </Notice>
      <div className="code-block workload-steps">
        <pre>{steps}</pre>
        <CopyButton text={steps} testId="copy-workload-steps" />
      </div>
    </div>
  );
}

/** `footer` goes under the list of statements that do not filter by the key (the plan's acceptance). */
export function WorkloadStatements({ report, footer }: { report: WorkloadReport; footer?: ReactNode }) {
  const source = report.source;
  if (!source.available) return <Unavailable report={report} />;
  const keyless = keylessStatements(report);
  const keyed = report.statements.filter((s) => s.verdict === 'key');
  const notAnalysed = report.statements.filter((s) => s.verdict === 'not_analysed');
  const leaves = formatCount(report.leaves, 'leaf', 'leaves');
  return (
    <div className="workload" data-testid="workload-statements" data-phase={report.phase}>
      <p className="muted workload-source">
        From pg_stat_statements{source.since ? `, calls since ${formatTimestamp(source.since)}` : ''}. A statement that
        does not filter by <span className="mono">{report.keyColumn}</span>{' '}
        {report.phase === 'before' ? 'will plan against, lock' : 'plans against, locks'} and read
        {report.phase === 'before' ? '' : 's'} all {leaves}.
      </p>
      {keyless.length > 0 ? (
        <KeylessTable report={report} />
      ) : (
        <Notice tone={report.statements.length > 0 ? 'success' : 'info'} testId="workload-all-keyed">
          {report.statements.length > 0
            ? `Every recorded statement that PostgreSQL could plan filters by ${report.keyColumn}.`
            : 'No statement on this table is recorded yet.'}
        </Notice>
      )}
      {footer}
      {report.cost && (
        <p className="workload-cost" data-testid="workload-cost">
          Measured cost: {describeCost(report.cost)}.
        </p>
      )}
      {!report.cost && report.costNote && <p className="muted">{report.costNote}</p>}
      <Folded
        statements={keyed}
        title={`${formatCount(keyed.length, 'statement')} filter${keyed.length === 1 ? 's' : ''} by ${report.keyColumn}`}
        testId="workload-keyed"
        withReason={false}
      />
      <Folded
        statements={notAnalysed}
        title={`${formatCount(notAnalysed.length, 'statement')} not analysed`}
        testId="workload-not-analysed"
        withReason
      />
      {(source.skipped.statements > 0 || source.notes.length > 0) && (
        <ul className="workload-notes muted" data-testid="workload-notes">
          {source.skipped.statements > 0 && (
            <li>
              {formatCount(source.skipped.statements, 'less called statement')} (
              {formatCount(source.skipped.calls, 'call')}) {source.skipped.statements === 1 ? 'was' : 'were'} not
              analysed.
            </li>
          )}
          {source.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
