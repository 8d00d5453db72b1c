// Starting and steering migration runs from the app. Runs go on in the
// background; their progress reaches the renderer as `run.event` events. Every
// command answers: once the run is recorded, or with how it ended when it
// ended first (nothing to do), or with an error that says why not.
import type pg from 'pg';
import { PartwiseError } from '../db/errors.js';
import { relationExists } from '../db/sql.js';
import {
  finalize,
  Journal,
  migrate,
  pauseRun,
  resume,
  rollback,
  type EngineOptions,
  type RunOutcome,
} from '../engine/index.js';
import { DEFAULT_WORKERS } from '../../shared/plan.js';
import type { HandlerGroup, ServiceContext } from './context.js';
import { RunRegistry, type RunSignals, type RunWork } from './run-registry.js';

type RunCommands =
  | 'runs.start'
  | 'runs.cancel'
  | 'runs.pause'
  | 'runs.continue'
  | 'runs.list'
  | 'runs.resume'
  | 'runs.rollback'
  | 'runs.finalize';

const DOING: Record<RunWork, string> = {
  migrate: 'is running in this app',
  rollback: 'is being rolled back in this app',
  finalize: 'is being finalized in this app',
};

export function runHandlers(context: ServiceContext): HandlerGroup<RunCommands> {
  const registry = new RunRegistry();
  // Quitting leaves running migrations where they stand, resumable; it never rolls them back.
  context.onShutdown('interrupt migration runs', () => registry.interruptAll());

  const options = (
    connectionId: string,
    signals: RunSignals,
    { workers, throttle }: Pick<EngineOptions, 'workers' | 'throttle'> = {},
  ): EngineOptions => ({
    installSchema: context.installSchema,
    workers,
    throttle,
    signal: signals.signal,
    interrupt: signals.interrupt,
    onRunStarted: signals.onRunStarted,
    onEvent: (event) => context.emit('run.event', { ...event, connectionId }),
  });

  const journalPresent = (pool: pg.Pool): Promise<boolean> =>
    relationExists(pool, context.installSchema, 'migration_run');

  /** Refuses work on a run this app is already at work on, or that does not exist. */
  const refuseUnknownOrBusy = async (connectionId: string, runId: number, doing: string): Promise<void> => {
    const active = registry.active(connectionId, runId);
    if (active) {
      throw new PartwiseError('conflict', `Run ${runId} ${DOING[active]}; wait for it to end before you ${doing} it`);
    }
    if (!(await journalPresent(await context.pools.pool(connectionId))))
      throw new PartwiseError('not_found', `There is no run ${runId} in this database`);
  };

  /**
   * Starts engine work on a pool of its own (see PoolRegistry), ended when the
   * work has ended, however it ends.
   */
  const startOnRunPool = async (
    connectionId: string,
    kind: RunWork,
    workers: number | undefined,
    work: (pool: pg.Pool, signals: RunSignals) => Promise<RunOutcome>,
  ) => {
    const run = await context.pools.runPool(connectionId, workers ?? DEFAULT_WORKERS);
    return registry.start(connectionId, kind, (signals) => work(run.pool, signals).finally(() => run.end()));
  };

  /** Why a run that this app is not migrating cannot be cancelled. */
  const notCancellable = async (connectionId: string, runId: number): Promise<PartwiseError> => {
    const active = registry.active(connectionId, runId);
    if (active) {
      return new PartwiseError('conflict', `Run ${runId} ${DOING[active]}; that cannot be cancelled`);
    }
    const pool = await context.pools.pool(connectionId);
    const journal = new Journal(context.installSchema);
    const run = (await journalPresent(pool)) ? await journal.run(pool, runId) : null;
    if (!run) return new PartwiseError('not_found', `There is no run ${runId} in this database`);
    if (run.status === 'running') {
      return (await journal.isRunActive(pool, runId))
        ? new PartwiseError(
            'conflict',
            `Run ${runId} is running in another process (another app window or a partwise command); cancel it there`,
          )
        : new PartwiseError(
            'conflict',
            `Run ${runId} is not running: it was interrupted; resume it or roll it back instead`,
          );
    }
    return new PartwiseError(
      'conflict',
      `Run ${runId} has already ended (${run.status.replace('_', ' ')}); there is nothing to cancel`,
    );
  };

  return {
    'runs.start': async ({ connectionId, targets, workers, throttle }) =>
      startOnRunPool(connectionId, 'migrate', workers, (pool, signals) =>
        migrate(pool, targets, options(connectionId, signals, { workers, throttle })),
      ),
    'runs.cancel': async ({ connectionId, runId }) => {
      if (!registry.cancel(connectionId, runId)) throw await notCancellable(connectionId, runId);
      return {};
    },
    'runs.pause': async ({ connectionId, runId }) => {
      await pauseRun(await context.pools.pool(connectionId), runId, true, { installSchema: context.installSchema });
      return {};
    },
    'runs.continue': async ({ connectionId, runId }) => {
      await pauseRun(await context.pools.pool(connectionId), runId, false, { installSchema: context.installSchema });
      return {};
    },
    'runs.list': async ({ connectionId }) => {
      const pool = await context.pools.pool(connectionId);
      return (await journalPresent(pool)) ? new Journal(context.installSchema).listRuns(pool) : [];
    },
    'runs.resume': async ({ connectionId, runId, throttle }) => {
      await refuseUnknownOrBusy(connectionId, runId, 'resume');
      return startOnRunPool(connectionId, 'migrate', undefined, (pool, signals) =>
        resume(pool, runId, options(connectionId, signals, { throttle })),
      );
    },
    'runs.rollback': async ({ connectionId, runId }) => {
      if (registry.active(connectionId, runId) === 'migrate') {
        throw new PartwiseError('conflict', `Run ${runId} is running: cancel it (which rolls it back) instead`);
      }
      await refuseUnknownOrBusy(connectionId, runId, 'roll back');
      return startOnRunPool(connectionId, 'rollback', undefined, (pool, signals) =>
        rollback(pool, runId, options(connectionId, signals)),
      );
    },
    'runs.finalize': async ({ connectionId, runId }) => {
      await refuseUnknownOrBusy(connectionId, runId, 'finalize');
      return startOnRunPool(connectionId, 'finalize', undefined, (pool, signals) =>
        finalize(pool, runId, options(connectionId, signals)),
      );
    },
  };
}
