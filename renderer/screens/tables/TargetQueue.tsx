// The queued run targets of the active connection: what the next plan and run cover.
import { displayTableName } from '../../../shared/identifiers';
import { Icon } from '../../components/Icon';
import { formatCount } from '../../lib/format';
import { useTargetQueue, useTargets } from '../../state/targets';
import { useUi } from '../../state/ui';
import './TargetQueue.css';

export function TargetQueue({ connectionId, compact = false }: { connectionId: string; compact?: boolean }) {
  const queue = useTargetQueue(connectionId);
  const remove = useTargets((state) => state.remove);
  const clear = useTargets((state) => state.clear);
  const go = useUi((state) => state.go);

  return (
    <div className="panel target-queue" data-testid="target-queue" data-count={queue.length}>
      <div className="panel-header">
        <h2 className="panel-title">
          Run targets <span className="count-badge">{queue.length}</span>
        </h2>
        {queue.length > 0 && (
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={() => clear(connectionId)}
            data-testid="targets-clear"
          >
            Clear
          </button>
        )}
      </div>
      {queue.length === 0 ? (
        <p className="muted" data-testid="targets-empty">
          No targets queued. Pick a table, choose its key column and bucket limit, then add it. Several tables can
          migrate in one run.
        </p>
      ) : (
        <ul className="target-list">
          {queue.map((target) => {
            const name = displayTableName({ schema: target.schema, name: target.table });
            return (
              <li
                key={name}
                className="target-item"
                data-testid="target-item"
                data-table={`${target.schema}.${target.table}`}
              >
                <div className="target-text">
                  <span className="mono strong">{name}</span>
                  <span className="muted">
                    by <span className="mono">{target.keyColumn}</span>, {formatCount(target.bucketLimit, 'row')} per
                    bucket
                  </span>
                </div>
                <button
                  type="button"
                  className="btn btn-icon"
                  onClick={() => remove(connectionId, target.schema, target.table)}
                  aria-label={`Remove ${name} from the run targets`}
                  title="Remove"
                  data-testid="target-remove"
                >
                  <Icon name="close" />
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {!compact && queue.length > 0 && (
        <div className="form-actions">
          <span className="spacer" />
          <button type="button" className="btn btn-primary" onClick={() => go('plan')} data-testid="go-plan">
            <Icon name="plan" />
            Plan the migration
          </button>
        </div>
      )}
    </div>
  );
}
