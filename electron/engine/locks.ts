// Taking strong locks without stalling the application: a short lock_timeout,
// so that a request queued behind a long transaction gives up quickly instead
// of blocking every other session queued behind it, then a retry after a
// jittered, growing pause. While a request waits, the sessions in its way are
// named (pg_blocking_pids, pg_stat_activity), so that a DBA knows whom to ask.
import type pg from 'pg';
import type { LockBlocker } from '../../shared/progress.js';
import { PartwiseError } from '../db/errors.js';

export interface LockRetryOptions {
  lockTimeoutMs: number;
  attempts: number;
  signal?: AbortSignal;
  /** After an attempt gave up, with the sessions last seen in the way. */
  onRetry?: (attempt: number, error: unknown, wait: LockWait) => void;
  /**
   * Looks, from another connection of this pool, at who blocks each attempt
   * while it waits; onBlocked hears of every new set of blockers.
   */
  watch?: { pool: pg.Pool; onBlocked: (wait: LockWait) => void };
}

/** One attempt's wait, as seen so far. */
export interface LockWait {
  attempt: number;
  attempts: number;
  /** The lock_timeout in force (see lockTimeoutFor) and the server's deadlock_timeout. */
  lockTimeoutMs: number;
  deadlockTimeoutMs: number;
  /** The relation waited for, when the request waits for one. */
  relation: string | null;
  blockers: LockBlocker[];
}

export const DEFAULT_LOCK_RETRY: LockRetryOptions = { lockTimeoutMs: 1000, attempts: 30 };

/*
 * lock_timeout against autovacuum. A lock request that an autovacuum worker
 * blocks gets the worker cancelled by PostgreSQL's deadlock check, which runs
 * once the request has waited deadlock_timeout (1 s by default; only a
 * superuser may change it, so it is read from the server, never set). A
 * lock_timeout at or below it gives up first, every time, and the autovacuum
 * is waited out attempt after attempt. So each attempt waits deadlock_timeout
 * plus a margin for the cancelled worker to release its lock (it stops at its
 * next interrupt check, within milliseconds). The application's sessions that
 * queue behind the request wait that long too, so the raise is capped: with a
 * deadlock_timeout beyond the cap, an autovacuum in the way is named but not
 * cancelled in time. An explicitly longer lock_timeout is kept.
 * (An autovacuum "to prevent wraparound" is never cancelled.)
 */
export const AUTOVACUUM_CANCEL_MARGIN_MS = 500;
export const MAX_RAISED_LOCK_TIMEOUT_MS = 5000;

export function lockTimeoutFor(requestedMs: number, deadlockTimeoutMs: number): number {
  return Math.max(requestedMs, Math.min(deadlockTimeoutMs + AUTOVACUUM_CANCEL_MARGIN_MS, MAX_RAISED_LOCK_TIMEOUT_MS));
}

/** The first look at a waiting request comes well before deadlock_timeout, while an autovacuum still holds on. */
const FIRST_LOOK_MS = 200;
const LOOK_EVERY_MS = 1000;

/**
 * A pause between attempts that a cancel cuts short. The abort listener goes
 * when the pause ends: a run's signal outlives thousands of pauses.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new PartwiseError('cancelled', 'Cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Deadlocks in a row one piece of work may meet before it gives up (see retryOnDeadlock). */
export const DEADLOCK_ATTEMPTS = 6;

/**
 * The pause before taking work again after its `deadlocks`-th deadlock in a
 * row (100 ms, doubling, jittered so that two victims do not meet again at
 * once), or null once DEADLOCK_ATTEMPTS were met: about 6 s of pauses, beside
 * the deadlock_timeout each deadlock took to be found.
 */
export function deadlockPauseMs(deadlocks: number, random: () => number = Math.random): number | null {
  if (deadlocks >= DEADLOCK_ATTEMPTS) return null;
  return 100 * 2 ** (deadlocks - 1) * (0.75 + random() / 2);
}

export interface DeadlockRetry {
  signal?: AbortSignal;
  /** False when this failure must not be retried even if it is a deadlock (the work went past its commit). */
  retryable?: () => boolean;
  /** Told before each pause. */
  onRetry: (deadlocks: number, pauseMs: number) => void;
  /** The error to throw once DEADLOCK_ATTEMPTS deadlocks in a row were met. */
  giveUp: (deadlocks: number, error: unknown) => Error;
}

/**
 * Runs `work` (one transaction, or one statement) again when PostgreSQL chose
 * it as a deadlock victim: its transaction was rolled back whole, so taking it
 * again is safe. Other sessions' locks (the application's, an autovacuum's,
 * the run's own other connections') make such cycles possible in every phase
 * that runs beside them; each time after a growing pause, then the caller's
 * giveUp, rather than retry forever.
 */
export async function retryOnDeadlock<T>(work: () => Promise<T>, retry: DeadlockRetry): Promise<T> {
  for (let deadlocks = 0; ;) {
    try {
      return await work();
    } catch (error) {
      if (PartwiseError.from(error).sqlstate !== '40P01' || retry.retryable?.() === false) throw error;
      const pause = deadlockPauseMs(++deadlocks);
      if (pause === null) throw retry.giveUp(deadlocks, error);
      retry.onRetry(deadlocks, pause);
      await sleep(pause, retry.signal);
    }
  }
}

/** Read once per connection: maintenance takes a locking transaction per key. */
const deadlockTimeouts = new WeakMap<pg.ClientBase, number>();

export async function deadlockTimeoutMs(client: pg.ClientBase): Promise<number> {
  const known = deadlockTimeouts.get(client);
  if (known !== undefined) return known;
  const { rows } = await client.query<{ ms: number }>(
    `SELECT setting::int AS ms FROM pg_settings WHERE name = 'deadlock_timeout'`,
  );
  const ms = rows[0]?.ms ?? 1000;
  deadlockTimeouts.set(client, ms);
  return ms;
}

/** The sessions that keep `pid` waiting for a lock, and the relation it waits for. */
export async function lockBlockers(
  db: Pick<pg.Pool, 'query'>,
  pid: number,
): Promise<{ relation: string | null; blockers: LockBlocker[] }> {
  const { rows } = await db.query<{
    relation: string | null;
    pid: number;
    usename: string | null;
    application_name: string | null;
    state: string | null;
    query_start: Date | null;
    xact_start: Date | null;
    query: string | null;
    backend_type: string | null;
    has_user: boolean;
    vacuuming: boolean;
    modes: string | null;
  }>(
    `WITH waiting AS (
       SELECT locktype, database, relation FROM pg_locks WHERE pid = $1 AND NOT granted LIMIT 1)
     SELECT (SELECT relation::regclass::text FROM waiting) AS relation,
            a.pid, a.usename, a.application_name, a.state, a.query_start, a.xact_start, a.query, a.backend_type,
            a.usesysid IS NOT NULL AS has_user,
            -- Visible without privileges, unlike backend_type and query.
            EXISTS (SELECT 1 FROM pg_stat_progress_vacuum v WHERE v.pid = a.pid) AS vacuuming,
            (SELECT string_agg(DISTINCT l.mode, ', ') FROM pg_locks l JOIN waiting w
                 ON l.locktype = w.locktype AND l.database IS NOT DISTINCT FROM w.database
                AND l.relation IS NOT DISTINCT FROM w.relation
              WHERE l.pid = a.pid AND l.granted) AS modes
       FROM unnest(pg_blocking_pids($1)) AS b(pid)
       JOIN pg_stat_activity a ON a.pid = b.pid
      ORDER BY a.pid`,
    [pid],
  );
  const visible = (text: string | null): string | null =>
    text === null || text === '<insufficient privilege>' ? null : text;
  return {
    relation: rows[0]?.relation ?? null,
    blockers: rows.map((r) => {
      const query = visible(r.query);
      const autovacuum =
        r.backend_type === 'autovacuum worker' ||
        (r.backend_type === null && !r.has_user && r.vacuuming) ||
        (query?.startsWith('autovacuum:') ?? false);
      return {
        pid: r.pid,
        user: r.usename,
        applicationName: r.application_name || null,
        state: r.state,
        queryStart: r.query_start?.toISOString() ?? null,
        transactionStart: r.xact_start?.toISOString() ?? null,
        query: query === null ? null : query.replace(/\s+/g, ' ').trim().slice(0, 300),
        autovacuum,
        wraparound: autovacuum && (query?.includes('(to prevent wraparound)') ?? false),
        modes: r.modes,
        detailsHidden: r.query === '<insufficient privilege>',
      };
    }),
  };
}

function clock(iso: string | null): string {
  return iso ? iso.slice(11, 19) : '?';
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** One blocker in a sentence: who, doing what since when, and what PostgreSQL will do about it. */
export function describeBlocker(
  blocker: LockBlocker,
  wait?: Pick<LockWait, 'lockTimeoutMs' | 'deadlockTimeoutMs'>,
): string {
  const holds = blocker.modes ? `, holding ${blocker.modes}` : ', queued ahead';
  if (blocker.autovacuum) {
    const what = blocker.query ? ` (${blocker.query.replace(/^autovacuum:\s*/, '')})` : '';
    const fate = blocker.wraparound
      ? 'PostgreSQL never cancels one that prevents wraparound: it must finish'
      : wait && wait.deadlockTimeoutMs + AUTOVACUUM_CANCEL_MARGIN_MS > wait.lockTimeoutMs
        ? `PostgreSQL cancels it only after deadlock_timeout (${seconds(wait.deadlockTimeoutMs)}), longer than each attempt waits (${seconds(wait.lockTimeoutMs)})`
        : `PostgreSQL cancels it once the request has waited deadlock_timeout${wait ? ` (${seconds(wait.deadlockTimeoutMs)})` : ''}`;
    return `pid ${blocker.pid}: autovacuum${what}${holds}; ${fate}`;
  }
  const app = blocker.applicationName ? `application "${blocker.applicationName}"` : 'no application name';
  const who = `${app}${blocker.user ? `, role ${blocker.user}` : ''}`;
  if (blocker.detailsHidden) {
    return `pid ${blocker.pid} (${who})${holds}; what it runs is visible only to superusers, its own role and members of pg_read_all_stats`;
  }
  const doing = blocker.state ? `, ${blocker.state}` : '';
  const since =
    blocker.state === 'idle in transaction' || blocker.state === 'idle in transaction (aborted)'
      ? ` since ${clock(blocker.transactionStart)}, last query`
      : ', query';
  const query = blocker.query ? `${since} started ${clock(blocker.queryStart)}: ${blocker.query}` : '';
  return `pid ${blocker.pid} (${who}${doing}${query})${holds}`;
}

export function describeBlockers(wait: LockWait): string {
  return wait.blockers.map((b) => describeBlocker(b, wait)).join('; ');
}

/** Looks at one attempt's wait until stopped; never fails the attempt. */
class WaitWatcher {
  private stopped = false;
  private wake: () => void = () => undefined;
  private readonly done: Promise<void>;
  private seen = '';
  last: LockWait;

  constructor(
    private readonly watch: NonNullable<LockRetryOptions['watch']>,
    private readonly pid: number,
    base: LockWait,
  ) {
    this.last = base;
    this.done = this.run();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    await this.pause(FIRST_LOOK_MS);
    while (!this.stopped) {
      try {
        const found = await lockBlockers(this.watch.pool, this.pid);
        if (this.stopped) break;
        if (found.blockers.length > 0) {
          this.last = { ...this.last, ...found };
          const key = found.blockers.map((b) => `${b.pid}:${b.modes ?? ''}`).join(',');
          if (key !== this.seen) {
            this.seen = key;
            this.watch.onBlocked(this.last);
          }
        }
      } catch {
        // Only a look: a failure to look (a full pool, a closing one) changes nothing.
      }
      await this.pause(LOOK_EVERY_MS);
    }
  }

  async stop(): Promise<LockWait> {
    this.stopped = true;
    this.wake();
    await this.done;
    return this.last;
  }
}

/**
 * Runs `work` in a transaction whose lock requests time out after
 * lockTimeoutFor(lockTimeoutMs, deadlock_timeout); on a lock timeout the
 * transaction is rolled back and retried.
 */
export async function inLockingTransaction<T>(
  client: pg.ClientBase,
  options: LockRetryOptions,
  work: () => Promise<T>,
): Promise<T> {
  const deadlockMs = await deadlockTimeoutMs(client);
  const lockTimeoutMs = lockTimeoutFor(options.lockTimeoutMs, deadlockMs);
  const pid = options.watch
    ? (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    : null;
  let lastWait: LockWait | null = null;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    const base: LockWait = {
      attempt,
      attempts: options.attempts,
      lockTimeoutMs,
      deadlockTimeoutMs: deadlockMs,
      relation: null,
      blockers: [],
    };
    await client.query('BEGIN');
    const watcher = options.watch && pid !== null ? new WaitWatcher(options.watch, pid, base) : null;
    try {
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
      const result = await work();
      await watcher?.stop();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      const wait = (await watcher?.stop()) ?? base;
      if (wait.blockers.length > 0) lastWait = wait;
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (code !== '55P03' || attempt >= options.attempts) {
        if (code === '55P03') {
          const blockers = lastWait?.blockers ?? [];
          const on = lastWait?.relation ? ` on ${lastWait.relation}` : '';
          throw new PartwiseError(
            'lock_timeout',
            blockers.length > 0
              ? `Could not get the lock${on} within ${seconds(lockTimeoutMs)} in ${attempt} attempts; in the way: ${describeBlockers(lastWait!)}`
              : `Could not get the lock${on} within ${seconds(lockTimeoutMs)} in ${attempt} attempts: another session held a conflicting lock`,
            {
              hint:
                blockers.length > 0
                  ? `Let ${blockers.length === 1 ? 'it' : 'them'} finish, or end ${blockers.length === 1 ? 'it' : 'them'} (SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[${blockers.map((b) => b.pid).join(', ')}]) AS pid;), then resume.`
                  : 'Look for long transactions in pg_stat_activity (state, xact_start), then resume.',
              cause: error,
            },
          );
        }
        throw error;
      }
      options.onRetry?.(attempt, error, wait);
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 6), 3000) * (0.5 + Math.random()), options.signal);
    }
  }
}
