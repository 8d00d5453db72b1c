// The migrations, rollbacks and finalizations this process is running, so
// that a migration can be cancelled (which rolls it back) and, when the app
// quits, every run interrupted at a point it can be resumed from (the run
// handlers register interruptAll as a shutdown step of the service context).
import type { RunOutcome } from '../engine/index.js';
import type { RunActionResult } from '../../shared/runs.js';

/** What the process does with a run: a migration (start or resume) can be cancelled; a rollback or finalize cannot. */
export type RunWork = 'migrate' | 'rollback' | 'finalize';

interface ActiveRun {
  connectionId: string;
  runId: number;
  work: RunWork;
  cancel: AbortController;
  interrupt: AbortController;
  done: Promise<unknown>;
}

export interface RunSignals {
  signal: AbortSignal;
  interrupt: AbortSignal;
  onRunStarted: (runId: number) => void;
}

export class RunRegistry {
  private readonly runs = new Set<ActiveRun>();

  /**
   * Starts `work` in the background and answers as soon as the engine has
   * recorded the run, or, if the work settles before that (nothing to do, or
   * refused), with its outcome or its error. Never waits for a signal the work
   * might not send: every request gets an answer.
   */
  start(
    connectionId: string,
    kind: RunWork,
    work: (signals: RunSignals) => Promise<RunOutcome>,
  ): Promise<RunActionResult> {
    const cancel = new AbortController();
    const interrupt = new AbortController();
    return new Promise<RunActionResult>((resolve, reject) => {
      let entry: ActiveRun | undefined;
      const done: Promise<unknown> = work({
        signal: cancel.signal,
        interrupt: interrupt.signal,
        onRunStarted: (runId) => {
          entry = { connectionId, runId, work: kind, cancel, interrupt, done };
          this.runs.add(entry);
          resolve({ runId });
        },
      })
        .then(
          // Settling after the answer changes nothing (a promise settles once): events tell the rest.
          ({ runId, status, message }) => resolve({ runId, outcome: { status, message } }),
          (error: unknown) => reject(error),
        )
        .finally(() => {
          if (entry) this.runs.delete(entry);
        });
    });
  }

  /** What this process is doing with the run, if anything. */
  active(connectionId: string, runId: number): RunWork | null {
    return this.find(connectionId, runId)?.work ?? null;
  }

  /** Cancels a migration of this process; false when it is not running here. */
  cancel(connectionId: string, runId: number): boolean {
    const run = this.find(connectionId, runId);
    if (!run || run.work !== 'migrate') return false;
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

  private find(connectionId: string, runId: number): ActiveRun | undefined {
    return [...this.runs].find((r) => r.connectionId === connectionId && r.runId === runId);
  }
}
