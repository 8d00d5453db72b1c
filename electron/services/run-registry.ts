// The migrations, rollbacks, finalizations and maintenance jobs this process
// is running, so that they can be cancelled (which rolls back) and, when the
// app quits, interrupted at a point they can be resumed from.
import type { RunOutcome } from '../engine/index.js';

interface ActiveRun {
  connectionId: string;
  runId: number;
  cancel: AbortController;
  interrupt: AbortController;
  done: Promise<unknown>;
}

export class RunRegistry {
  private readonly runs = new Set<ActiveRun>();

  /**
   * Starts `work` in the background and resolves with its run id as soon as
   * the engine has recorded the run (or rejects if it fails before that).
   */
  start(
    connectionId: string,
    work: (signals: {
      signal: AbortSignal;
      interrupt: AbortSignal;
      onRunStarted: (runId: number) => void;
    }) => Promise<RunOutcome>,
  ): Promise<number> {
    const cancel = new AbortController();
    const interrupt = new AbortController();
    return new Promise<number>((resolve, reject) => {
      let entry: ActiveRun | undefined;
      const done = work({
        signal: cancel.signal,
        interrupt: interrupt.signal,
        onRunStarted: (runId) => {
          entry = { connectionId, runId, cancel, interrupt, done };
          this.runs.add(entry);
          resolve(runId);
        },
      })
        .catch((error: unknown) => reject(error))
        .finally(() => {
          if (entry) this.runs.delete(entry);
        });
    });
  }

  isActive(connectionId: string, runId: number): boolean {
    return [...this.runs].some((r) => r.connectionId === connectionId && r.runId === runId);
  }

  /** Cancels a run of this process; false when it is not running here. */
  cancel(connectionId: string, runId: number): boolean {
    const run = [...this.runs].find((r) => r.connectionId === connectionId && r.runId === runId);
    if (!run) return false;
    run.cancel.abort();
    return true;
  }

  /** Interrupts every run and waits (a bounded time) for each to stop where it stands. */
  async interruptAll(timeoutMs = 15_000): Promise<void> {
    const runs = [...this.runs];
    for (const run of runs) run.interrupt.abort();
    await Promise.race([
      Promise.allSettled(runs.map((r) => r.done)),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}
