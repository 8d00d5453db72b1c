// Taking strong locks without stalling the application: a short lock_timeout,
// so that a request queued behind a long transaction gives up quickly instead
// of blocking every other session queued behind it, then a retry after a
// jittered, growing pause.
import type pg from 'pg';
import { PartwiseError } from '../db/errors.js';

export interface LockRetryOptions {
  lockTimeoutMs: number;
  attempts: number;
  signal?: AbortSignal;
  onRetry?: (attempt: number, error: unknown) => void;
}

export const DEFAULT_LOCK_RETRY: LockRetryOptions = { lockTimeoutMs: 1000, attempts: 30 };

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new PartwiseError('cancelled', 'Cancelled'));
      },
      { once: true },
    );
  });
}

/**
 * Runs `work` in a transaction whose lock requests time out after
 * lockTimeoutMs; on a lock timeout the transaction is rolled back and retried.
 */
export async function inLockingTransaction<T>(
  client: pg.ClientBase,
  options: LockRetryOptions,
  work: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    await client.query('BEGIN');
    try {
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${options.lockTimeoutMs}ms`]);
      const result = await work();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (code !== '55P03' || attempt >= options.attempts) {
        if (code === '55P03') {
          throw new PartwiseError(
            'lock_timeout',
            `Could not get the lock within ${options.lockTimeoutMs} ms in ${attempt} attempts: a long-running transaction holds a conflicting lock`,
            { hint: 'Find it in pg_stat_activity (state, xact_start) and let it finish, then resume.', cause: error },
          );
        }
        throw error;
      }
      options.onRetry?.(attempt, error);
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 6), 3000) * (0.5 + Math.random()), options.signal);
    }
  }
}
