// The plan of one target: what the migration will do, what stands in its way
// (blockers) or deserves a look (warnings), and the DDL it will run.
import { useState } from 'react';
import { plannedTree, type MigrationPlan, type PlanIssue } from '../../../shared/plan';
import { displayTableName } from '../../../shared/identifiers';
import { CopyButton } from '../../components/CopyButton';
import { Icon } from '../../components/Icon';
import { formatBytes, formatCount, formatDuration, formatNumber, formatPercent } from '../../lib/format';
import { Placement } from './Placement';
import { PlanWorkload } from './PlanWorkload';
import { UniqueKeys } from './UniqueKeys';

/** Statements as one script; statements without a terminator get one. */
export function ddlScript(statements: readonly string[]): string {
  return statements
    .map((statement) => (/;\s*$/.test(statement) ? statement.trim() : `${statement.trim()};`))
    .join('\n\n');
}

/** Rendering tens of thousands of CREATE TABLE statements would stall the page; Copy still takes all. */
const DDL_PREVIEW = 60;

const SEVERITY_ORDER: Record<PlanIssue['severity'], number> = { blocker: 0, warning: 1, info: 2 };
const SEVERITY_LABEL: Record<PlanIssue['severity'], string> = { blocker: 'Blocker', warning: 'Warning', info: 'Note' };

function looksLikeSql(text: string): boolean {
  return /^\s*(ALTER|CREATE|DROP|ANALYZE|VACUUM|SET|GRANT|REVOKE|UPDATE|DELETE|SELECT|CLUSTER|REINDEX)\b/i.test(text);
}

export function IssueItem({ issue }: { issue: PlanIssue }) {
  return (
    <li className={`issue issue-${issue.severity}`} data-testid={`plan-${issue.severity}`} data-code={issue.code}>
      <Icon
        name={issue.severity === 'info' ? 'info' : issue.severity === 'blocker' ? 'error' : 'alert'}
        className="issue-icon"
      />
      <div className="issue-body">
        <div>
          <span className="issue-label">{SEVERITY_LABEL[issue.severity]}:</span> {issue.message}
        </div>
        {issue.fix &&
          (looksLikeSql(issue.fix) ? (
            <div className="issue-fix code-block">
              <pre>{issue.fix}</pre>
              <CopyButton text={issue.fix} testId="copy-fix" />
            </div>
          ) : (
            <div className="issue-fix">
              <span className="muted">Fix:</span> {issue.fix}
            </div>
          ))}
      </div>
    </li>
  );
}

function Stat({
  label,
  value,
  note,
  tone,
  testId,
}: {
  label: string;
  value: string;
  note?: string;
  tone?: 'warn' | 'bad';
  testId?: string;
}) {
  return (
    <div className={tone ? `stat tone-${tone}` : 'stat'} data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value num">{value}</div>
      {note && <div className="stat-note">{note}</div>}
    </div>
  );
}

export function PlanCard({ plan, connectionId }: { plan: MigrationPlan; connectionId: string }) {
  const [showAllDdl, setShowAllDdl] = useState(false);
  const { target } = plan;
  const name = displayTableName({ schema: target.schema, name: target.table });
  const issues = [...plan.issues].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  const blockerCount = issues.filter((issue) => issue.severity === 'blocker').length;
  const lockShare =
    plan.partitions.lockTableCapacity > 0 ? plan.partitions.lockedByFullScan / plan.partitions.lockTableCapacity : 0;
  const script = ddlScript(plan.ddl);
  const shownDdl = showAllDdl ? plan.ddl : plan.ddl.slice(0, DDL_PREVIEW);
  const counted = plan.exact ? 'counted' : 'estimated';
  const p = plan.partitions;
  const upTo = (value: number, max: number): string | undefined =>
    max > value ? `up to ${formatNumber(max)}` : undefined;
  const keysCounted = plan.counting.method !== 'statistics';
  // The tree the migration makes: with small keys sharing, the pool's and the larger keys' partitions.
  const tree = plannedTree(plan);
  const perKey = (count: number): string | undefined =>
    p.placement ? `${formatNumber(count)} with a partition per key` : undefined;
  const notes = (...parts: (string | undefined)[]): string | undefined =>
    parts.filter((part) => part !== undefined).join('; ') || undefined;
  // The whole tree against the lock table (the engine's partition_tree_* checks):
  // what a query that does not filter by the key, or a registry's trigger, locks at once.
  const treeShare = p.lockTableCapacity > 0 ? (1 + tree.maxLevelOne + tree.maxLeaves) / p.lockTableCapacity : 0;

  return (
    <article
      className={blockerCount > 0 ? 'panel plan-card blocked' : 'panel plan-card'}
      data-testid="plan-card"
      data-table={`${target.schema}.${target.table}`}
      data-blockers={blockerCount}
    >
      <header className="panel-header">
        <div>
          <h2 className="panel-title mono">{name}</h2>
          <div className="muted">
            by <span className="mono">{target.keyColumn}</span> ({plan.key.type}
            {plan.key.nullable ? ', nullable' : ''}), {formatCount(target.bucketLimit, 'row')} per bucket · owner{' '}
            <span className="mono">{plan.table.owner}</span> · PostgreSQL {plan.serverVersion}
          </div>
        </div>
        <span
          className={plan.exact ? 'badge badge-ok' : 'badge'}
          title={plan.exact ? 'Counted by scanning' : 'From catalog statistics'}
        >
          {plan.exact ? 'exact counts' : 'estimates'}
        </span>
      </header>

      <p className="muted plan-counting" data-testid="plan-counting">
        {plan.counting.note}
      </p>

      <div className="stats-grid" data-testid="plan-summary">
        <Stat label={`Rows (${counted})`} value={formatNumber(plan.table.rows)} />
        <Stat
          label={`Distinct keys (${keysCounted ? 'counted' : 'estimated'})`}
          value={formatNumber(plan.key.distinctKeys)}
          note={upTo(p.levelOne, p.maxLevelOne)}
        />
        <Stat
          label="NULL keys"
          value={formatNumber(plan.key.nullRows)}
          tone={plan.key.nullRows > 0 ? 'bad' : undefined}
        />
        <Stat
          label="Level-1 partitions"
          value={formatNumber(tree.levelOne)}
          note={notes(
            upTo(tree.levelOne, tree.maxLevelOne),
            p.placement ? 'the pool one of them' : undefined,
            perKey(p.levelOne),
          )}
          testId="plan-level-one"
        />
        <Stat
          label="Leaves"
          value={formatNumber(tree.leaves)}
          note={notes(
            upTo(tree.leaves, tree.maxLeaves),
            perKey(p.leaves),
            treeShare > 0.5 ? `the tree is ${formatPercent(treeShare)} of the lock table` : undefined,
          )}
          tone={treeShare > 1 ? 'bad' : treeShare > 0.5 ? 'warn' : undefined}
          testId="plan-leaves"
        />
        <Stat
          label="Locks for a full scan"
          value={`${plan.exact ? '' : plan.counting.method === 'index' ? '≤ ' : '~'}${formatNumber(p.lockedByFullScan)} / ${formatNumber(p.lockTableCapacity)}`}
          note={`${formatPercent(lockShare)} of the lock table`}
          tone={lockShare > 1 ? 'bad' : lockShare > 0.5 ? 'warn' : undefined}
        />
        <Stat label="Disk needed" value={formatBytes(plan.diskBytesNeeded)} note="table and indexes once more" />
        <Stat label="Estimated time" value={formatDuration(plan.estimatedSeconds)} note="rough, from the row count" />
        <Stat
          label="Current size"
          value={formatBytes(plan.table.totalBytes)}
          note={`indexes ${formatBytes(plan.table.indexBytes)}`}
        />
      </div>

      {issues.length > 0 ? (
        <ul className="issue-list" data-testid="plan-issues">
          {issues.map((issue, index) => (
            <IssueItem key={`${issue.code}-${index}`} issue={issue} />
          ))}
        </ul>
      ) : (
        <p className="ok-text" data-testid="plan-no-issues">
          <Icon name="check" size={14} /> No blockers or warnings.
        </p>
      )}

      <PlanWorkload plan={plan} />

      <UniqueKeys plan={plan} connectionId={connectionId} />

      <Placement plan={plan} connectionId={connectionId} />

      <div className="plan-columns">
        {plan.key.largest.length > 0 && (
          <div className="plan-section">
            <h3 className="section-title">Largest keys ({counted})</h3>
            <table className="data-table compact">
              <thead>
                <tr>
                  <th scope="col">{plan.key.column}</th>
                  <th scope="col" className="right">
                    Rows
                  </th>
                  <th scope="col" className="right">
                    Buckets
                  </th>
                </tr>
              </thead>
              <tbody>
                {plan.key.largest.slice(0, 8).map((key) => (
                  <tr key={key.keyValue} data-testid="plan-largest-key">
                    <td className="mono">{key.keyValue}</td>
                    <td className="right num">{formatNumber(key.rows)}</td>
                    {/* A key under the sharing threshold has no buckets of its own: its rows fill the pool's. */}
                    <td className="right num">
                      {p.placement && key.rows < p.placement.threshold
                        ? 'in pool'
                        : formatNumber(Math.max(1, Math.ceil(key.rows / target.bucketLimit)))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <div className="plan-section">
          <h3 className="section-title">Names</h3>
          <dl className="kv">
            <dt>Partitioned table</dt>
            <dd className="mono">{plan.names.partitionedTable}</dd>
            <dt>Original kept as</dt>
            <dd className="mono">{plan.names.backupTable}</dd>
            <dt>Bucket column</dt>
            <dd className="mono">{plan.names.bucketColumn}</dd>
          </dl>
        </div>
      </div>

      <div className="plan-section">
        <div className="section-header">
          <h3 className="section-title">
            DDL{' '}
            <span className="muted" data-testid="plan-ddl-count">
              ({plan.exact ? '' : 'about '}
              {formatCount(plan.ddlStatements, 'statement')}
              {plan.maxDdlStatements > plan.ddlStatements ? `, up to ${formatNumber(plan.maxDdlStatements)}` : ''})
            </span>
          </h3>
          <CopyButton text={script} label="Copy DDL" testId="copy-ddl" />
        </div>
        <pre className="code-block ddl" data-testid="plan-ddl" tabIndex={0}>
          {ddlScript(shownDdl)}
        </pre>
        {plan.ddl.length > DDL_PREVIEW && (
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={() => setShowAllDdl((value) => !value)}
            data-testid="ddl-toggle"
          >
            {showAllDdl ? 'Show fewer statements' : `Show all ${formatNumber(plan.ddl.length)} statements`}
          </button>
        )}
      </div>
    </article>
  );
}
