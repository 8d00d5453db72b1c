// The catch-up's applier, chosen as a deadlock victim again and again, stops
// the run where it stands instead of retrying forever: the run is left
// interrupted, every change not yet applied stays in the log, and a resume
// applies them once the cause is gone.
//
// The deadlocks are made, not waited for (makeDeadlocks): another session
// holds a row of the new table that the applier's batch updates, and once the
// applier waits for it, asks for a lock on the log entries that the batch has
// taken. The other session keeps its row through all the rounds and lets go
// of the log entries after each, so the applier meets the same cycle at every
// attempt.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, resume } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { DEADLOCK_ATTEMPTS } from '../locks.js';
import { connectDeadlockSession, makeDeadlocks, type Deadlocks } from '../../testing/deadlocks.js';

const db = useTestDatabase('catchup_deadlock');
let partwise: pg.Pool;

beforeAll(async () => {
  await installPartwise(db);
  // Idle connections closed at once: the run's connections are new backends,
  // as under load when a phase outlasts the pool's idle timeout.
  partwise = new pg.Pool({ connectionString: db.url, application_name: 'partwise', max: 6, idleTimeoutMillis: 1 });
});

afterAll(async () => {
  await partwise.end();
});

describe("the catch-up's deadlock retry", () => {
  it('stops the run resumably after repeated deadlocks, keeping every change, and resumes', async () => {
    await db.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
    await db.query(`INSERT INTO ledger SELECT g, 1 + g % 3, 'before' FROM generate_series(1, 300) g`);
    // The applier waits for the row without a lock_timeout, and PostgreSQL
    // checks a wait for deadlocks once: the session must join the cycle
    // within deadlock_timeout of the applier's wait (makeDeadlocks). Its look
    // comes within milliseconds; 3 s rather than the default 1 s leaves room
    // for a machine under load. Set before any connection of the run opens.
    await db.admin.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET deadlock_timeout = '3s'`);
    const other = await connectDeadlockSession(db);
    let deadlocks = null as Deadlocks | null; // made in beforePhase
    try {
      const outcome = await migrate(
        partwise,
        [{ schema: 'public', table: 'ledger', keyColumn: 'tenant', bucketLimit: 1000 }],
        {
          workers: 1,
          // The backlog never counts as small enough for the swap: the catch-up goes on.
          catchUpThreshold: 0,
          beforePhase: async (phase) => {
            if (phase !== 'catch_up') return;
            await db.query(`UPDATE ledger SET body = 'changed' WHERE id IN (7, 8, 9)`);
            const [log] = await db.query<{ name: string }>(
              `SELECT saved->>'changeLog' AS name FROM partwise.migration_target WHERE table_name = 'ledger'`,
            );
            await other.query('BEGIN');
            await other.query(`SELECT 1 FROM ledger_partitioned WHERE id = 8 AND tenant = 3 FOR UPDATE`);
            const takeEntries = `SELECT 1 FROM partwise.${pg.escapeIdentifier(log!.name)} FOR UPDATE`;
            deadlocks = makeDeadlocks(db, other, takeEntries, { ifLate: 'let go', maxRounds: DEADLOCK_ATTEMPTS });
          },
        },
      );
      await deadlocks!.stop();
      expect(deadlocks!.failures).toEqual([]);
      expect(outcome.status, outcome.message).toBe('interrupted');
      expect(outcome.message).toMatch(
        new RegExp(
          `^Run \\d+ stopped in phase catch_up of public\\.ledger: applying the changes made during the copy was chosen as a deadlock victim ${DEADLOCK_ATTEMPTS} times in a row \\(applier 1\\); the changes not yet applied are kept in the log; nothing is lost: resume it with "partwise resume --run \\d+"$`,
        ),
      );
      expect(deadlocks!.rounds()).toBe(DEADLOCK_ATTEMPTS);
      await other.query('ROLLBACK');

      // Left as an interrupt leaves it: running in the journal, the log whole.
      const [run] = await db.query<{ status: string; log: string }>(
        `SELECT r.status, t.saved->>'changeLog' AS log FROM partwise.migration_run r JOIN partwise.migration_target t USING (run_id)
          WHERE r.run_id = $1`,
        [outcome.runId],
      );
      expect(run!.status).toBe('running');
      const pending = await db.query<{ id: number }>(
        `SELECT DISTINCT id::int AS id FROM partwise.${pg.escapeIdentifier(run!.log)} ORDER BY 1`,
      );
      expect(pending.map((r) => r.id)).toEqual([7, 8, 9]);
      expect(await db.query(`SELECT id::int AS id FROM ledger_partitioned WHERE body = 'changed'`)).toEqual([]);

      const resumed = await resume(partwise, outcome.runId);
      expect(resumed.status, resumed.message).toBe('succeeded');
      expect(await db.query(`SELECT id::int AS id FROM ledger WHERE body = 'changed' ORDER BY 1`)).toEqual([
        { id: 7 },
        { id: 8 },
        { id: 9 },
      ]);
      expect(await db.query(`SELECT count(*)::int AS n FROM ledger`)).toEqual([{ n: 300 }]);
    } finally {
      await deadlocks?.stop();
      await other.end();
    }
  }, 240_000);
});
