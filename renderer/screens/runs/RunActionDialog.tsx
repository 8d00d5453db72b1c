// Confirmations for what can be done to a run: cancel, resume, roll back and
// finalize. Each says what happens to the tables in plain words. The request is
// answered as soon as the run is under way (the monitor follows it), or with
// what happened when there was nothing to do; the dialog can be closed at any
// time, and shows the error of a refused request.
import { useState } from 'react';
import type { RunActionResult, RunSummary } from '../../../shared/runs';
import { displayTableName } from '../../../shared/identifiers';
import { useRunAction, type RunAction } from '../../api/queries';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useUi } from '../../state/ui';
import { useActiveConnection } from '../../api/active-connection';

export function runTables(run: Pick<RunSummary, 'targets'>): string[] {
  return run.targets.map((target) => displayTableName({ schema: target.schema, name: target.table }));
}

const TITLES: Record<RunAction, string> = {
  cancel: 'Cancel run',
  resume: 'Resume run',
  rollback: 'Roll back run',
  finalize: 'Finalize run',
};

const CONFIRM_LABELS: Record<RunAction, string> = {
  cancel: 'Cancel the run',
  resume: 'Resume',
  rollback: 'Roll back',
  finalize: 'Finalize and drop backups',
};

export function RunActionDialog({
  connectionId,
  runId,
  tables,
  action,
  rollingBack = false,
  onClose,
}: {
  connectionId: string;
  runId: number;
  tables: string[];
  action: RunAction;
  /** The run stopped part way through a rollback: rolling back continues it. */
  rollingBack?: boolean;
  onClose(): void;
}) {
  const mutation = useRunAction(connectionId);
  const production = useActiveConnection().profile?.production === true;
  // On a production connection, undoing or dropping backups asks for the (first) table's name.
  const typeToConfirm = production && (action === 'rollback' || action === 'finalize') ? tables[0] : undefined;
  const monitorRun = useUi((state) => state.monitorRun);
  const [outcome, setOutcome] = useState<RunActionResult['outcome']>(undefined);
  const list = (
    <ul className="confirm-list" data-testid="run-action-tables">
      {tables.map((table) => (
        <li key={table} className="mono">
          {table}
        </li>
      ))}
    </ul>
  );

  return (
    <ConfirmDialog
      title={
        rollingBack && action === 'rollback'
          ? `Continue the rollback of run #${runId}?`
          : `${TITLES[action]} #${runId}?`
      }
      confirmLabel={rollingBack && action === 'rollback' ? 'Continue the rollback' : CONFIRM_LABELS[action]}
      tone={action === 'resume' || (rollingBack && action === 'rollback') ? 'primary' : 'danger'}
      busy={mutation.isPending}
      error={mutation.error}
      busyNote="Closing this window does not stop it; the run's progress shows on the Runs screen."
      result={outcome ? outcome.message : undefined}
      testId={`run-${action}-dialog`}
      acknowledgement={action === 'finalize' ? 'I understand that this run can no longer be rolled back.' : undefined}
      typeToConfirm={typeToConfirm}
      onCancel={onClose}
      onConfirm={() =>
        mutation.mutate(
          { action, runId },
          {
            onSuccess: (result) => {
              monitorRun(result.runId);
              // Nothing was left to do: say what the journal says, rather than close on nothing.
              if (result.outcome) setOutcome(result.outcome);
              else onClose();
            },
          },
        )
      }
    >
      {action === 'cancel' && (
        <>
          <p>Cancelling rolls back; the table stays as it was.</p>
          {list}
          <p className="muted">Work already copied is discarded. The run can be started again from the Plan screen.</p>
        </>
      )}
      {action === 'resume' && (
        <>
          <p>The run continues where it stopped, for:</p>
          {list}
        </>
      )}
      {action === 'rollback' && (
        <>
          <p>
            {rollingBack
              ? 'The rollback stopped part way; it continues where it stopped, and these tables go back to how they were before the run:'
              : 'These tables go back to how they were before the run; what the run created is dropped:'}
          </p>
          {list}
        </>
      )}
      {action === 'finalize' && (
        <>
          <p>
            The backup tables kept by this run are dropped, which frees their disk space. After this, rollback is no
            longer possible.
          </p>
          {list}
        </>
      )}
    </ConfirmDialog>
  );
}
