// A writer's change left to the swap's own replay: its transaction is open
// as the swap starts (so nothing of it is applied before the swap's lock),
// and it commits once the swap reports that it waits for its lock, behind
// that writer. Its log entries then commit just before the lock is granted.
import type pg from 'pg';
import type { RunEvent } from '../../shared/progress.js';

export interface CommitOnSwapWait {
  /** To be called with each of the run's events. */
  onEvent(event: RunEvent): void;
  /** Whether the writer was told to commit (the swap waited for it). */
  committed(): boolean;
}

export function commitOnSwapWait(writer: pg.ClientBase): CommitOnSwapWait {
  let commit: Promise<unknown> | null = null;
  return {
    onEvent(event) {
      if (event.type === 'log' && event.message.startsWith('swap waiting for the lock') && !commit)
        commit = writer.query('COMMIT');
    },
    committed: () => commit !== null,
  };
}
