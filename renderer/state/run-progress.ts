// Live progress of runs, fed by the `run.event` stream: per run, the phase and
// latest progress of each target table, a bounded log, and how it finished.
// The reducer is pure (events in, state out); the store batches events so a
// burst of them costs one render.
//
// Run ids are numbered per database, so run 3 of one connection and run 3 of
// another are different runs: live runs are keyed by connection and run id.
// Events that name no connection (a backend older than connectionId) are
// keyed by run id alone and shown whichever connection is active.
import { create } from 'zustand';
import { MIGRATION_PHASES, overallProgress, type Phase, type RunEvent } from '../../shared/progress';
import type { LogEntry } from '../lib/log-filter';

export type ProgressEvent = Extract<RunEvent, { type: 'progress' }>;
export type FinishedEvent = Extract<RunEvent, { type: 'finished' }>;

/** Keeps memory and rendering bounded on long runs; older lines are counted, not kept. */
export const LOG_LIMIT = 2000;

/** Events that name no table are about the run as a whole. */
export const RUN_LEVEL = '';

export interface TargetProgress {
  table: string;
  phase: Phase | null;
  phaseMessage: string;
  /** The latest progress of the current phase, if it reported any. */
  progress: ProgressEvent | null;
  /**
   * How far the table's migration is, 0 to 1: phases weighed by the time they
   * take (shared/progress.ts), never moving back while the run is watched.
   */
  overall: number;
  updatedAt: string;
}

export interface RunProgress {
  runId: number;
  /** The connection whose database the run is in; null when the events did not say. */
  connectionId: string | null;
  firstEventAt: string;
  updatedAt: string;
  /** When the latest event arrived here (this clock, ms): newer than a journal read from before it? */
  receivedAt: number;
  targets: Record<string, TargetProgress>;
  /** Target tables in the order they first appeared. */
  targetOrder: string[];
  log: LogEntry[];
  droppedLines: number;
  nextSeq: number;
  finished: { status: FinishedEvent['status']; message: string; at: string } | null;
}

export interface RunProgressState {
  /** By liveRunKey(connectionId, runId). */
  runs: Record<string, RunProgress>;
}

/** The store key of a run: its id alone when the connection is unknown (so `runs[7]` is run 7 of no named connection). */
export function liveRunKey(connectionId: string | null | undefined, runId: number): string {
  return connectionId == null ? String(runId) : `${connectionId}#${runId}`;
}

/** A connection's live run, or one whose events named no connection. */
export function selectLiveRun(state: RunProgressState, connectionId: string, runId: number): RunProgress | undefined {
  return state.runs[liveRunKey(connectionId, runId)] ?? state.runs[liveRunKey(null, runId)];
}

/** Ids of the live runs that may belong to a connection (its own, and those of no named connection). */
export function liveRunIdsOf(state: RunProgressState, connectionId: string): number[] {
  const ids = new Set<number>();
  for (const run of Object.values(state.runs)) {
    if (run.connectionId === connectionId || run.connectionId === null) ids.add(run.runId);
  }
  return [...ids].sort((a, b) => a - b);
}

function emptyRun(runId: number, connectionId: string | null, at: string): RunProgress {
  return {
    runId,
    connectionId,
    firstEventAt: at,
    updatedAt: at,
    receivedAt: 0,
    targets: {},
    targetOrder: [],
    log: [],
    droppedLines: 0,
    nextSeq: 1,
    finished: null,
  };
}

function withTarget(run: RunProgress, table: string, at: string, change: (target: TargetProgress) => TargetProgress) {
  const existing = run.targets[table] ?? {
    table,
    phase: null,
    phaseMessage: '',
    progress: null,
    overall: 0,
    updatedAt: at,
  };
  if (!(table in run.targets)) run.targetOrder = [...run.targetOrder, table];
  run.targets = { ...run.targets, [table]: change(existing) };
}

function appendLog(run: RunProgress, entries: LogEntry[]) {
  const log = run.log.concat(entries);
  const excess = log.length - LOG_LIMIT;
  if (excess > 0) {
    run.log = log.slice(excess);
    run.droppedLines += excess;
  } else {
    run.log = log;
  }
}

/** The overall progress after a phase or progress report: the migration's phases only move it forward. */
function advance(overall: number, phase: Phase, done = 0, total = 0): number {
  const reached = overallProgress(phase, total > 0 ? done / total : 0);
  return reached === null ? overall : Math.max(overall, reached);
}

/** Applies events in order. Runs that receive no event keep their identity (cheap re-renders). */
export function applyRunEvents(
  state: RunProgressState,
  events: readonly RunEvent[],
  receivedAt = Date.now(),
): RunProgressState {
  if (events.length === 0) return state;
  const runs = { ...state.runs };
  const pendingLog = new Map<string, LogEntry[]>();
  const touched = new Set<string>();

  for (const event of events) {
    const key = liveRunKey(event.connectionId, event.runId);
    let run = runs[key];
    if (!touched.has(key)) {
      run = run ? { ...run } : emptyRun(event.runId, event.connectionId ?? null, event.at);
      runs[key] = run;
      touched.add(key);
    }
    run = run!;
    run.updatedAt = event.at;
    run.receivedAt = receivedAt;
    // Resume, rollback and finalize continue a finished run under the same id: it runs again.
    if (run.finished && (event.type === 'phase' || event.type === 'progress')) run.finished = null;
    const table = event.table ?? RUN_LEVEL;
    const lines = pendingLog.get(key) ?? [];
    pendingLog.set(key, lines);
    const line = (level: LogEntry['level'], message: string) => {
      lines.push({ seq: run.nextSeq++, at: event.at, level, message, ...(event.table ? { table: event.table } : {}) });
    };

    switch (event.type) {
      case 'phase':
        withTarget(run, table, event.at, (target) => ({
          ...target,
          phase: event.phase,
          phaseMessage: event.message,
          progress: target.progress && target.progress.phase === event.phase ? target.progress : null,
          overall: advance(target.overall, event.phase),
          updatedAt: event.at,
        }));
        line('info', event.message);
        break;
      case 'progress':
        withTarget(run, table, event.at, (target) => ({
          ...target,
          phase: event.phase,
          phaseMessage: target.phase === event.phase ? target.phaseMessage : '',
          progress: event,
          overall: advance(target.overall, event.phase, event.done, event.total),
          updatedAt: event.at,
        }));
        break;
      case 'log':
        line(event.level, event.message);
        break;
      case 'finished':
        run.finished = { status: event.status, message: event.message, at: event.at };
        // Only a failure is an error; a cancel or a rollback is what the user asked for.
        line(event.status === 'failed' ? 'error' : 'info', event.message);
        break;
    }
  }

  for (const [key, lines] of pendingLog) if (lines.length > 0) appendLog(runs[key]!, lines);
  return { runs };
}

/** The phases of a migration, in order, for the stepper. */
export { MIGRATION_PHASES };

export const phaseLabel: Record<Phase, string> = {
  prepare: 'Prepare',
  provision: 'Provision',
  copy: 'Copy',
  indexes: 'Indexes',
  catch_up: 'Catch up',
  cutover: 'Cut over',
  verify: 'Verify',
  done: 'Done',
  rollback: 'Roll back',
  finalize: 'Finalize',
  maintain: 'Maintenance',
};

interface RunProgressStore extends RunProgressState {
  ingest(events: readonly RunEvent[]): void;
  forget(runId: number, connectionId?: string | null): void;
}

export const useRunProgress = create<RunProgressStore>((set) => ({
  runs: {},
  ingest: (events) => set((state) => applyRunEvents(state, events)),
  forget: (runId, connectionId = null) =>
    set((state) => {
      const runs = { ...state.runs };
      delete runs[liveRunKey(connectionId, runId)];
      return { runs };
    }),
}));
