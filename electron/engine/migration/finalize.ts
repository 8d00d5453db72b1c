// Finalize: the migration is kept. The backup (the original table) is dropped,
// and with it the way back; writes to the new table are no longer logged.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { inLockingTransaction } from '../locks.js';
import type { TargetContext } from './context.js';

export async function finalizeTarget(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, sql, options, reporter, journal } = context;
  if (target.status === 'finalized') return;
  if (target.status !== 'done' || !target.cutoverAt) {
    throw new PartwiseError(
      'conflict',
      `${context.label} is not migrated (status ${target.status}); there is nothing to finalize`,
    );
  }
  reporter.phase('finalize', `dropping ${target.backupTable}`, context.label);
  const stepId = await journal.startStep(control, target.runId, target.targetNo, 'finalize');
  await inLockingTransaction(control, { ...options.lock, signal: options.signal }, async () => {
    if (target.saved.afterLog) {
      await control.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
        target.saved.afterLog,
        sql.partitioned,
        `partwise_capture_after_${target.runId}`,
      ]);
    }
    // No CASCADE: if something still depends on the backup, PostgreSQL's error names it.
    await control.query(`DROP TABLE ${sql.backup}`);
    await journal.updateTarget(control, target.runId, target.targetNo, { status: 'finalized', phase: 'finalize' });
  });
  await journal.finishStep(control, stepId, {});
  target.status = 'finalized';
  reporter.log('info', `finalized: ${target.backupTable} dropped`, context.label);
}
