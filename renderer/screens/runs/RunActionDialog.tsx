// Confirmations for what can be done to a run: cancel, resume, roll back and
// finalize. Each says what happens to the tables in plain words.
import type { RunSummary } from '../../../shared/runs';
import { displayTableName } from '../../../shared/identifiers';
import { useRunAction, type RunAction } from '../../api/queries';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useUi } from '../../state/ui';

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
  onClose,
}: {
  connectionId: string;
  runId: number;
  tables: string[];
  action: RunAction;
  onClose(): void;
}) {
  const mutation = useRunAction(connectionId);
  const monitorRun = useUi((state) => state.monitorRun);
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
      title={`${TITLES[action]} #${runId}?`}
      confirmLabel={CONFIRM_LABELS[action]}
      tone={action === 'resume' ? 'primary' : 'danger'}
      busy={mutation.isPending}
      error={mutation.error}
      testId={`run-${action}-dialog`}
      acknowledgement={action === 'finalize' ? 'I understand that this run can no longer be rolled back.' : undefined}
      onCancel={onClose}
      onConfirm={() =>
        mutation.mutate(
          { action, runId },
          {
            onSuccess: (result) => {
              monitorRun(result.runId);
              onClose();
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
          <p>These tables go back to how they were before the run; what the run created is dropped:</p>
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
