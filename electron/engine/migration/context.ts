// What every phase of a migration works with.
import pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident, qualified } from '../../db/sql.js';
import type { Journal, JournalTarget } from '../journal.js';
import type { LockRetryOptions } from '../locks.js';
import type { Reporter } from '../reporter.js';
import type { Throttle as ThrottleSettings } from '../../../shared/throttle.js';
import { Throttle } from './throttle.js';
import { connectWithDefaults } from '../session-defaults.js';

export interface MigrationOptions {
  /** Install schema of Partwise's SQL. */
  installSchema: string;
  /** Parallel connections for provisioning, copying, indexing and verifying. */
  workers: number;
  /** online: writes continue during the copy (change capture); offline: writes wait (SHARE lock) until the swap. */
  mode: 'online' | 'offline';
  lock: LockRetryOptions;
  /**
   * Largest block range one transaction counts or copies (copy.ts): online, it
   * bounds how long any of the copy's snapshots is held.
   */
  chunkBlocks: number;
  /** Limits on how hard the copy and the index builds press on the server (throttle.ts). */
  throttle: ThrottleSettings;
  /** Stop catching up when fewer changes than this remain, and swap. */
  catchUpThreshold: number;
  /** Log entries one transaction of a unique registries' sync applies (unique-registry.ts syncRegistries). */
  registrySyncBatch: number;
  /** Cancel: stop and roll back. */
  signal?: AbortSignal;
  /** Interrupt: stop where the run stands, leaving it to be resumed (the app quitting). */
  interrupt?: AbortSignal;
}

export interface TargetContext {
  pool: pg.Pool;
  journal: Journal;
  reporter: Reporter;
  target: JournalTarget;
  options: MigrationOptions;
  /** `schema.table` as people read it, for messages. */
  label: string;
  /** Quoted, qualified names. */
  sql: {
    source: string;
    partitioned: string;
    backup: string;
    schema: string;
    install: string;
  };
  /** Cancels queries that workers are running on the server. */
  workerPids: Set<number>;
  /** Admits each unit of copy and index work (a chunk, a group of leaves) under the run's limits. */
  throttle: Throttle;
  /** The catch-up of this process paused the application's writes: they outran the appliers. */
  writesOutranCatchUp?: boolean;
  /** When the catch-up handed over to the swap (Date.now()): the swap reports how long it took to get its lock after that. */
  handedOverAt?: number;
}

export function targetContext(base: Omit<TargetContext, 'label' | 'sql' | 'workerPids' | 'throttle'>): TargetContext {
  const t = base.target;
  const label = `${t.schema}.${t.table}`;
  const { signal, interrupt } = base.options;
  return {
    ...base,
    label,
    throttle: new Throttle(base.options.throttle, {
      pool: base.pool,
      signal: AbortSignal.any([signal, interrupt].filter((s): s is AbortSignal => s !== undefined)),
      onPause: (reason) => base.reporter.paused(reason, label),
      heldBy: async () => {
        const held = await base.journal.pausedBy(base.pool, t.runId);
        return held ? `held by ${held.by} since ${held.at}` : null;
      },
    }),
    sql: {
      source: qualified(t.schema, t.table),
      partitioned: qualified(t.schema, t.partitionedTable),
      backup: qualified(t.schema, t.backupTable),
      schema: ident(t.schema),
      install: ident(base.options.installSchema),
    },
    workerPids: new Set(),
  };
}

/** Entries left in one of the run's logs in Partwise's schema (the change log, the registries' log), 0 without one. */
export async function logEntries(
  client: pg.ClientBase | pg.Pool,
  context: TargetContext,
  log: string | undefined,
): Promise<number> {
  if (!log) return 0;
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${context.sql.install}.${ident(log)}`);
  return Number(rows[0]!.n);
}

/**
 * A failure after which the run stops where it stands, as an interrupt
 * leaves it (nothing rolled back, nothing lost), to be resumed once its cause
 * is gone.
 */
export class ResumableStop extends PartwiseError {}

export function throwIfCancelled(context: TargetContext): void {
  if (context.options.interrupt?.aborted)
    throw new PartwiseError('cancelled', 'The run was interrupted; resume it later');
  if (context.options.signal?.aborted) throw new PartwiseError('cancelled', 'The run was cancelled');
}

/**
 * Runs `work` once on each of `count` dedicated connections, at once; the
 * first failure stops the others at their next check. The connections'
 * server processes are registered so that a cancel can stop their queries.
 */
export async function withConnections(
  context: TargetContext,
  count: number,
  work: (client: pg.PoolClient, index: number, failed: () => boolean) => Promise<void>,
): Promise<void> {
  let failure: unknown;
  const run = async (index: number): Promise<void> => {
    const client = await connectWithDefaults(context.pool);
    let broken = false;
    // Ended by the server between statements: discarded, never an unhandled 'error' event.
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    context.workerPids.add(pid);
    try {
      await work(client, index, () => failure !== undefined);
    } catch (error) {
      failure ??= error;
      broken = true;
    } finally {
      context.workerPids.delete(pid);
      client.off('error', onError);
      // A connection that failed mid-transaction is discarded, not reused.
      client.release(broken);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, count) }, (_, i) => run(i)));
  if (failure !== undefined) throw failure;
}

/** Runs `work` on up to `count` dedicated connections pulling from a shared queue. */
export async function withWorkers<T>(
  context: TargetContext,
  items: T[],
  work: (client: pg.PoolClient, item: T) => Promise<void>,
  count = context.options.workers,
): Promise<void> {
  let next = 0;
  await withConnections(context, Math.max(1, Math.min(count, items.length)), async (client, _index, failed) => {
    while (!failed() && next < items.length) {
      throwIfCancelled(context);
      await work(client, items[next++]!);
    }
  });
}

/**
 * Starts a read of the exported snapshot on a worker's connection. SET
 * TRANSACTION SNAPSHOT is a utility statement and takes no parameters: the id
 * (which pg_export_snapshot made) goes in as a quoted literal.
 */
export async function beginInSnapshot(client: pg.ClientBase, snapshot: string, readOnly: boolean): Promise<void> {
  await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`);
  await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(snapshot)}`);
}

/** Cancels what the workers are running right now (used when the run is cancelled). */
export async function cancelWorkers(context: TargetContext): Promise<void> {
  if (context.workerPids.size === 0) return;
  await context.pool
    .query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) pid', [[...context.workerPids]])
    .catch(() => undefined);
}
