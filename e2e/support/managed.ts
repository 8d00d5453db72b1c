// A managed table made without the app, for tests of the screens that show
// one: the engine migrates a table of the test database as the role the app
// connects as (its owner), exactly as the Runs screen would.
import pg from 'pg';
import { migrate } from '../../electron/engine/index.js';
import { connectionsForRun, type MigrationTarget } from '../../shared/plan.js';
import type { TestDatabase } from './postgres.js';

const WORKERS = 2;

export async function migrateTable(db: Pick<TestDatabase, 'connection'>, target: MigrationTarget): Promise<number> {
  // As the app sizes a run's pool: the engine refuses a smaller one.
  const pool = new pg.Pool({ ...db.connection, max: connectionsForRun(WORKERS) });
  pool.on('error', () => undefined);
  try {
    const outcome = await migrate(pool, [target], { workers: WORKERS });
    if (outcome.status !== 'succeeded') throw new Error(`migrating ${target.table} failed: ${outcome.message}`);
    return outcome.runId;
  } finally {
    await pool.end();
  }
}
