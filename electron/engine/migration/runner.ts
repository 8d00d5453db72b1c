// Runs migrations phase by phase (the ordered list of phases.ts), recording
// each step in the journal before moving on, so that whatever kills the
// process, the next start knows where each table stands. A failure (or a cancel) before a table's swap rolls that
// table back at once; after the swap, only a failed verification does.
import type pg from 'pg';
import type { MigrationTarget } from '../../../shared/plan.js';
import { BUCKET_COLUMN_DEFAULT, DEFAULT_WORKERS } from '../../../shared/plan.js';
import type { FinishedStatus, Phase } from '../../../shared/progress.js';
import type { RunStatus } from '../../../shared/runs.js';
import { PartwiseError } from '../../db/errors.js';
import { install, requireCurrentSql, DEFAULT_SCHEMA } from '../../install/install.js';
import { Journal, type JournalTarget } from '../journal.js';
import { DEFAULT_LOCK_RETRY } from '../locks.js';
import { isRollingBack } from '../run-rules.js';
import { migrationNames } from '../names.js';
import { Reporter, type EventSink } from '../reporter.js';
import {
  cancelWorkers,
  ResumableStop,
  targetContext,
  throwIfCancelled,
  type MigrationOptions,
  type TargetContext,
} from './context.js';
import { refuseBlocked } from './prepare.js';
import { rollbackTarget } from './rollback.js';
import { finalizeTarget } from './finalize.js';
import { verify } from './verify.js';
import { crashPoint } from './crash-points.js';
import { MIGRATION_STEPS, type HandOver, type StepDetail } from './phases.js';
import { recordAcceptances } from './acceptance.js';
import { refuseSmallPool, refuseUnservableWorkers } from '../connection-budget.js';
import { DEFAULT_CHUNK_BLOCKS } from './copy.js';
import { REGISTRY_SYNC_BATCH } from './unique-registry.js';
import { checkThrottle, throttleSummary } from './throttle.js';
import { connectWithDefaults } from '../session-defaults.js';

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
  status: FinishedStatus | 'interrupted';
  message: string;
  error?: PartwiseError;
}

function resolveOptions(options: EngineOptions): MigrationOptions {
  return {
    installSchema: options.installSchema ?? DEFAULT_SCHEMA,
    workers: Math.max(1, options.workers ?? DEFAULT_WORKERS),
    mode: options.mode ?? 'online',
    lock: { ...DEFAULT_LOCK_RETRY, ...options.lock },
    catchUpThreshold: options.catchUpThreshold ?? 1000,
    registrySyncBatch: Math.max(1, options.registrySyncBatch ?? REGISTRY_SYNC_BATCH),
    chunkBlocks: Math.max(1, options.chunkBlocks ?? DEFAULT_CHUNK_BLOCKS),
    throttle: options.throttle ?? {},
    signal: options.signal,
    interrupt: options.interrupt,
  };
}

class Session {
  readonly journal: Journal;
  readonly options: MigrationOptions;
  reporter!: Reporter;

  readonly beforePhase: EngineOptions['beforePhase'];
  readonly onRunStarted: EngineOptions['onRunStarted'];

  constructor(
    readonly pool: pg.Pool,
    readonly control: pg.PoolClient,
    engineOptions: EngineOptions,
  ) {
    this.beforePhase = engineOptions.beforePhase;
    this.onRunStarted = engineOptions.onRunStarted;
    this.options = resolveOptions(engineOptions);
    this.journal = new Journal(this.options.installSchema);
    this.sink = engineOptions.onEvent ?? (() => undefined);
  }

  readonly sink: EventSink;

  attach(runId: number): void {
    this.reporter = new Reporter(runId, this.sink, { pool: this.pool, schema: this.options.installSchema });
  }

  /**
   * The run is recorded and this process works on it: says so (the app answers
   * its request here), then does the work. Whatever the work throws is reported
   * as the run's end too, so that a watcher is never left waiting.
   */
  async started(runId: number, work: () => Promise<RunOutcome>): Promise<RunOutcome> {
    this.attach(runId);
    this.onRunStarted?.(runId);
    try {
      return await work();
    } catch (caught) {
      const error = PartwiseError.from(caught);
      this.reporter.finished('failed', error.message);
      await this.reporter.flush();
      throw error;
    } finally {
      await this.journal.unlockRun(this.control, runId).catch(() => undefined);
    }
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
  const control = await connectWithDefaults(pool);
  let broken = false;
  // A connection the server ends (a restart, pg_terminate_backend) fails the
  // statement in flight; between statements it would otherwise be an
  // unhandled 'error' event that takes the whole process down.
  const onError = (): void => {
    broken = true;
  };
  control.on('error', onError);
  try {
    await control.query(`SET application_name = 'partwise'`);
    return await work(new Session(pool, control, options));
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    control.off('error', onError);
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
  // Offline, the copy counts on writes waiting for the swap, and nothing takes
  // the lock that would make them wait: refused rather than losing them.
  if (options.mode === 'offline') {
    throw new PartwiseError(
      'invalid_input',
      'Offline migrations are not available: writes made during the copy would not reach the new table. Migrate online (the default).',
    );
  }
  for (const target of targets) {
    if (!Number.isSafeInteger(target.bucketLimit) || target.bucketLimit <= 0) {
      throw new PartwiseError(
        'invalid_input',
        `Bucket limit of ${target.schema}.${target.table} must be a positive integer, got ${target.bucketLimit}`,
      );
    }
    if (target.shareBelow !== undefined && (!Number.isSafeInteger(target.shareBelow) || target.shareBelow <= 0)) {
      throw new PartwiseError(
        'invalid_input',
        `The shared placement threshold of ${target.schema}.${target.table} must be a positive whole number of rows, got ${target.shareBelow}`,
      );
    }
  }
  return withSession(pool, options, async (session) => {
    // Before anything is installed or recorded: settings that cannot work change nothing.
    await checkThrottle(session.control, session.options.throttle);
    await install(session.control, session.options.installSchema);
    // Refused before anything is recorded: a table that cannot be migrated
    // leaves no failed run behind. (Another run of the table is refused by
    // createRun, which tells a running one from an interrupted one.)
    for (const target of targets) {
      await refuseBlocked(session.control, { ...target, bucketColumn: BUCKET_COLUMN_DEFAULT }, session.options, {
        except: ['migration_in_progress'],
      });
    }
    refuseSmallPool(session.pool, session.options.workers);
    await refuseUnservableWorkers(session.control, session.options.workers, session.pool.totalCount);
    const runId = await session.journal.createRun(
      session.control,
      targets.map((t) => ({
        schema: t.schema,
        table: t.table,
        keyColumn: t.keyColumn,
        bucketColumn: BUCKET_COLUMN_DEFAULT,
        bucketLimit: t.bucketLimit,
        uniqueness: t.uniqueness,
        shareBelow: t.shareBelow,
        ...migrationNames(t.table, t.keyColumn),
      })),
      { workers: session.options.workers, mode: session.options.mode },
    );
    await recordAcceptances(session.control, session.options.installSchema, runId, targets);
    if (!(await session.journal.lockRun(session.control, runId))) {
      throw new PartwiseError('conflict', `run ${runId} is held by another process`);
    }
    return session.started(runId, () => execute(session, runId));
  });
}

/** Continues an interrupted run from where its journal says each table stands. */
export async function resume(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    // Before anything is installed or recorded: settings that cannot work change nothing.
    await checkThrottle(session.control, session.options.throttle);
    await install(session.control, session.options.installSchema);
    const run = await lockExisting(session, runId);
    const targets = await session.journal.targets(session.control, runId);
    const refusal =
      run.status !== 'running'
        ? `Run ${runId} ${stateText(run.status)}; only an interrupted run can be resumed`
        : targets.some(isRollingBack)
          ? `Run ${runId} stopped while rolling back; continue the rollback instead: "partwise rollback --run ${runId}"`
          : null;
    if (refusal) {
      await session.journal.unlockRun(session.control, runId);
      throw new PartwiseError('conflict', refusal);
    }
    try {
      refuseSmallPool(session.pool, session.options.workers);
      await refuseUnservableWorkers(session.control, session.options.workers, session.pool.totalCount);
    } catch (error) {
      await session.journal.unlockRun(session.control, runId);
      throw error;
    }
    return session.started(runId, async () => {
      session.reporter.log('info', `resuming run ${runId}`);
      return execute(session, runId);
    });
  });
}

/**
 * Rolls back every table of a run that is not finalized, last first; continues
 * a rollback that stopped part way. A run with nothing left to undo is left as
 * it is, and the outcome says so.
 */
export async function rollback(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    const { journal, control } = session;
    await install(control, session.options.installSchema);
    const run = await lockExisting(session, runId);
    const targets = await journal.targets(control, runId);
    const untouched = targets.every((t) => t.status === 'rolled_back' || t.status === 'pending');
    let answer: RunOutcome | PartwiseError | null = null;
    if (run.status === 'finalized' || targets.some((t) => t.status === 'finalized')) {
      answer = new PartwiseError(
        'conflict',
        `Run ${runId} was finalized: the original tables are gone, so it cannot be rolled back`,
      );
    } else if (run.status === 'rolled_back') {
      answer = { runId, status: 'rolled_back', message: `Run ${runId} was already rolled back; nothing to do` };
    } else if (run.status !== 'running' && untouched) {
      answer = {
        runId,
        status: 'rolled_back',
        message: `Run ${runId} ${stateText(run.status)} and was rolled back then; nothing to do`,
      };
    }
    if (answer) {
      await journal.unlockRun(control, runId);
      if (answer instanceof PartwiseError) throw answer;
      return answer;
    }
    // Running while this process works on it: killed part way, it shows as interrupted (in rollback).
    await journal.setRunStatus(control, runId, 'running');
    return session.started(runId, async () => {
      try {
        for (const target of [...targets].reverse()) {
          await rollbackTarget(session.context(target), control);
        }
      } catch (caught) {
        const error = PartwiseError.from(caught);
        const message = `Run ${runId} could not be rolled back: ${error.message}; "partwise rollback --run ${runId}" continues the rollback once the cause is fixed`;
        await journal.setRunStatus(control, runId, 'failed', message);
        session.reporter.log('error', message);
        session.reporter.finished('failed', message);
        await session.reporter.flush();
        return { runId, status: 'failed', message, error };
      }
      await journal.setRunStatus(control, runId, 'rolled_back');
      const message = `Run ${runId} rolled back: ${targets.map((t) => `${t.schema}.${t.table}`).join(', ')} as before`;
      session.reporter.finished('rolled_back', message);
      await session.reporter.flush();
      return { runId, status: 'rolled_back', message };
    });
  });
}

/** Keeps a succeeded migration for good: drops the backups. */
export async function finalize(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    const { journal, control } = session;
    await install(control, session.options.installSchema);
    const run = await lockExisting(session, runId);
    if (run.status === 'finalized') {
      await journal.unlockRun(control, runId);
      return { runId, status: 'finalized', message: `Run ${runId} was already finalized; nothing to do` };
    }
    if (run.status !== 'succeeded') {
      await journal.unlockRun(control, runId);
      throw new PartwiseError(
        'conflict',
        `Run ${runId} ${stateText(run.status)}; only a succeeded run can be finalized`,
      );
    }
    const targets = await journal.targets(control, runId);
    if (targets.some(isRollingBack)) {
      await journal.unlockRun(control, runId);
      throw new PartwiseError(
        'conflict',
        `Run ${runId} stopped while rolling back; continue the rollback: "partwise rollback --run ${runId}"`,
      );
    }
    return session.started(runId, async () => {
      for (const target of targets) {
        if (target.status === 'done' || target.status === 'finalized')
          await finalizeTarget(session.context(target), control);
      }
      await journal.setRunStatus(control, runId, 'finalized');
      const message = `Run ${runId} finalized: backups dropped`;
      session.reporter.finished('finalized', message);
      await session.reporter.flush();
      return { runId, status: 'finalized', message };
    });
  });
}

/** Verifies again every migrated (not yet finalized) table of a run; changes nothing. */
export async function verifyRun(pool: pg.Pool, runId: number, options: EngineOptions = {}): Promise<RunOutcome> {
  return withSession(pool, options, async (session) => {
    await requireCurrentSql(session.control, session.options.installSchema);
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

/** The run's state in words, after "Run N": a run locked by this process and still "running" was interrupted. */
function stateText(status: RunStatus): string {
  switch (status) {
    case 'running':
    case 'interrupted':
      return 'was interrupted';
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'rolled_back':
      return 'was rolled back';
    case 'cancelled':
      return 'was cancelled';
    case 'finalized':
      return 'was finalized';
  }
}

async function lockExisting(session: Session, runId: number): Promise<{ status: RunStatus }> {
  if (!(await session.journal.run(session.control, runId))) {
    throw new PartwiseError('not_found', `There is no run ${runId}`);
  }
  if (!(await session.journal.lockRun(session.control, runId))) {
    throw new PartwiseError('conflict', `Run ${runId} is being worked on by another process`);
  }
  // Read again under the lock: whoever held it before may have changed it.
  return (await session.journal.run(session.control, runId))!;
}

async function execute(session: Session, runId: number): Promise<RunOutcome> {
  const { journal, control, reporter, options } = session;
  const targets = await journal.targets(control, runId);
  const controlPid = (await control.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const throttled = throttleSummary(options.throttle);
  if (throttled) reporter.log('info', throttled);
  for (const target of targets) {
    if (target.status === 'done' || target.status === 'rolled_back' || target.status === 'finalized') continue;
    const context = session.context(target);
    // A cancel stops what runs on the server now, the control connection's query included.
    let stopping: Promise<void> = Promise.resolve();
    const onAbort = (): void => {
      context.workerPids.add(controlPid);
      stopping = cancelWorkers(context).finally(() => context.workerPids.delete(controlPid));
    };
    const stopListening = (): void => {
      options.signal?.removeEventListener('abort', onAbort);
      options.interrupt?.removeEventListener('abort', onAbort);
    };
    options.signal?.addEventListener('abort', onAbort);
    options.interrupt?.addEventListener('abort', onAbort);
    let failure: PartwiseError | null = null;
    try {
      await journal.updateTarget(control, runId, target.targetNo, { status: 'running', startedAt: 'now' });
      await runTarget(context, control, session.beforePhase);
    } catch (caught) {
      failure = PartwiseError.from(caught);
    } finally {
      stopListening();
    }
    // A cancel request may still be on its way to the server: let it land
    // before this connection (or a pooled one) runs anything else, or it would
    // stop the rollback's statements instead of the work it was sent to.
    await stopping;
    if (failure) return stopped(session, context, control, failure);
  }
  await journal.setRunStatus(control, runId, 'succeeded');
  const message = `Run ${runId} succeeded: ${targets.map((t) => `${t.schema}.${t.table}`).join(', ')} partitioned; the originals are kept as backups until you finalize`;
  reporter.finished('succeeded', message);
  await reporter.flush();
  return { runId, status: 'succeeded', message };
}

/** A table's migration stopped: leave it for resume (interrupt), or roll it back where that is due, and record how the run ended. */
async function stopped(
  session: Session,
  context: TargetContext,
  control: pg.ClientBase,
  error: PartwiseError,
): Promise<RunOutcome> {
  const { journal, reporter, options } = session;
  const { target } = context;
  const runId = target.runId;
  if (options.interrupt?.aborted) {
    // Left as it stands: the journal says where, and resume continues from there.
    const message = `Run ${runId} interrupted in phase ${target.phase} of ${context.label}; resume it with "partwise resume --run ${runId}"`;
    reporter.log('warn', message, context.label);
    await reporter.flush();
    return { runId, status: 'interrupted', message };
  }
  if (error instanceof ResumableStop && !options.signal?.aborted) {
    // Left as an interrupt leaves it, with the reason said.
    const message = `Run ${runId} stopped in phase ${target.phase} of ${context.label}: ${error.message}; nothing is lost: resume it with "partwise resume --run ${runId}"`;
    reporter.log('error', message, context.label);
    await reporter.flush();
    return { runId, status: 'interrupted', message, error };
  }
  // A cancel is the user's choice, not an error: it is said once, in the outcome.
  const cancelled = error.kind === 'cancelled' || options.signal?.aborted === true;
  await journal
    .updateTarget(control, runId, target.targetNo, { status: 'failed', error: cancelled ? null : error.message })
    .catch(() => undefined);
  target.status = 'failed';
  if (!cancelled) reporter.log('error', error.message, context.label);
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
  const message = cancelled
    ? rolledBack
      ? `Run ${runId} cancelled, rolled back: ${context.label} is as it was`
      : `Run ${runId} cancelled; the automatic rollback failed: run "partwise rollback --run ${runId}"`
    : `Run ${runId} failed on ${context.label}: ${error.message}${
        rolledBack
          ? '; rolled back, the table is as it was'
          : rollBack
            ? `; the automatic rollback failed too: run "partwise rollback --run ${runId}"`
            : `; the new table stays in place: "partwise rollback --run ${runId}" returns to the original`
      }`;
  const recordedError = cancelled ? (rolledBack ? null : message) : error.message;
  await journal.setRunStatus(control, runId, status === 'cancelled' ? 'cancelled' : 'failed', recordedError);
  reporter.finished(status === 'cancelled' ? 'cancelled' : 'failed', message);
  await reporter.flush();
  return { runId, status, message, error };
}

async function runTarget(
  context: TargetContext,
  control: pg.ClientBase,
  beforePhase: EngineOptions['beforePhase'],
): Promise<void> {
  const { target, journal, reporter } = context;
  /**
   * Runs one phase as a journal step. `work` may hand over to a next phase
   * mid-way (provision to copy share a snapshot), which then gets its own step.
   * Each step's detail has its figures: `count` of `unit`, and `lockMs`.
   */
  const step = async (
    phase: Phase,
    message: string,
    work: (handOver: HandOver) => Promise<StepDetail | void>,
  ): Promise<void> => {
    await beforePhase?.(phase, context.label);
    throwIfCancelled(context);
    reporter.phase(phase, message, context.label);
    await journal.updateTarget(control, target.runId, target.targetNo, { phase });
    target.phase = phase;
    let stepId = await journal.startStep(control, target.runId, target.targetNo, phase);
    let started = Date.now();
    const handOver = async (next: Phase, detail: Record<string, unknown>, nextMessage: string): Promise<void> => {
      // The control connection is inside the phase's transaction here: the pool records it.
      await journal.finishStep(context.pool, stepId, { ...detail, ms: Date.now() - started });
      reporter.phase(next, nextMessage, context.label);
      await journal.updateTarget(context.pool, target.runId, target.targetNo, { phase: next });
      target.phase = next;
      stepId = await journal.startStep(context.pool, target.runId, target.targetNo, next);
      started = Date.now();
    };
    const detail = (await work(handOver)) ?? {};
    await journal.finishStep(control, stepId, { ...detail, ms: Date.now() - started });
  };

  for (const phase of MIGRATION_STEPS) {
    if (phase.isDone(target)) continue;
    if (phase.crashPoint) await crashPoint(phase.crashPoint);
    if (phase.applies && !phase.applies(target)) continue;
    await step(phase.phase, phase.message(context.label), (handOver) => phase.run(context, control, handOver));
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
