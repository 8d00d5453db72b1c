// The swap's transaction, chosen as a deadlock victim again and again, is
// taken again a bounded number of times and then stops the run where it
// stands: nothing swapped, nothing half done, every change not yet applied
// still in the log, and a resume swaps once the cause is gone. (Before, one
// deadlock failed the swap and rolled back the whole migration.)
//
// The deadlocks are made, not waited for (makeDeadlocks): a session of the
// application holds a row of the new table that the swap's last replay
// updates, and once the swap waits for it, reads the original table, which
// the swap holds ACCESS EXCLUSIVE. The swap's rollback lets the read through,
// which the session then undoes (a savepoint), keeping its row. Each attempt
// meets the same cycle. The change the replay applies is committed while the
// swap waits for its lock, behind the writer that makes it: so it is left to
// the swap's own replay, not applied just before.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../shared/progress.js';
import { migrate, resume } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { commitOnSwapWait } from '../../testing/swap-waits.js';
import { DEADLOCK_ATTEMPTS } from '../locks.js';
import { connectDeadlockSession, makeDeadlocks, type Deadlocks } from '../../testing/deadlocks.js';

const db = useTestDatabase('swap_deadlock');
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

describe("the swap's deadlock retry", () => {
  it('takes the swap again after a deadlock, stops resumably after repeated ones with nothing swapped, and resumes', async () => {
    await db.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
    await db.query(`INSERT INTO ledger SELECT g, 1 + g % 3, 'before' FROM generate_series(1, 300) g`);
    const writer = await db.connect();
    const holder = await connectDeadlockSession(db);
    let deadlocks = null as Deadlocks | null; // made in beforePhase
    const swapWait = commitOnSwapWait(writer);
    const events: RunEvent[] = [];
    try {
      const outcome = await migrate(
        partwise,
        [{ schema: 'public', table: 'ledger', keyColumn: 'tenant', bucketLimit: 1000 }],
        {
          workers: 1,
          beforePhase: async (phase) => {
            if (phase !== 'cutover') return;
            // Uncommitted while the swap starts: nothing for the apply before
            // its lock, which then waits for this writer.
            await writer.query('BEGIN');
            await writer.query(`UPDATE ledger SET body = 'changed' WHERE id IN (7, 8, 9)`);
            await holder.query('BEGIN');
            await holder.query(`SELECT 1 FROM ledger_partitioned WHERE id = 8 AND tenant = 3 FOR UPDATE`);
            // The swap waits with a lock_timeout: a read too late for its
            // deadlock check meets its next attempt.
            deadlocks = makeDeadlocks(db, holder, `SELECT count(*) FROM ledger`, {
              ifLate: 'ask again',
              maxRounds: 3 * DEADLOCK_ATTEMPTS,
            });
          },
          onEvent: (event) => {
            events.push(event);
            // The swap waits for the writer's lock: its change commits, for the swap's replay.
            swapWait.onEvent(event);
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('interrupted');
      expect(outcome.message).toMatch(
        new RegExp(
          `^Run \\d+ stopped in phase cutover of public\\.ledger: the swap was chosen as a deadlock victim ${DEADLOCK_ATTEMPTS} times in a row; each time its transaction was rolled back whole, so public\\.ledger is still the original table and the changes not yet applied are kept in the log; nothing is lost: resume it with "partwise resume --run \\d+"$`,
        ),
      );
      await deadlocks!.stop();
      expect(deadlocks!.failures).toEqual([]);
      expect(swapWait.committed()).toBe(true);
      // One read let through per deadlock, and one per attempt that gave up
      // waiting (lock_timeout) first, when the read came after the swap's deadlock check.
      expect(deadlocks!.rounds()).toBeGreaterThanOrEqual(DEADLOCK_ATTEMPTS);
      const retried = events.filter(
        (e) => e.type === 'log' && e.message.startsWith('swap chosen as a deadlock victim'),
      );
      expect(retried).toHaveLength(DEADLOCK_ATTEMPTS - 1);
      await holder.query('ROLLBACK');

      // Nothing swapped: the original under its name, still logged; the
      // journal before the swap; the changes in the log, not in the new table.
      expect(await db.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'ledger'::regclass`)).toEqual([
        { kind: 'r' },
      ]);
      expect(await db.query(`SELECT to_regclass('ledger_backup') AS t`)).toEqual([{ t: null }]);
      const [run] = await db.query<{ status: string; phase: string; swapped: boolean; log: string }>(
        `SELECT r.status, t.phase, t.cutover_at IS NOT NULL AS swapped, t.saved->>'changeLog' AS log
           FROM partwise.migration_run r JOIN partwise.migration_target t USING (run_id) WHERE r.run_id = $1`,
        [outcome.runId],
      );
      expect(run).toMatchObject({ status: 'running', phase: 'cutover', swapped: false });
      const pending = await db.query<{ id: number }>(
        `SELECT DISTINCT id::int AS id FROM partwise.${pg.escapeIdentifier(run!.log)} ORDER BY 1`,
      );
      expect(pending.map((r) => r.id)).toEqual([7, 8, 9]);
      expect(await db.query(`SELECT id::int AS id FROM ledger_partitioned WHERE body = 'changed'`)).toEqual([]);
      // Still logged: a write now reaches the new table at the resume.
      await db.query(`UPDATE ledger SET body = 'changed' WHERE id = 10`);

      const resumed = await resume(partwise, outcome.runId);
      expect(resumed.status, resumed.message).toBe('succeeded');
      expect(await db.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'ledger'::regclass`)).toEqual([
        { kind: 'v' },
      ]);
      expect(await db.query(`SELECT id::int AS id FROM ledger WHERE body = 'changed' ORDER BY 1`)).toEqual([
        { id: 7 },
        { id: 8 },
        { id: 9 },
        { id: 10 },
      ]);
      expect(await db.query(`SELECT count(*)::int AS n FROM ledger`)).toEqual([{ n: 300 }]);
    } finally {
      await deadlocks?.stop();
      await writer.end();
      await holder.end();
    }
  }, 180_000);
});
