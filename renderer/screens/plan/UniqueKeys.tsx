// How each PRIMARY KEY, UNIQUE constraint and unique index of a planned table
// stays enforced after the migration: across the whole table (a registry), or
// per bucket only. The choice is kept with the queued target, so the plan
// is made again with it and the migration starts with it.
import type { MigrationPlan, UniqueEnforcement, UniqueKeyPlan } from '../../../shared/plan';
import { displayIdentifier } from '../../../shared/identifiers';
import { Switch } from '../../components/Switch';
import { formatBytes } from '../../lib/format';
import { useTargets } from '../../state/targets';

function KeyRow({ uniqueKey, onChoose }: { uniqueKey: UniqueKeyPlan; onChoose(choice: UniqueEnforcement): void }) {
  const acrossTable = uniqueKey.enforcement === 'table';
  const kind =
    uniqueKey.kind === 'primary' ? 'primary key' : uniqueKey.kind === 'unique' ? 'unique index' : 'unique constraint';
  return (
    <tr data-testid="unique-key" data-name={uniqueKey.name} data-enforcement={uniqueKey.enforcement}>
      <td>
        <span className="mono">{displayIdentifier(uniqueKey.name)}</span>
        <div className="muted">
          {kind}
          {uniqueKey.deferrable ? ', deferrable' : ''}
        </div>
      </td>
      <td className="mono">{uniqueKey.columns}</td>
      <td>
        <Switch
          checked={acrossTable}
          disabled={!uniqueKey.registryAvailable}
          onChange={(checked) => onChoose(checked ? 'table' : 'bucket')}
          testId="unique-key-switch"
          title={uniqueKey.registryAvailable ? undefined : uniqueKey.reason}
        >
          {acrossTable ? 'Whole table' : 'Per bucket'}
          {uniqueKey.enforcement === uniqueKey.defaultEnforcement ? <span className="muted"> (default)</span> : null}
        </Switch>
      </td>
      <td className="muted" data-testid="unique-key-note">
        {acrossTable
          ? `Registry of about ${formatBytes(uniqueKey.registryBytes)}; one more index write per insert, delete and update of these columns.`
          : (uniqueKey.reason ?? 'A duplicate in another bucket is accepted.')}
      </td>
    </tr>
  );
}

export function UniqueKeys({ plan, connectionId }: { plan: MigrationPlan; connectionId: string }) {
  const add = useTargets((state) => state.add);
  const keys = plan.uniqueness ?? [];
  if (keys.length === 0) return null;
  const choose = (name: string, choice: UniqueEnforcement): void =>
    add(connectionId, { ...plan.target, uniqueness: { ...plan.target.uniqueness, [name]: choice } });

  return (
    <div className="plan-section" data-testid="unique-keys">
      <h3 className="section-title">Unique keys</h3>
      <p className="muted">
        A partitioned table enforces a unique index within each bucket only. A registry keeps a key unique across the
        whole table, under its original name, at the cost of one more index write per change.
      </p>
      <table className="data-table compact">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Columns</th>
            <th scope="col">Unique across</th>
            <th scope="col">Cost or reason</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((uniqueKey) => (
            <KeyRow key={uniqueKey.name} uniqueKey={uniqueKey} onChoose={(choice) => choose(uniqueKey.name, choice)} />
          ))}
        </tbody>
      </table>
    </div>
  );
}
