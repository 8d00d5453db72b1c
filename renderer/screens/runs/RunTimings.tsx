// After a run: each phase of each table as the journal recorded it, with how
// long it took, what it went through, and how long the table was under the
// exclusive lock (the swap), which is what the application felt.
import { formatMs, type RunSummary } from '../../../shared/runs';
import { formatNumber } from '../../lib/format';
import { phaseLabel } from '../../state/run-progress';

function lockText(ms: number | null): string {
  return ms === null ? '' : formatMs(ms);
}

export function RunTimings({ run, running }: { run: RunSummary; running: boolean }) {
  const tables = new Map(run.targets.map((target) => [target.targetNo, `${target.schema}.${target.table}`]));
  const several = tables.size > 1;
  const lockTotal = run.steps.reduce((sum, step) => sum + (step.lockMs ?? 0), 0);
  return (
    <section className="run-timings" data-testid="run-timings" aria-label="Time per phase">
      <h3 className="section-title">Time per phase</h3>
      <div className="table-scroll">
        <table className="data-table compact">
          <thead>
            <tr>
              {several && <th scope="col">Table</th>}
              <th scope="col">Phase</th>
              <th scope="col" className="right">
                Duration
              </th>
              <th scope="col" className="right">
                Work
              </th>
              <th scope="col" className="right">
                Exclusive lock
              </th>
            </tr>
          </thead>
          <tbody>
            {run.steps.map((step, index) => (
              <tr key={index} data-testid="run-timing" data-phase={step.phase} data-target={step.targetNo}>
                {several && <td className="mono">{tables.get(step.targetNo)}</td>}
                <td>{phaseLabel[step.phase]}</td>
                <td className="right num">
                  {step.durationMs !== null
                    ? formatMs(step.durationMs)
                    : running
                      ? 'running'
                      : 'stopped before the end'}
                </td>
                <td className="right num">
                  {step.count !== null && step.unit ? `${formatNumber(step.count)} ${step.unit}` : ''}
                </td>
                <td className="right num" data-testid={step.lockMs !== null ? 'run-timing-lock' : undefined}>
                  {lockText(step.lockMs)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {lockTotal > 0 && (
        <p className="muted small" data-testid="run-lock-total">
          The table was closed to the application for {lockText(lockTotal)} in all (the exclusive lock of the swap
          {run.steps.some((step) => step.phase === 'rollback' && step.lockMs !== null) ? ' and of the swap back' : ''}).
        </p>
      )}
    </section>
  );
}
