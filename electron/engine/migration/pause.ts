// Pausing a running migration: the journal records that a user holds the run,
// and the process working on it (this one or another) stops admitting copy and
// index work until the hold is lifted (throttle.ts). Catching up and the swap
// are not held: they are short, and stopping before the swap would only let
// the change log grow.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { DEFAULT_SCHEMA, requireCurrentSql } from '../../install/install.js';
import { Journal } from '../journal.js';
import { connectWithDefaults } from '../session-defaults.js';

/** Holds (`paused`) or lets go of a running run's copy and index work. */
export async function pauseRun(
  pool: pg.Pool,
  runId: number,
  paused: boolean,
  options: { installSchema?: string } = {},
): Promise<void> {
  const schema = options.installSchema ?? DEFAULT_SCHEMA;
  const client = await connectWithDefaults(pool);
  try {
    await requireCurrentSql(client, schema);
    const journal = new Journal(schema);
    const run = await journal.run(client, runId);
    if (!run) throw new PartwiseError('not_found', `There is no run ${runId}`);
    if (run.status !== 'running' || !(await journal.isRunActive(client, runId))) {
      throw new PartwiseError(
        'conflict',
        run.status === 'running'
          ? `Run ${runId} is not running: it was interrupted; resume it instead`
          : `Run ${runId} has ended (${run.status.replace('_', ' ')}); only a running run can be ${paused ? 'paused' : 'continued'}`,
      );
    }
    await journal.setPaused(client, runId, paused);
  } finally {
    client.release();
  }
}
