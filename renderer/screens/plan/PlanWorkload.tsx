// The plan's view of the table's workload: the statements that do not filter
// by the key, and, when frequent ones block the migration, the explicit
// acceptance (kept with the target, so the plan is made again with it and the
// run records it).
import type { MigrationPlan } from '../../../shared/plan';
import { keylessStatements } from '../../../shared/workload';
import { useActiveConnection } from '../../api/active-connection';
import { WorkloadStatements } from '../../components/WorkloadStatements';
import { formatCount } from '../../lib/format';
import { useTargetQueue, useTargets } from '../../state/targets';

function AcceptKeyless({ plan }: { plan: MigrationPlan }) {
  const connection = useActiveConnection();
  const queue = useTargetQueue(connection.id);
  const add = useTargets((state) => state.add);
  const queued = queue.find((t) => t.schema === plan.target.schema && t.table === plan.target.table);
  const frequent = keylessStatements(plan.workload!).filter((s) => s.frequent).length;
  if (!queued || connection.id === null) return null;
  const connectionId = connection.id;
  return (
    <label className="checkbox workload-accept">
      <input
        type="checkbox"
        checked={queued.acceptKeylessQueries === true}
        onChange={(event) => add(connectionId, { ...queued, acceptKeylessQueries: event.target.checked })}
        data-testid="accept-keyless"
      />
      <span>
        Accept: migrate although {formatCount(frequent, 'frequent statement')} will plan against, lock and read all{' '}
        {formatCount(plan.partitions.leaves, 'leaf', 'leaves')} (recorded with the run)
      </span>
    </label>
  );
}

export function PlanWorkload({ plan }: { plan: MigrationPlan }) {
  if (!plan.workload) return null;
  const acceptable = plan.issues.some(
    (issue) => issue.code === 'keyless_queries' || issue.code === 'keyless_queries_accepted',
  );
  return (
    <div className="plan-section" data-testid="plan-workload">
      <h3 className="section-title">Statements on the table</h3>
      <WorkloadStatements report={plan.workload} footer={acceptable && <AcceptKeyless plan={plan} />} />
    </div>
  );
}
