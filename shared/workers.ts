// How many connections a run uses: read by the CLI's help text, which loads
// nothing else of the plan's contract (zod) to print it.

/** Parallel copy workers when none is chosen (the CLI's --workers, the start dialog's "Default"). */
export const DEFAULT_WORKERS = 2;
/** Most parallel workers a run may use, in the app and the CLI alike. */
export const MAX_WORKERS = 16;
/**
 * Connections a run holds besides its workers: the control connection (which
 * keeps the run's advisory lock and each phase's transaction), one for the
 * journal's and the log's writes made while the control connection is inside
 * a transaction, and one to look at who blocks the swap's lock.
 */
export const RUN_EXTRA_CONNECTIONS = 3;

/** How many connections a run with this many workers may open at once: its pool's size, and what the server must have free. */
export function connectionsForRun(workers: number): number {
  return workers + RUN_EXTRA_CONNECTIONS;
}
