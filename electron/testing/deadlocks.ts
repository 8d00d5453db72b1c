// Deadlocks made on purpose, round after round, for the tests of a run's
// deadlock retry. `session` (the application) holds a lock that the run's
// statement comes to wait for; once that statement waits (pg_blocking_pids),
// the session asks, inside a savepoint, for a lock the statement holds: a
// cycle. PostgreSQL checks a wait for deadlocks once, deadlock_timeout after
// the wait began, in the waiting backend, and that backend is the victim.
//
// Which of the two checks finds the cycle must not be left to timing, so the
// session never checks: it waits with a deadlock_timeout of an hour
// (connectDeadlockSession), and the run's statement, with the database's, is
// the victim whenever the cycle exists at its check, whichever of the two
// waited first. With the same deadlock_timeout for both, the test failed by
// chance: the session sees the wait within milliseconds and asks at once, so
// the two checks came milliseconds apart and the scheduler picked the victim
// (CI on 13, under the db suite's load: the session the victim 3,002 ms and,
// with 10 s, 10,003 ms after it asked; a trace under load showed the
// applier's statement begun 1 ms before the session saw it wait, and the
// session the victim 2,001 ms after it asked, with 2 s for both).
//
// A session that asks after the statement's check (a look at pg_stat_activity
// later than the run's deadlock_timeout) waits instead: its request carries
// a lock_timeout, past which `ifLate` says what the test's statement does
// about it. A statement that waits with a lock_timeout (the swap) gives up
// and waits again, so the session may ask again; one that waits without (a
// catch-up batch) never checks again, and asking again would wait round
// after round (a hang, not a failure). Then the rounds stop and the session
// lets go of everything, so that the run goes on and the test fails, saying why.
import pg from 'pg';
import type { TestDatabase } from './database.js';

/** The session's deadlock_timeout: it never checks while the run's statement could. */
const SESSION_DEADLOCK_TIMEOUT = '1h';

export interface Deadlocks {
  /** Requests of the session that went through: each after the statement was a victim (or gave up waiting). */
  rounds(): number;
  /** What went wrong in the rounds; a test expects none. */
  failures: string[];
  /** Ends the rounds, once the run is done with them. */
  stop(): Promise<void>;
}

/**
 * The application's session for makeDeadlocks: a connection as the cluster's
 * superuser, since deadlock_timeout is a superuser setting (the run's
 * connections, as the table's owner, keep the database's). The caller ends it.
 */
export async function connectDeadlockSession(db: TestDatabase): Promise<pg.Client> {
  const session = new pg.Client({ connectionString: db.admin.url, application_name: 'deadlock session' });
  session.on('error', () => undefined);
  await session.connect();
  await session.query(`SET deadlock_timeout = '${SESSION_DEADLOCK_TIMEOUT}'`);
  return session;
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
    const [{ setting }] = (
      await session.query<{ setting: string }>(`SELECT current_setting('deadlock_timeout') AS setting`)
    ).rows as [{ setting: string }];
    if (setting !== SESSION_DEADLOCK_TIMEOUT)
      throw new Error(`the session's deadlock_timeout is ${setting}: connect it with connectDeadlockSession`);
    // The run's connections have the database's deadlock_timeout, read on a
    // new connection (the pool's may predate an ALTER DATABASE of the test).
    const fresh = await db.connect();
    const [{ ms }] = (
      await fresh
        .query<{ ms: number }>(`SELECT setting::int AS ms FROM pg_settings WHERE name = 'deadlock_timeout'`)
        .finally(() => fresh.end())
    ).rows as [{ ms: number }];
    // Past the run's check with room to spare: a request still waiting then came too late for it.
    const lateMs = 2 * ms + 5_000;
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
        // SET LOCAL inside the savepoint: rolled back to with it.
        await session.query(`SET LOCAL lock_timeout = ${lateMs}`);
        await session.query(join);
        rounds++;
      } catch (error) {
        if ((error as { code?: string }).code !== '55P03') throw error; // lock_not_available
        if (ifLate === 'let go') {
          failures.push(
            `the test's session joined the cycle after the run's deadlock check (its request waited ${Date.now() - seen} ms after it saw the run wait, the run's deadlock_timeout being ${ms} ms): raise deadlock_timeout for this test`,
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
 * once, the 20,000-leaf test among them) the look was slow.
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
