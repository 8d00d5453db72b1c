// Starting and steering migration runs from the app. Runs go on in the
// background; their progress reaches the renderer as `run.event` events.
import { PartwiseError } from '../db/errors.js';
import { finalize, Journal, migrate, resume, rollback, type EngineOptions } from '../engine/index.js';
import type { HandlerGroup, ServiceContext } from './context.js';
import { RunRegistry } from './run-registry.js';

type RunCommands = 'runs.start' | 'runs.cancel' | 'runs.list' | 'runs.resume' | 'runs.rollback' | 'runs.finalize';

export function runHandlers(context: ServiceContext): HandlerGroup<RunCommands> {
  const registry = new RunRegistry();
  // Quitting leaves running migrations where they stand, resumable; it never rolls them back.
  context.onShutdown('interrupt migration runs', () => registry.interruptAll());

  const options = (
    connectionId: string,
    signals: { signal: AbortSignal; interrupt: AbortSignal; onRunStarted: (runId: number) => void },
    workers?: number,
  ): EngineOptions => ({
    installSchema: context.installSchema,
    workers: workers ?? 2,
    signal: signals.signal,
    interrupt: signals.interrupt,
    onRunStarted: signals.onRunStarted,
    onEvent: (event) => context.emit('run.event', { ...event, connectionId }),
  });

  return {
    'runs.start': async ({ connectionId, targets, workers }) => {
      const pool = await context.pools.pool(connectionId);
      const runId = await registry.start(connectionId, (signals) =>
        migrate(pool, targets, options(connectionId, signals, workers)),
      );
      return { runId };
    },
    'runs.cancel': async ({ connectionId, runId }) => {
      if (!registry.cancel(connectionId, runId)) {
        throw new PartwiseError(
          'not_found',
          `Run ${runId} is not running in this app; an interrupted run can be rolled back instead`,
        );
      }
      return {};
    },
    'runs.list': async ({ connectionId }) => {
      const pool = await context.pools.pool(connectionId);
      const { rows } = await pool.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
        `${context.installSchema}.migration_run`,
      ]);
      return rows[0]!.ok ? new Journal(context.installSchema).listRuns(pool) : [];
    },
    'runs.resume': async ({ connectionId, runId }) => {
      const pool = await context.pools.pool(connectionId);
      await registry.start(connectionId, (signals) => resume(pool, runId, options(connectionId, signals)));
      return { runId };
    },
    'runs.rollback': async ({ connectionId, runId }) => {
      if (registry.isActive(connectionId, runId)) {
        throw new PartwiseError('conflict', `Run ${runId} is running: cancel it (which rolls it back) instead`);
      }
      const pool = await context.pools.pool(connectionId);
      await registry.start(connectionId, (signals) => rollback(pool, runId, options(connectionId, signals)));
      return { runId };
    },
    'runs.finalize': async ({ connectionId, runId }) => {
      const pool = await context.pools.pool(connectionId);
      await registry.start(connectionId, (signals) => finalize(pool, runId, options(connectionId, signals)));
      return { runId };
    },
  };
}
