// Deadlocks made on purpose, round after round, for the tests of a run's
// deadlock retry. `session` (the application) holds a lock that the run's
// statement comes to wait for; once that statement waits (pg_blocking_pids),
// the session asks, inside a savepoint, for a lock the statement holds: a
// cycle. PostgreSQL's deadlock check runs once per wait, deadlock_timeout
// after the wait began, in the waiting backend, and that backend is the
// victim. So the run's statement, which waited first, is the victim as long
// as the session asks before that check; the session's request then goes
// through, it rolls back to its savepoint (keeping what it held), and the
// statement's next attempt meets the same cycle.
//
// A session that asks too late (the statement's one check already found no
// cycle) is the victim itself, when its own check runs. `ifLate` says what
// the test's statement does about it: a statement that waits with a
// lock_timeout (the swap) gives up and waits again, so the session may ask
// again; one that waits without (a catch-up batch) never checks again, and the
// session asking again would be the victim round after round, forever (a
// hang, not a failure). Then the rounds stop and the session lets go of
// everything, so that the run goes on and the test fails, saying why.
import type pg from 'pg';
import type { TestDatabase } from './database.js';

export interface Deadlocks {
  /** Requests of the session that went through: each after the statement was a victim (or gave up waiting). */
  rounds(): number;
  /** What went wrong in the rounds; a test expects none. */
  failures: string[];
  /** Ends the rounds, once the run is done with them. */
  stop(): Promise<void>;
}

export function makeDeadlocks(
  db: TestDatabase,
  session: pg.ClientBase,
  join: string,
  { ifLate, maxRounds }: { ifLate: 'ask again' | 'let go'; maxRounds: number },
): Deadlocks {
  const sessionPid = (session as unknown as { processID: number }).processID;
  let running = true;
  let rounds = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      // Asked on a connection of its own: inside the session's transaction
      // pg_stat_activity keeps the backends of its first look, and misses a
      // connection the run opens later (a hang under load, when the pool had
      // closed its idle connections and opened new ones).
      const waiting = await waitingFor(db, sessionPid);
      if (waiting.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      // More requests through than the run can have been a victim: what
      // waits for the session is not (only) the statement under test. Said,
      // with who waits, rather than let it wait forever.
      if (rounds >= maxRounds) {
        failures.push(`more than ${maxRounds} rounds; waiting for the session: ${JSON.stringify(waiting)}`);
        running = false;
        await session.query('ROLLBACK');
        return;
      }
      const seen = Date.now();
      await session.query('SAVEPOINT round');
      try {
        await session.query(join);
        rounds++;
      } catch (error) {
        if ((error as { code?: string }).code !== '40P01') throw error;
        if (ifLate === 'let go') {
          failures.push(
            `the test's session joined the cycle after the run's deadlock check (it was the victim ${Date.now() - seen} ms after it saw the run wait): raise deadlock_timeout for this test`,
          );
          running = false;
          await session.query('ROLLBACK');
          return;
        }
      }
      await session.query('ROLLBACK TO SAVEPOINT round');
    }
  })().catch((error: Error) => {
    failures.push(error.message);
  });
  return {
    rounds: () => rounds,
    failures,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/**
 * The backends of this database that wait for a lock `pid` holds. Only those
 * waiting for a lock are asked pg_blocking_pids: each call takes every
 * partition of the lock manager's shared state, and asked of every backend
 * of the cluster (about a hundred while the db suite runs three files at
 * once, the 20,000-leaf test among them) the look was slow enough that the
 * session joined the cycle after the run's deadlock check, with
 * deadlock_timeout at 3 s (CI on 13: the session the victim 3,008 ms after
 * it saw the run wait).
 */
async function waitingFor(db: TestDatabase, pid: number): Promise<{ pid: number; query: string }[]> {
  return db.query<{ pid: number; query: string }>(
    `WITH waiting AS MATERIALIZED (
       SELECT pid, left(query, 200) AS query FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock')
     SELECT pid, query FROM waiting WHERE $1 = ANY (pg_blocking_pids(pid))`,
    [pid],
  );
}
