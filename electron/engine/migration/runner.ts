// Runs migrations phase by phase, recording each step in the journal before
// moving on, so that whatever kills the process, the next start knows where
// each table stands. A failure (or a cancel) before a table's swap rolls that
// table back at once; after the swap, only a failed verification does.
import type pg from 'pg';
import type { MigrationTarget } from '../../../shared/plan.js';
import { BUCKET_COLUMN_DEFAULT } from '../../../shared/plan.js';
import { MIGRATION_PHASES, type Phase } from '../../../shared/progress.js';
import { PartwiseError } from '../../db/errors.js';
import { install, DEFAULT_SCHEMA } from '../../infra/install.js';
import { Journal, type JournalTarget } from '../journal.js';
import { DEFAULT_LOCK_RETRY } from '../locks.js';
import { migrationNames } from '../names.js';
import { Reporter, type EventSink } from '../reporter.js';
import {
  cancelWorkers,
  targetContext,
  throwIfCancelled,
  type MigrationOptions,
  type TargetContext,
} from './context.js';
import { prepare } from './prepare.js';
import { provisionAndCopy } from './copy.js';
import { buildIndexes } from './indexes.js';
import { catchUp } from './catch-up.js';
import { cutover } from './cutover.js';
import { verify } from './verify.js';
import { rollbackTarget } from './rollback.js';
import { finalizeTarget } from './finalize.js';
import { crashPoint } from './crash-points.js';

export interface EngineOptions extends Partial<Omit<MigrationOptions, 'lock'>> {
  lock?: Partial<MigrationOptions['lock']>;
  onEvent?: EventSink;
  /** Called with the run id as soon as the run is recorded (before any work). */
  onRunStarted?: (runId: number) => void;
  /** Awaited before each phase of each table starts: a place to act at phase boundaries. */
  beforePhase?: (phase: Phase, table: string) => Promise<void>;
}

export interface RunOutcome {
  runId: number;
  status: 'succeeded' | 'failed' | 'rolled_back' | 'cancelled' | 'interrupted';
  message: string;
  error?: PartwiseError;
}

function resolveOptions(options: EngineOptions): MigrationOptions {
  return {
    installSchema: options.installSchema ?? DEFAULT_SCHEMA,
    workers: Math.max(1, options.workers ?? 2),
    mode: options.mode ?? 'online',
    lock: { ...DEFAULT_LOCK_RETRY, ...options.lock },
    catchUpThreshold: options.catchUpThreshold ?? 1000,
    signal: options.signal,
    interrupt: options.interrupt,
  };
}

function reached(target: JournalTarget, phase: Phase): boolean {
  return MIGRATION_PHASES.indexOf(target.phase) > MIGRATION_PHASES.indexOf(phase);
}

class Session {
  readonly journal: Journal;
  readonly options: MigrationOptions;
  reporter!: Reporter;

  readonly beforePhase: EngineOptions['beforePhase'];

  constructor(
    readonly pool: pg.Pool,
    readonly control: pg.PoolClient,
    engineOptions: EngineOptions,
  ) {
    this.beforePhase = engineOptions.beforePhase;
    this.options = resolveOptions(engineOptions);
    this.journal = new Journal(this.options.installSchema);
    this.sink = engineOptions.onEvent ?? (() => undefined);
  }

  readonly sink: EventSink;

  attach(runId: number): void {
    this.reporter = new Reporter(runId, this.sink, { pool: this.pool, schema: this.options.installSchema });
  }

  context(target: JournalTarget): TargetContext {
    return targetContext({
      pool: this.pool,
      journal: this.journal,
      reporter: this.reporter,
      target,
      options: this.options,
    });
  }
}

async function withSession<T>(
  pool: pg.Pool,
  options: EngineOptions,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const control = await pool.connect();
  let broken = false;
  try {
    await control.query(`SET application_name = 'partwise'`);
    return await work(new Session(pool, control, options));
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    control.release(broken);
  }
}

/** Starts a migration of one or more tables, one after another. */
export async function migrate(
  pool: pg.Pool,
  targets: MigrationTarget[],
  options: EngineOptions = {},
): Promise<RunOutcome> {
  if (targets.length === 0) throw new PartwiseError('invalid_input', 'No table to migrate');
  for (const target of targets) {
    if (!Number.isSafeInteger(target.bucketLimit) || target.bucketLimit <= 0) {
      throw new PartwiseError(
        'invalid_input',
        `Bucket limit of ${target.schema}.${target.table} must be a positive integer, got ${target.bucketLimit}`,
      );
    }
  }
  return withSession(pool, options, async (session) => {
    await install(session.control, session.options.installSchema);
    const runId = await session.journal.createRun(
      session.control,
      targets.map((t) => ({
        schema: t.schema,
        table: t.table,
        keyColumn: t.keyColumn,
        bucketColumn: BUCKET_COLUMN_DEFAULT,
        bucketLimit: t.bucketLimit,
        ...migrationNames(t.table, t.keyColumn),
      })),
      { workers: session.options.workers, mode: session.options.mode },
    );
    if (!(await session.journal.lockRun(session.control, runId))) {
      throw new PartwiseError('conflict', `run ${runId} is held by another process`);
    }
    session.attach(runId);
    options.onRunStarted?.(runId);
    try {
      return await execute(session, runId);
    } finally {
      await session.journal.unlockRun(session.control, runId).catch(() => undefined);
    }
  });
}

/** Continues an interrupted run from where its journal says each table stands. */
export async function resume(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    await install(session.control, session.options.installSchema);
    const run = await lockExisting(session, runId);
    if (run.status !== 'running') {
      await session.journal.unlockRun(session.control, runId);
      throw new PartwiseError('conflict', `Run ${runId} is ${run.status}; only an interrupted run can be resumed`);
    }
    session.attach(runId);
    options.onRunStarted?.(runId);
    try {
      session.reporter.log('info', `resuming run ${runId}`);
      return await execute(session, runId);
    } finally {
      await session.journal.unlockRun(session.control, runId).catch(() => undefined);
    }
  });
}

/** Rolls back every table of a run that is not finalized, last first. */
export async function rollback(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    const run = await lockExisting(session, runId);
    if (run.status === 'rolled_back') {
      await session.journal.unlockRun(session.control, runId);
      return { runId, status: 'rolled_back' as const, message: `Run ${runId} was already rolled back` };
    }
    session.attach(runId);
    options.onRunStarted?.(runId);
    try {
      const targets = await session.journal.targets(session.control, runId);
      if (targets.some((t) => t.status === 'finalized')) {
        throw new PartwiseError(
          'conflict',
          `Run ${runId} was finalized: the original tables are gone, so it cannot be rolled back`,
        );
      }
      for (const target of [...targets].reverse()) {
        await rollbackTarget(session.context(target), session.control);
      }
      await session.journal.setRunStatus(session.control, runId, 'rolled_back');
      const message = `Run ${runId} rolled back: ${targets.map((t) => `${t.schema}.${t.table}`).join(', ')} as before`;
      session.reporter.finished('rolled_back', message);
      await session.reporter.flush();
      return { runId, status: 'rolled_back' as const, message };
    } finally {
      await session.journal.unlockRun(session.control, runId).catch(() => undefined);
    }
  });
}

/** Keeps a succeeded migration for good: drops the backups. */
export async function finalize(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    const run = await lockExisting(session, runId);
    session.attach(runId);
    try {
      if (run.status !== 'succeeded' && run.status !== 'finalized') {
        throw new PartwiseError('conflict', `Run ${runId} is ${run.status}; only a succeeded run can be finalized`);
      }
      const targets = await session.journal.targets(session.control, runId);
      for (const target of targets) {
        if (target.status === 'done' || target.status === 'finalized')
          await finalizeTarget(session.context(target), session.control);
      }
      await session.journal.setRunStatus(session.control, runId, 'finalized');
      const message = `Run ${runId} finalized: backups dropped`;
      session.reporter.finished('succeeded', message);
      await session.reporter.flush();
      return { runId, status: 'succeeded' as const, message };
    } finally {
      await session.journal.unlockRun(session.control, runId).catch(() => undefined);
    }
  });
}

/** Verifies again every migrated (not yet finalized) table of a run; changes nothing. */
export async function verifyRun(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    const run = await session.journal.run(session.control, runId);
    if (!run) throw new PartwiseError('not_found', `There is no run ${runId}`);
    session.attach(runId);
    const targets = (await session.journal.targets(session.control, runId)).filter((t) => t.status === 'done');
    if (targets.length === 0) {
      throw new PartwiseError(
        'conflict',
        `Run ${runId} has no migrated table to verify (finalized tables have no original left to compare with)`,
      );
    }
    try {
      for (const target of targets) await verify(session.context(target), session.control);
      const message = `Run ${runId} verified: ${targets.map((t) => `${t.schema}.${t.table}`).join(', ')} match their originals`;
      session.reporter.finished('succeeded', message);
      await session.reporter.flush();
      return { runId, status: 'succeeded' as const, message };
    } catch (caught) {
      const error = PartwiseError.from(caught);
      session.reporter.finished('failed', error.message);
      await session.reporter.flush();
      return { runId, status: 'failed' as const, message: error.message, error };
    }
  });
}

async function lockExisting(session: Session, runId: number): Promise<{ status: string }> {
  const run = await session.journal.run(session.control, runId);
  if (!run) throw new PartwiseError('not_found', `There is no run ${runId}`);
  if (!(await session.journal.lockRun(session.control, runId))) {
    throw new PartwiseError('conflict', `Run ${runId} is being worked on by another process`);
  }
  return run;
}

async function execute(session: Session, runId: number): Promise<RunOutcome> {
  const { journal, control, reporter, options } = session;
  const targets = await journal.targets(control, runId);
  const controlPid = (await control.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  for (const target of targets) {
    if (target.status === 'done' || target.status === 'rolled_back' || target.status === 'finalized') continue;
    const context = session.context(target);
    // A cancel stops what runs on the server now, the control connection's query included.
    const onAbort = (): void => {
      context.workerPids.add(controlPid);
      void cancelWorkers(context).finally(() => context.workerPids.delete(controlPid));
    };
    options.signal?.addEventListener('abort', onAbort);
    options.interrupt?.addEventListener('abort', onAbort);
    try {
      await journal.updateTarget(control, runId, target.targetNo, { status: 'running', startedAt: 'now' });
      await runTarget(context, control, session.beforePhase);
    } catch (caught) {
      const error = PartwiseError.from(caught);
      if (options.interrupt?.aborted) {
        // Left as it stands: the journal says where, and resume continues from there.
        const message = `Run ${runId} interrupted in phase ${target.phase} of ${context.label}; resume it with "partwise resume --run ${runId}"`;
        reporter.log('warn', message, context.label);
        await reporter.flush();
        return { runId, status: 'interrupted', message };
      }
      const cancelled = error.kind === 'cancelled' || options.signal?.aborted === true;
      await journal
        .updateTarget(control, runId, target.targetNo, { status: 'failed', error: error.message })
        .catch(() => undefined);
      target.status = 'failed';
      reporter.log('error', error.message, context.label);
      const rollBack = cancelled || !target.cutoverAt || error.kind === 'verification_failed';
      let status: RunOutcome['status'] = cancelled ? 'cancelled' : 'failed';
      let rolledBack = false;
      if (rollBack) {
        try {
          await rollbackTarget(session.context({ ...target, status: 'failed' }), control);
          rolledBack = true;
        } catch (rollbackError) {
          const wrapped = PartwiseError.from(rollbackError);
          reporter.log(
            'error',
            `automatic rollback failed: ${wrapped.message}; run "partwise rollback --run ${runId}" after fixing the cause`,
            context.label,
          );
          status = 'failed';
        }
      }
      await journal.setRunStatus(control, runId, status === 'cancelled' ? 'cancelled' : 'failed', error.message);
      const outcome = rolledBack
        ? '; rolled back, the table is as it was'
        : rollBack
          ? `; the automatic rollback failed too: run "partwise rollback --run ${runId}"`
          : `; the new table stays in place: "partwise rollback --run ${runId}" returns to the original`;
      const message = cancelled
        ? `Run ${runId} cancelled${outcome}`
        : `Run ${runId} failed on ${context.label}: ${error.message}${outcome}`;
      reporter.finished(status, message);
      await reporter.flush();
      return { runId, status, message, error };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      options.interrupt?.removeEventListener('abort', onAbort);
    }
  }
  await journal.setRunStatus(control, runId, 'succeeded');
  const message = `Run ${runId} succeeded: ${targets.map((t) => `${t.schema}.${t.table}`).join(', ')} partitioned; the originals are kept as backups until you finalize`;
  reporter.finished('succeeded', message);
  await reporter.flush();
  return { runId, status: 'succeeded', message };
}

async function runTarget(
  context: TargetContext,
  control: pg.ClientBase,
  beforePhase: EngineOptions['beforePhase'],
): Promise<void> {
  const { target, journal, reporter } = context;
  const step = async (
    phase: Phase,
    message: string,
    work: () => Promise<Record<string, unknown> | void>,
  ): Promise<void> => {
    await beforePhase?.(phase, context.label);
    throwIfCancelled(context);
    reporter.phase(phase, message, context.label);
    await journal.updateTarget(control, target.runId, target.targetNo, { phase });
    target.phase = phase;
    const stepId = await journal.startStep(control, target.runId, target.targetNo, phase);
    const started = Date.now();
    const detail = (await work()) ?? {};
    await journal.finishStep(control, stepId, { ...detail, ms: Date.now() - started });
  };

  if (!reached(target, 'prepare')) await step('prepare', `preparing ${context.label}`, () => prepare(context, control));
  if (!reached(target, 'copy'))
    await step('provision', `creating partitions for ${context.label}`, () => provisionAndCopy(context, control));
  if (!reached(target, 'indexes')) await crashPoint('indexes:before');
  if (!reached(target, 'indexes'))
    await step('indexes', `building indexes of ${context.label}`, () => buildIndexes(context, control));
  if (!target.cutoverAt) await crashPoint('catch_up:before');
  if (!target.cutoverAt && target.saved.changeLog) {
    await step('catch_up', `applying changes made during the copy`, () => catchUp(context, control));
  }
  if (!target.cutoverAt) await step('cutover', `swapping ${context.label}`, () => cutover(context, control));
  if (!reached(target, 'verify')) {
    await crashPoint('verify:before');
    await step('verify', `verifying ${context.label}`, async () => ({ ...(await verify(context, control)) }));
  }
  await journal.updateTarget(control, target.runId, target.targetNo, {
    phase: 'done',
    status: 'done',
    finishedAt: 'now',
  });
  target.phase = 'done';
  target.status = 'done';
  reporter.phase('done', `${context.label} is partitioned`, context.label);
}
